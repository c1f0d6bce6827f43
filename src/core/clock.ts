import { randomBytes, randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** Time, injected so tests are deterministic. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A row id as text: a UUID (Pippin makes v7 ones; any version reads). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Randomness, injected for the same reason. */
export interface Random {
  /** A new UUIDv7 (time-ordered) id. */
  id(): string;
  bytes(n: number): Buffer;
}

/**
 * Random bytes drawn from the system in 4 KiB refills rather than one call per id or secret; each
 * caller gets bytes no other caller sees (copied out for `bytes`, consumed once for ids).
 */
const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;
function pooled(n: number): Uint8Array {
  if (poolAt + n > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  poolAt += n;
  return POOL.subarray(poolAt - n, poolAt);
}

export const systemRandom: Random = {
  id: () => uuidv7({ random: pooled(16) }),
  bytes: (n) => (n <= 256 ? Buffer.from(pooled(n)) : randomBytes(n)),
};
