/**
 * What differs between the engines, named. Code outside `db/` asks these flags; it never asks
 * which engine it is on.
 */
export interface Caps {
  engine: 'sqlite' | 'postgres';
  /** Column type for UUID keys. */
  uuidType: 'uuid' | 'text';
  /** Column type for instants (ISO strings on the wire either way). */
  timestampType: 'timestamptz' | 'text';
  /** Column type for booleans. */
  booleanType: 'boolean' | 'integer';
  /** Collation for key columns so that sorts and prefix ranges compare bytes on every engine (null: the default is binary). */
  keyCollation: string | null;
  /** Tables can be clustered on their primary key (SQLite's WITHOUT ROWID): one B-tree instead of two. */
  clusteredPrimaryKey: boolean;
  /** Row-level security isolates accounts (else every store query filters by account alone). */
  rowLevelSecurity: boolean;
  /** `FOR UPDATE SKIP LOCKED` is available for claiming work across nodes. */
  supportsSkipLocked: boolean;
  /**
   * Statements run in a server process of their own, so work on a second connection (or in this
   * thread) goes on while one runs; SQLite's run in the calling thread, one after another.
   */
  serverProcess: boolean;
  /** Unique-violation detection for the driver's errors. */
  isUniqueViolation(e: unknown): boolean;
}

export const SQLITE_CAPS: Caps = {
  engine: 'sqlite',
  uuidType: 'text',
  timestampType: 'text',
  booleanType: 'integer',
  keyCollation: null,
  clusteredPrimaryKey: true,
  rowLevelSecurity: false,
  supportsSkipLocked: false,
  serverProcess: false,
  isUniqueViolation: (e) =>
    typeof e === 'object' && e !== null && /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(String((e as { code?: string }).code)),
};

export const POSTGRES_CAPS: Caps = {
  engine: 'postgres',
  uuidType: 'uuid',
  timestampType: 'timestamptz',
  booleanType: 'boolean',
  keyCollation: 'C',
  clusteredPrimaryKey: false,
  rowLevelSecurity: true,
  supportsSkipLocked: true,
  serverProcess: true,
  isUniqueViolation: (e) => typeof e === 'object' && e !== null && (e as { code?: string }).code === '23505',
};

/** Which unique constraint was violated, when the driver says (index name on PostgreSQL, columns on SQLite). */
export function violatedConstraint(e: unknown): string {
  const err = e as { constraint?: string; message?: string };
  return err.constraint ?? err.message ?? '';
}
