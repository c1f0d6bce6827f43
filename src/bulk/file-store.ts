import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { AppError } from '../errors.js';
import type { Database } from '../db/database.js';

/** An upload written to local disk while it was counted and hashed. */
export interface Spooled {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

/**
 * Writes an upload to a temporary file while counting and hashing it. Past `maxBytes` it stops
 * reading, deletes what it wrote and throws FILE_TOO_LARGE stating the limit.
 */
export async function spool(source: Readable, name: string, dir: string, maxBytes: number): Promise<Spooled> {
  await fs.promises.mkdir(dir, { recursive: true });
  const file = path.join(dir, `upload-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new AppError('FILE_TOO_LARGE', `The file is larger than the limit of ${maxBytes.toLocaleString('en')} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, count, fs.createWriteStream(file));
  } catch (e) {
    await fs.promises.rm(file, { force: true });
    if ((e as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
      throw new AppError('FILE_TOO_LARGE', `The file is larger than the limit of ${maxBytes.toLocaleString('en')} bytes`);
    }
    throw e;
  }
  return { path: file, name, size, sha256: hash.digest('hex') };
}

/** Where uploaded files are kept so that any node can (re)read them to run or resume a job. */
export interface FileStore {
  /** Keeps a spooled upload for the account and returns its id; the spool file is consumed. */
  put(accountId: string, fileId: string, spooled: Spooled, at: string): Promise<void>;
  /** A local path to read the file from (for database storage, this node's copy, fetched from the chunks when it has none). */
  localPath(accountId: string, fileId: string): Promise<string>;
  /**
   * Drops a file's bytes once its job has ended (the chunks, the file on disk, this node's copy);
   * its `files` row, with its name, size and hash, stays with the job.
   */
  discard(accountId: string, fileId: string): Promise<void>;
  /**
   * Deletes this node's copies of database-stored files older than `maxAgeMs`. A copy is only a
   * cache (the job reads the chunks again when it has none), so this is always safe; it clears the
   * copies of jobs another node ran, which that node could not drop.
   */
  sweepCache(maxAgeMs: number, now: Date): Promise<number>;
}

/** How long this node keeps its copy of a database-stored upload at most (see FileStore.sweepCache). */
export const CACHE_MAX_AGE_MS = 24 * 3600_000;

const CHUNK = 1 << 20;

/**
 * The file store: files under the data directory when embedded (SQLite), or in the database in
 * 1 MiB chunks (PostgreSQL, where every node must read them). The `files` row is written either way.
 */
export function createFileStore(db: Database, dataDir: string, storage: 'disk' | 'database'): FileStore {
  const dir = path.join(dataDir, 'files');
  const cache = path.join(dataDir, 'cache');
  return {
    async put(accountId, fileId, spooled, at) {
      await db.forAccount(accountId, (tx) =>
        tx.insertInto('files').values({ id: fileId, account_id: accountId, name: spooled.name, size: spooled.size, sha256: spooled.sha256, storage, created_at: at }).execute(),
      );
      if (storage === 'disk') {
        await fs.promises.mkdir(dir, { recursive: true });
        await fs.promises.rename(spooled.path, path.join(dir, fileId));
        return;
      }
      const fh = await fs.promises.open(spooled.path, 'r');
      let cached = false;
      try {
        const buf = Buffer.alloc(CHUNK);
        for (let seq = 0; ; seq++) {
          const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
          if (bytesRead === 0) break;
          const data = Buffer.from(buf.subarray(0, bytesRead));
          await db.forAccount(accountId, (tx) => tx.insertInto('file_chunks').values({ file_id: fileId, account_id: accountId, seq, data }).execute());
        }
        // The spooled file becomes this node's copy: the job is most often run here, and then
        // reads it without fetching the chunks back (~1 s for a 62 MB file).
        await fs.promises.mkdir(cache, { recursive: true });
        cached = await fs.promises.rename(spooled.path, path.join(cache, fileId)).then(() => true, () => false);
      } finally {
        await fh.close();
        if (!cached) await fs.promises.rm(spooled.path, { force: true });
      }
    },
    async localPath(accountId, fileId) {
      const row = await db.forAccount(accountId, (tx) => tx.selectFrom('files').select(['storage', 'size']).where('account_id', '=', accountId).where('id', '=', fileId).executeTakeFirst());
      if (!row) throw AppError.notFound('The uploaded file');
      const gone = () => new AppError('NOT_FOUND', 'The uploaded file is no longer kept: its job has ended');
      if (row.storage === 'disk') {
        const local = path.join(dir, fileId);
        if (!fs.existsSync(local)) throw gone();
        return local;
      }
      const local = path.join(cache, fileId);
      if (fs.existsSync(local) && fs.statSync(local).size === Number(row.size)) return local;
      await fs.promises.mkdir(cache, { recursive: true });
      const tmp = `${local}.${process.pid}.part`;
      const out = fs.createWriteStream(tmp);
      for (let seq = 0; ; seq++) {
        const chunk = await db.forAccount(accountId, (tx) => tx.selectFrom('file_chunks').select('data').where('account_id', '=', accountId).where('file_id', '=', fileId).where('seq', '=', seq).executeTakeFirst());
        if (!chunk) break;
        if (!out.write(Buffer.from(chunk.data))) await new Promise<void>((r) => out.once('drain', () => r()));
      }
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
      if (out.bytesWritten !== Number(row.size)) {
        await fs.promises.rm(tmp, { force: true });
        throw gone();
      }
      await fs.promises.rename(tmp, local);
      return local;
    },
    async sweepCache(maxAgeMs, now) {
      const names = await fs.promises.readdir(cache).catch(() => [] as string[]);
      let removed = 0;
      for (const name of names) {
        const file = path.join(cache, name);
        const st = await fs.promises.stat(file).catch(() => null);
        if (st?.isFile() && now.getTime() - st.mtimeMs > maxAgeMs) {
          await fs.promises.rm(file, { force: true });
          removed++;
        }
      }
      return removed;
    },
    async discard(accountId, fileId) {
      if (storage === 'database') await db.forAccount(accountId, (tx) => tx.deleteFrom('file_chunks').where('account_id', '=', accountId).where('file_id', '=', fileId).execute());
      await fs.promises.rm(path.join(storage === 'disk' ? dir : cache, fileId), { force: true });
    },
  };
}
