import { randomBytes, randomFillSync } from 'node:crypto';

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
/** Where the next `n` unused bytes of the pool start. */
function take(n: number): number {
  if (poolAt + n > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  poolAt += n;
  return poolAt - n;
}
const pooled = (n: number): Uint8Array => {
  const at = take(n);
  return POOL.subarray(at, at + n);
};

/** The hex digits as bytes, and an id's text: its dashes fixed, its digits rewritten for each id. */
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const ID_TEXT = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
/** The millisecond of the last id made, and its counter (RFC 9562's rand_a). */
let idMs = 0;
let idCounter = 0;

/** Writes the `digits` low hex digits of `value` (at most 32 bits) at `at` of the id's text. */
function hexInto(value: number, digits: number, at: number): void {
  for (let d = at + digits - 1; d >= at; d--) {
    ID_TEXT[d] = HEX[value & 15]!;
    value >>>= 4;
  }
}

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix time in milliseconds, the version, a 12-bit counter, the
 * variant and 62 random bits. The counter (the RFC's method 1) starts at a random value below
 * 2,048 each new millisecond and counts up within it, into the next millisecond when it runs out,
 * so the ids one process makes only grow (new users go at the end of the indexes that hold their
 * ids). Written into one reused buffer and read out as one string: an import makes a million, and
 * the general-purpose generator it replaces made ~900 bytes of garbage for each.
 */
function uuidv7(): string {
  const now = Date.now();
  const r = take(10);
  if (now > idMs) {
    idMs = now;
    idCounter = ((POOL[r]! << 8) | POOL[r + 1]!) & 0x7ff;
  } else if (++idCounter > 0xfff) {
    idMs++;
    idCounter = 0;
  }
  hexInto(Math.floor(idMs / 0x10000), 8, 0);
  hexInto(idMs & 0xffff, 4, 9);
  hexInto(idCounter, 3, 15);
  // The variant's two bits (10), then 62 random bits.
  hexInto(0x8000 | ((POOL[r + 2]! & 0x3f) << 8) | POOL[r + 3]!, 4, 19);
  hexInto((POOL[r + 4]! << 8) | POOL[r + 5]!, 4, 24);
  hexInto(((POOL[r + 6]! << 24) | (POOL[r + 7]! << 16) | (POOL[r + 8]! << 8) | POOL[r + 9]!) >>> 0, 8, 28);
  return ID_TEXT.toString('latin1', 0, 36);
}

export const systemRandom: Random = {
  id: uuidv7,
  bytes: (n) => (n <= 256 ? Buffer.from(pooled(n)) : randomBytes(n)),
};
