import { randomBytes } from 'node:crypto';
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

export const systemRandom: Random = {
  id: () => uuidv7(),
  bytes: (n) => randomBytes(n),
};
