import fs from 'node:fs';
import path from 'node:path';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import SQLite from 'better-sqlite3';
import type Pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, PostgresDriver, SqliteDialect, sql, type DatabaseConnection, type Driver, type PostgresDialectConfig, type Transaction, type TransactionSettings } from 'kysely';
import { POSTGRES_CAPS, SQLITE_CAPS, type Caps } from './caps.js';
import type { Schema } from './schema.js';
import { UUID_PATTERN } from '../core/clock.js';
import { CHECKPOINT_VALVE_FRAMES, type Checkpoints } from './checkpointer.js';
import { ROWS_AS_ARRAYS } from './query.js';

export type Tx = Transaction<Schema>;

/**
 * The named paths that may see every account (PostgreSQL marks their transactions `app.system`).
 * Anything else runs through `forAccount`, and a query that forgot its account sees nothing.
 */
export type SystemPath =
  | 'sign-in lookup by email'
  | 'job claim'
  | 'outbox claim'
  | 'expiry sweep'
  | 'discovery by MAID domain'
  | 'check-in resolution by certificate'
  | 'enrolment link lookup'
  | 'SCEP challenge'
  | 'installation CA'
  | 'operator command';

export interface Database {
  readonly caps: Caps;
  /** Runs fn in one transaction that sees only this account's rows; commits when fn resolves. */
  forAccount<T>(accountId: string, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Runs fn in one transaction that sees every account. Only for the paths named in SystemPath. */
  system<T>(path: SystemPath, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** The raw Kysely handle, for migrations and tests of isolation itself. */
  readonly kysely: Kysely<Schema>;
  /**
   * Brings the query planner's statistics up to date after a large change (an import): SQLite's
   * `PRAGMA optimize`; nothing on PostgreSQL, whose autovacuum analyses tables itself.
   */
  optimize(): Promise<void>;
  close(): Promise<void>;
}

/** Name of the PostgreSQL role Pippin works as: it owns nothing and cannot bypass row-level security. */
export const APP_ROLE = 'pippin_app';

/**
 * A write found a row otherwise than the transaction's decision had read it: changed or deleted
 * since, or a key it meant to take taken. Like a lost race, it rolls the transaction back, and the
 * transaction runs again from its reads. (A signal between the database layer and its callers,
 * never shown to a client: past the last try it ends as any other database failure.)
 */
export class RowChanged extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RowChanged';
  }
}

/**
 * A transaction lost to other writers over the same rows: PostgreSQL's deadlock and serialization
 * failures, and a RowChanged. Running it again usually succeeds; past the last try the work meets a
 * conflict (WRITE_CONFLICT), not a database failure.
 */
export function isConflict(e: unknown): boolean {
  if (e instanceof RowChanged) return true;
  const code = (e as { code?: string }).code;
  return code === '40P01' || code === '40001';
}

/**
 * Errors after which a whole transaction may simply run again: a conflict (`isConflict`), and
 * SQLite's busy and busy-snapshot (another connection — the job worker or another request —
 * committed between this transaction's read and its write, or held the write lock too long).
 */
export function isRetryable(e: unknown): boolean {
  if (isConflict(e)) return true;
  const err = e as { code?: string; message?: string };
  return /^SQLITE_BUSY/.test(err.code ?? '') || /database is locked/.test(err.message ?? '');
}

/**
 * Errors that say the database could not be reached or dropped the work, not that the work was
 * wrong: connection refused, reset or ended (PostgreSQL classes 08 and 57P, too many connections),
 * SQLite I/O errors, and every race `isRetryable` names. Running the same work later may succeed.
 */
export function isTransient(e: unknown): boolean {
  if (isRetryable(e)) return true;
  const err = e as { code?: string; message?: string };
  const code = err.code ?? '';
  return (
    /^(08|57P0|53300)/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(code) ||
    /^SQLITE_(IOERR|LOCKED|CANTOPEN|PROTOCOL)/.test(code) ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(err.message ?? '')
  );
}

/** When to run work again, how many more times, and how long to wait first (doubling each time, plus up to `jitterMs`). */
export interface RetryPolicy {
  when: (e: unknown) => boolean;
  retries: number;
  firstWaitMs: number;
  jitterMs?: number;
}

/** A transaction that lost a race: again after 5 ms, doubling, 8 tries in all. */
export const RACE_RETRY: RetryPolicy = { when: isRetryable, retries: 7, firstWaitMs: 5, jitterMs: 5 };

/**
 * Runs work, and runs it again while it fails in a way the policy names; past the last retry the
 * error is thrown. By default: a transaction that lost a race, which rolled it back whole.
 * Transaction bodies only touch the database, so a rerun is safe.
 */
export async function withRetry<T>(run: () => Promise<T>, policy: RetryPolicy = RACE_RETRY): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      if (attempt >= policy.retries || !policy.when(e)) throw e;
      await new Promise((r) => setTimeout(r, policy.firstWaitMs * 2 ** attempt + Math.random() * (policy.jitterMs ?? 0)));
    }
  }
}

export function sqliteFile(dataDir: string): string {
  return path.join(dataDir, 'pippin.sqlite');
}

const STATEMENT_CACHE = 256;

/**
 * The text of a request that runs one statement once for each of many rows, on SQLite: its
 * parameters are the statement's text and the rows (each an array of that statement's values).
 * It answers with one row, `{ changes }`: how many rows each run changed, in order. (Kysely runs
 * one statement a request; through this, a batch's ten thousand rows are one request.)
 */
export const EACH_ROW = '-- pippin: each row';

/** What an EACH_ROW request answers. */
export interface EachRowResult {
  changes: number[];
}

/**
 * Keeps the most recently used prepared statements by their SQL text: Kysely prepares on every
 * execution, and preparing costs as much as running for the short statements a batch repeats.
 * A statement still being iterated (a streamed read) is never handed out twice. A statement whose
 * text starts with ROWS_AS_ARRAYS answers its rows as arrays (query.ts, `packedRow`).
 *
 * Also answers EACH_ROW requests: SQLite runs a prepared one-row INSERT ten thousand times in about
 * two thirds of the time it takes over the same rows as multi-row VALUES lists (bench/NOTES.md).
 * When a run fails, the runs before it are in the transaction, so the transaction then takes
 * nothing but a rollback, as PostgreSQL's does after any failed statement: the rows are written
 * together or not at all. (A savepoint around the runs would let the transaction go on, but holds
 * a statement journal of every page the runs change: ~5 MB more at an import's peak.)
 */
function withStatementCache(db: SQLite.Database) {
  const cache = new Map<string, SQLite.Statement>();
  /** A run of an EACH_ROW request failed in the transaction still open. */
  let broken = false;
  const prepare = (text: string) => {
    if (broken) {
      if (!db.inTransaction) broken = false;
      else if (text !== 'rollback') throw new Error('A write of many rows failed earlier in this transaction, which can now only be rolled back');
    }
    const hit = cache.get(text);
    if (hit && !hit.busy) {
      cache.delete(text);
      cache.set(text, hit);
      return hit;
    }
    const stmt = db.prepare(text);
    if (text.startsWith(ROWS_AS_ARRAYS)) stmt.raw(true);
    if (!hit) {
      cache.set(text, stmt);
      if (cache.size > STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
    }
    return stmt;
  };
  const runEach = (stmt: SQLite.Statement, rows: readonly unknown[][]) => {
    const changes = new Array<number>(rows.length);
    for (let i = 0; i < rows.length; i++) changes[i] = stmt.run(rows[i]).changes;
    return changes;
  };
  // Outside a transaction the runs make one of their own.
  const runEachAlone = db.transaction(runEach);
  const eachRow = {
    reader: true,
    all([text, rows]: [string, readonly unknown[][]]): EachRowResult[] {
      const stmt = prepare(text);
      if (!db.inTransaction) return [{ changes: runEachAlone(stmt, rows) }];
      try {
        return [{ changes: runEach(stmt, rows) }];
      } catch (e) {
        broken = true;
        throw e;
      }
    },
  };
  return {
    close: () => db.close(),
    prepare: (text: string) => (text === EACH_ROW ? (eachRow as unknown as SQLite.Statement) : prepare(text)),
  };
}

/**
 * Opens the SQLite file. `cacheMb` is this connection's page cache: the job worker, which writes a
 * million index entries, keeps a large one; the server, whose reads are index ranges of a page or
 * two, a small one (the operating system's file cache is behind both). `checkpoints: 'aside'`
 * when the server's checkpointer thread copies the WAL back (checkpointer.ts).
 */
export function openSqlite(file: string, opts: { cacheMb?: number; checkpoints?: Checkpoints } = {}): Database {
  const cacheKb = Math.round((opts.cacheMb ?? 64) * 1024);
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const kysely = new Kysely<Schema>({
    dialect: new SqliteDialect({
      database: async () => {
        const db = new SQLite(file);
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        db.pragma('busy_timeout = 5000');
        db.pragma(`cache_size = -${cacheKb}`);
        db.pragma('temp_store = memory');
        // Checkpoint the WAL every ~32 MB rather than 4 MB: hot index pages are copied back far less
        // often. With checkpoints aside (a thread of their own, checkpointer.ts), only as a valve.
        db.pragma(`wal_autocheckpoint = ${opts.checkpoints === 'aside' ? CHECKPOINT_VALVE_FRAMES : 8000}`);
        // The planner's statistics, sampled (ANALYZE reads at most ~1,000 rows an index), refreshed
        // on open for tables that changed much since. Without them SQLite takes "account_id = ?"
        // to pick out a few rows, and reads a page of 50 users by id through a whole account's index.
        db.pragma('analysis_limit = 1000');
        db.pragma('optimize = 0x10002');
        return withStatementCache(db);
      },
    }),
  });
  const run = <T>(fn: (tx: Tx) => Promise<T>) => withRetry(() => kysely.transaction().execute(fn));
  return {
    caps: SQLITE_CAPS,
    kysely,
    forAccount: (_accountId, fn) => run(fn),
    system: (_path, fn) => run(fn),
    optimize: () => withRetry(async () => void (await sql`pragma optimize`.execute(kysely))),
    close: () => kysely.destroy(),
  };
}

const TIMESTAMPTZ_OID = 1184;
const TIMESTAMP_OID = 1114;
const INT8_OID = 20;

let pgDriver: typeof Pg | undefined;
/** The PostgreSQL driver, loaded when a pool is first made: an installation on SQLite never holds it (~10 MB). */
function pgModule(): typeof Pg {
  return (pgDriver ??= createRequire(import.meta.url)('pg') as typeof Pg);
}

/** A pg pool whose instants come back as ISO strings and counts as numbers, like SQLite's. */
export function pgPool(connectionString: string, max = 10): Pg.Pool {
  const pg = pgModule();
  return new pg.Pool({
    connectionString,
    max,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (oid === TIMESTAMPTZ_OID || oid === TIMESTAMP_OID) return (v: string) => new Date(v).toISOString();
        if (oid === INT8_OID) return (v: string) => Number(v);
        return pg.types.getTypeParser(oid, format as 'text');
      }) as typeof pg.types.getTypeParser,
    },
  });
}

/**
 * The statement a PostgreSQL transaction opens with (the setting that scopes it to an account, or
 * marks it system), while its BEGIN is being sent: see OpeningPostgresDriver.
 */
const opening = new AsyncLocalStorage<string>();

/**
 * Sends a transaction's BEGIN and its opening statement as one message, so every transaction takes
 * one round trip less (a list request through an API token runs two: the token's and the list's).
 * The opening statement is text without parameters, so it holds only a UUID checked as one, or a
 * constant.
 */
class OpeningPostgresDriver extends PostgresDriver {
  override async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const first = opening.getStore();
    if (!first || settings.isolationLevel || settings.accessMode) return super.beginTransaction(conn, settings);
    await conn.executeQuery(CompiledQuery.raw(`begin; ${first}`));
  }
}

class OpeningPostgresDialect extends PostgresDialect {
  constructor(private readonly settings: PostgresDialectConfig) {
    super(settings);
  }
  override createDriver(): Driver {
    return new OpeningPostgresDriver(this.settings);
  }
}

/** A transaction that opens with `first` (sent with its BEGIN); `fn` runs with no opening statement pending. */
const openingWith = <T>(kysely: Kysely<Schema>, first: string, fn: (tx: Tx) => Promise<T>) =>
  opening.run(first, () => kysely.transaction().execute((tx) => opening.exit(() => fn(tx))));

/**
 * Opens PostgreSQL as the application role: every connection runs `SET ROLE pippin_app`, and every
 * transaction names its account (or marks itself system) with transaction-local settings, so a
 * pooled connection never carries the previous transaction's account.
 */
export function openPostgres(connectionString: string, opts: { poolSize?: number } = {}): Database {
  const pool = pgPool(connectionString, opts.poolSize ?? 10);
  const kysely = new Kysely<Schema>({
    dialect: new OpeningPostgresDialect({
      pool,
      onCreateConnection: async (conn) => {
        await conn.executeQuery(CompiledQuery.raw(`SET ROLE ${APP_ROLE}`));
      },
    }),
  });
  return {
    caps: POSTGRES_CAPS,
    kysely,
    forAccount: (accountId, fn) =>
      withRetry(() =>
        UUID_PATTERN.test(accountId)
          ? openingWith(kysely, `select set_config('app.account_id', '${accountId}', true)`, fn)
          : kysely.transaction().execute(async (tx) => {
              await sql`select set_config('app.account_id', ${accountId}, true)`.execute(tx);
              return fn(tx);
            }),
      ),
    system: (_path, fn) => withRetry(() => openingWith(kysely, `select set_config('app.system', 'on', true)`, fn)),
    optimize: async () => {},
    close: () => kysely.destroy(),
  };
}
