import { createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { contentTypeOf } from './content-types.js';
import { isValidObjectKey, keyUnder, type ObjectStore, type PutOptions } from './port.js';
import type { UrlSigner } from './url-signer.js';
import { byteLimit } from './byte-limit.js';

export interface LocalObjectStoreConfig {
  target: string;
  /** Directory holding this target's objects. */
  rootDir: string;
  /** Public base URL of the API, e.g. `http://localhost:8080`; objects are served under `/objects/…`. */
  publicUrl: string;
  signer: UrlSigner;
}

/** Removes `dir` and its parents while they are empty, up to (not including) the store's root. */
async function pruneEmptyDirs(dir: string, root = ''): Promise<void> {
  let current = dir;
  while (current !== root && current.length > 1) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
    current = dirname(current);
  }
}

/** Objects as files under a local directory, served by the API at `/objects/{target}/{key}` with signed URLs. */
export function createLocalObjectStore(config: LocalObjectStoreConfig): ObjectStore {
  const root = resolve(config.rootDir);
  const pathOf = (key: string): string => {
    const path = resolve(join(root, key));
    if (!isValidObjectKey(key) || !path.startsWith(root + sep)) throw new Error(`Invalid object key: ${key}`);
    return path;
  };
  return {
    target: config.target,
    async put(key, body, options: PutOptions) {
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true });
      const temp = `${path}.partial-${randomBytes(6).toString('hex')}`;
      let sizeBytes = 0;
      try {
        await pipeline(body, byteLimit(options.maxBytes, (total) => (sizeBytes = total)), createWriteStream(temp));
        await rename(temp, path);
      } catch (error) {
        await unlink(temp).catch(() => {});
        await pruneEmptyDirs(dirname(path), root);
        throw error;
      }
      return { sizeBytes };
    },
    async get(key) {
      let path: string;
      try {
        path = pathOf(key);
      } catch {
        return null;
      }
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) return null;
      return { body: createReadStream(path), sizeBytes: info.size, contentType: contentTypeOf(key) };
    },
    async signedUrl(key, expiresAt) {
      pathOf(key);
      const query = config.signer.sign(config.target, key, expiresAt);
      return `${config.publicUrl}/objects/${config.target}/${key}?${query}`;
    },
    keyFromUrl(url) {
      return keyUnder(url, new URL(`${config.publicUrl}/objects/${config.target}/`));
    },
    async delete(key) {
      const path = pathOf(key);
      await unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      await pruneEmptyDirs(dirname(path), root);
    },
    async ping() {
      try {
        await mkdir(root, { recursive: true });
        await access(root);
        return true;
      } catch {
        return false;
      }
    },
  };
}
