import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalObjectStore } from '../../src/storage/local-object-store.js';
import { ObjectTooLargeError, type ObjectStore } from '../../src/storage/port.js';
import { createUrlSigner } from '../../src/storage/url-signer.js';

const dirs: string[] = [];
const STORES: { name: string; create(): Promise<{ store: ObjectStore; fetchUrl(url: string): Promise<number> }> }[] = [
  {
    name: 'local',
    async create() {
      const dir = await mkdtemp(join(tmpdir(), 'rivya-objects-'));
      dirs.push(dir);
      const signer = createUrlSigner('x'.repeat(32));
      const store = createLocalObjectStore({ target: 's3', rootDir: dir, publicUrl: 'http://localhost:1', signer });
      return {
        store,
        // Local URLs are served by the API; here we check the signature as the route does.
        async fetchUrl(url) {
          const parsed = new URL(url);
          const key = parsed.pathname.replace('/objects/s3/', '');
          const ok = signer.verify('s3', key, parsed.searchParams.get('expires') ?? '', parsed.searchParams.get('sig') ?? '', new Date());
          return ok && (await store.get(key)) ? 200 : 404;
        },
      };
    },
  },
];

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe.each(STORES)('ObjectStore port contract on $name', ({ create }) => {
  it('stores a stream and reads it back whole, with its size and type', async () => {
    const { store } = await create();
    const bytes = Buffer.alloc(300_000, 7);
    expect(await store.put('results/t1/video.mp4', Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), { contentType: 'video/mp4' })).toEqual({ sizeBytes: 300_000 });
    const object = await store.get('results/t1/video.mp4');
    expect(object?.sizeBytes).toBe(300_000);
    expect(object?.contentType).toBe('video/mp4');
    expect((await buffer(object!.body)).equals(bytes)).toBe(true);
    expect(await store.get('results/t1/missing.mp4')).toBeNull();
  });

  it('refuses a stream past maxBytes and leaves nothing behind', async () => {
    const { store } = await create();
    const put = store.put('uploads/big.png', Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), { contentType: 'image/png', maxBytes: 1000 });
    await expect(put).rejects.toBeInstanceOf(ObjectTooLargeError);
    expect(await store.get('uploads/big.png')).toBeNull();
  });

  it('signs URLs that stop working when altered or expired', async () => {
    const { store, fetchUrl } = await create();
    await store.put('a/b.png', Readable.from([Buffer.from('png')]), { contentType: 'image/png' });
    const url = await store.signedUrl('a/b.png', new Date(Date.now() + 60_000));
    expect(await fetchUrl(url)).toBe(200);
    expect(await fetchUrl(url.replace('a/b.png', 'a/c.png'))).toBe(404);
    expect(await fetchUrl(url.replace(/sig=(.)/, (_m, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`))).toBe(404);
    expect(await fetchUrl(await store.signedUrl('a/b.png', new Date(Date.now() - 1000)))).toBe(404);
  });

  it('deletes, and deleting twice is fine; keys cannot escape the store', async () => {
    const { store } = await create();
    await store.put('d/x.mp4', Readable.from([Buffer.from('x')]), { contentType: 'video/mp4' });
    await store.delete('d/x.mp4');
    await store.delete('d/x.mp4');
    expect(await store.get('d/x.mp4')).toBeNull();
    await expect(store.put('../escape.mp4', Readable.from([Buffer.from('x')]), { contentType: 'video/mp4' })).rejects.toThrow();
    expect(await store.get('../../etc/passwd')).toBeNull();
    expect(await store.ping()).toBe(true);
  });
});

describe('local object store', () => {
  it('never shows a partial object: it is written aside and renamed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rivya-objects-'));
    dirs.push(dir);
    const store = createLocalObjectStore({ target: 's3', rootDir: dir, publicUrl: 'http://x', signer: createUrlSigner('y'.repeat(32)) });
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(100));
        this.destroy(new Error('connection lost'));
      },
    });
    await expect(store.put('p/q.mp4', failing, { contentType: 'video/mp4' })).rejects.toThrow('connection lost');
    // Nothing is left: neither the partial file nor the directory made for it.
    expect(await readdir(dir)).toEqual([]);
  });
});
