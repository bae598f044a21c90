import { randomFillSync } from 'node:crypto';

/** The prefixes of Rivya's opaque ids. */
export type IdPrefix = 'task' | 'file' | 'acct' | 'key' | 'led' | 'req' | 'we' | 'dlv' | 'sess';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// Random bytes are drawn from the CSPRNG in blocks: one system call per ~100 ids, not per id.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomByte(): number {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  return pool[poolOffset++] as number;
}

/** Random base62 text of `length` characters (≈5.95 bits each, from a CSPRNG, without modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const byte = randomByte();
    if (byte < 248) out += ALPHABET[byte % 62];
  }
  return out;
}

/** A new unguessable id such as `task_3kTn0x…` (22 random characters, ~131 bits). */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBase62(22)}`;
}
