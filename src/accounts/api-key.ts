import { createHash } from 'node:crypto';
import { randomBase62 } from '../ids.js';

/** A new secret API key: `rv_` + 40 base62 characters (~238 bits). Shown once, stored as its hash. */
export function generateApiKey(): string {
  return `rv_${randomBase62(40)}`;
}

/** How keys are stored: SHA-256, hex. Keys are long random secrets, so a slow hash adds nothing. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The part of a key that may be shown again, to tell keys apart. */
export function keyPrefix(key: string): string {
  return key.slice(0, 10);
}
