import type { Readable } from 'node:stream';

/**
 * The `ObjectStore` port: where result videos and uploaded files live. One store per upload
 * target (`s3`, `oss`). Backends: a local directory (`local-object-store.ts`) and any S3 API.
 */

export interface StoredObject {
  body: Readable;
  sizeBytes: number;
  contentType: string;
}

export interface PutOptions {
  contentType: string;
  /** Refuse (and leave nothing behind) once the stream passes this many bytes. */
  maxBytes?: number | undefined;
}

export interface ObjectStore {
  /** The upload target this store serves, e.g. `s3`. */
  readonly target: string;
  /**
   * Streams `body` to `key`. The object appears whole or not at all: readers never see a
   * partial object, and a failed or over-limit put leaves nothing behind.
   * Rejects with `ObjectTooLargeError` past `maxBytes`.
   */
  put(key: string, body: Readable, options: PutOptions): Promise<{ sizeBytes: number }>;
  /** Opens `key` for reading, or `null` if there is no such object. */
  get(key: string): Promise<StoredObject | null>;
  /** A URL anyone can GET until `expiresAt`; altering any part of it makes it invalid. */
  signedUrl(key: string, expiresAt: Date): Promise<string>;
  /**
   * The key of the object a URL of this store names, if the URL has the shape this store's
   * `signedUrl` gives (its signature and expiry are not checked); null otherwise.
   */
  keyFromUrl(url: string): string | null;
  /** Deletes `key`; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** True when the store can be written to now. */
  ping(): Promise<boolean>;
}

export class ObjectTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`The object is larger than ${maxBytes} bytes.`);
    this.name = 'ObjectTooLargeError';
  }
}

/** Object keys are ours: letters, digits and `._-/`, no empty or dot segments. */
export function isValidObjectKey(key: string): boolean {
  return (
    key.length > 0 &&
    key.length <= 512 &&
    /^[A-Za-z0-9._\-/]+$/.test(key) &&
    key.split('/').every((segment) => segment.length > 0 && segment !== '.' && segment !== '..')
  );
}

/**
 * The object key a URL names under `base` (same origin, path below `base`'s), decoded and
 * checked; null for anything else. How each backend implements `keyFromUrl`.
 */
export function keyUnder(url: string, base: URL): string | null {
  let parsed: URL;
  let key: string;
  try {
    parsed = new URL(url);
    if (parsed.origin !== base.origin || !parsed.pathname.startsWith(base.pathname)) return null;
    key = decodeURIComponent(parsed.pathname.slice(base.pathname.length));
  } catch {
    return null;
  }
  return isValidObjectKey(key) ? key : null;
}
