import { randomBytes, randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** Time, injected so tests are deterministic. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Randomness, injected for the same reason. */
export interface Random {
  /** A new UUIDv7 (time-ordered) id. */
  id(): string;
  bytes(n: number): Buffer;
}

/** Random bytes for ids, drawn from the system in 4 KiB refills rather than one call per id. */
const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;
function idBytes(): Uint8Array {
  if (poolAt + 16 > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  poolAt += 16;
  return POOL.subarray(poolAt - 16, poolAt);
}

export const systemRandom: Random = {
  id: () => uuidv7({ random: idBytes() }),
  bytes: (n) => randomBytes(n),
};
