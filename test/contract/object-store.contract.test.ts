import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DependencyUnavailableError } from '../../src/errors.js';
import { createLocalObjectStore } from '../../src/storage/local-object-store.js';
import { ObjectTooLargeError, type ObjectStore } from '../../src/storage/port.js';
import { createS3ObjectStore, type S3ObjectStoreConfig } from '../../src/storage/s3-object-store.js';
import { createUrlSigner } from '../../src/storage/url-signer.js';
import { freePort } from '../helpers/serve-process.js';

// s3rver ships no type declarations; this is the part of its API the tests use.
interface S3rverInstance {
  run(): Promise<unknown>;
  close(): Promise<void>;
  httpServer: Server;
}
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

const BUCKET = 'rivya-test';
/** s3rver's built-in account. */
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const s3 = { server: null as S3rverInstance | null, directory: '', endpoint: '', requests: [] as string[] };
let bucketCount = 0;

function s3Config(overrides: Partial<S3ObjectStoreConfig> = {}): S3ObjectStoreConfig {
  return { target: 's3', bucket: BUCKET, region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, ...S3RVER_CREDENTIALS, ...overrides };
}

beforeAll(async () => {
  const directory = await mkdtemp(join(tmpdir(), 'rivya-s3rver-'));
  s3.directory = directory;
  const port = await freePort();
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: BUCKET }] });
  await server.run();
  // Records what the SDK sends (s3rver's own handler still answers).
  server.httpServer.on('request', (request: { method?: string; url?: string }) => s3.requests.push(`${request.method} ${request.url}`));
  s3.server = server;
  s3.endpoint = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  s3.server?.httpServer.closeAllConnections();
  await s3.server?.close();
  if (s3.directory) await rm(s3.directory, { recursive: true, force: true });
});

/** Stores answer 403 or 404 to URLs that must not work; anything else (200, a 500) is a failure. */
function expectRefused(status: number): void {
  expect([403, 404]).toContain(status);
}

const dirs: string[] = [];
const STORES: {
  name: string;
  /**
   * Whether fetching a URL checks its signature. s3rver 3.7.1 accepts any SigV4 signature
   * (lib/middleware/authentication.js: "Signature version 4 calculation is unimplemented");
   * real S3 and OSS answer 403 SignatureDoesNotMatch. s3rver does enforce X-Amz-Date + X-Amz-Expires.
   */
  checksSignatures: boolean;
  create(): Promise<{ store: ObjectStore; fetchUrl(url: string): Promise<number> }>;
}[] = [
  {
    name: 'local',
    checksSignatures: true,
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
  {
    name: 's3',
    checksSignatures: false,
    async create() {
      // A fresh bucket per store, as the local backend gets a fresh directory.
      const bucket = `rivya-contract-${++bucketCount}`;
      const admin = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      admin.destroy();
      const store = createS3ObjectStore(s3Config({ bucket }));
      return {
        store,
        async fetchUrl(url) {
          const response = await fetch(url);
          await response.arrayBuffer();
          return response.status;
        },
      };
    },
  },
];

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe.each(STORES)('ObjectStore port contract on $name', ({ create, checksSignatures }) => {
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
    expectRefused(await fetchUrl(url.replace('a/b.png', 'a/c.png')));
    const tampered = url.replace(/([?&](?:sig|X-Amz-Signature)=)(.)/, (_m, name: string, c: string) => `${name}${c === 'a' ? 'b' : 'a'}`);
    expect(tampered).not.toBe(url);
    if (checksSignatures) expectRefused(await fetchUrl(tampered));
    expectRefused(await fetchUrl(await store.signedUrl('a/b.png', new Date(Date.now() - 1000))));
  });

  it('reads the key back from its own signed URLs, and from no other URL', async () => {
    const { store } = await create();
    const url = await store.signedUrl('results/t9/video.mp4', new Date(Date.now() + 60_000));
    expect(store.keyFromUrl(url)).toBe('results/t9/video.mp4');
    const elsewhere = new URL(url);
    elsewhere.hostname = 'elsewhere.example';
    expect(store.keyFromUrl(elsewhere.href)).toBeNull();
    const otherPort = new URL(url);
    otherPort.port = String(Number(otherPort.port || 80) + 1);
    expect(store.keyFromUrl(otherPort.href)).toBeNull();
    expect(store.keyFromUrl(url.replace('results/t9/video.mp4', 'results/t9/a%20b.mp4'))).toBeNull();
    expect(store.keyFromUrl('not a url')).toBeNull();
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

describe('S3 object store', () => {
  it('reads keys only from URLs of its own bucket and host, in the shape the SDK presigns', async () => {
    const store = createS3ObjectStore(s3Config());
    const other = createS3ObjectStore(s3Config({ bucket: 'rivya-other' }));
    const url = await store.signedUrl('x/y.mp4', new Date(Date.now() + 60_000));
    expect(url.startsWith(`${s3.endpoint}/${BUCKET}/x/y.mp4?`)).toBe(true);
    expect(other.keyFromUrl(url)).toBeNull();
    expect(store.keyFromUrl(await other.signedUrl('x/y.mp4', new Date(Date.now() + 60_000)))).toBeNull();
    // Presigning needs no network: check the shapes of AWS and OSS URLs (virtual-hosted) too.
    const shapes: { config: Partial<S3ObjectStoreConfig>; prefix: string }[] = [
      { config: { endpoint: undefined, forcePathStyle: undefined, region: 'eu-west-1' }, prefix: `https://${BUCKET}.s3.eu-west-1.amazonaws.com/` },
      { config: { endpoint: undefined, forcePathStyle: true, region: 'eu-west-1' }, prefix: `https://s3.eu-west-1.amazonaws.com/${BUCKET}/` },
      { config: { endpoint: undefined, forcePathStyle: undefined, region: 'eu-west-1', bucket: 'rivya.dotted' }, prefix: 'https://s3.eu-west-1.amazonaws.com/rivya.dotted/' },
      { config: { endpoint: undefined, forcePathStyle: undefined, region: 'cn-north-1' }, prefix: `https://${BUCKET}.s3.cn-north-1.amazonaws.com.cn/` },
      { config: { target: 'oss', endpoint: 'https://oss-cn-hangzhou.aliyuncs.com', forcePathStyle: undefined, region: 'oss-cn-hangzhou' }, prefix: `https://${BUCKET}.oss-cn-hangzhou.aliyuncs.com/` },
      { config: { endpoint: s3.endpoint, forcePathStyle: undefined }, prefix: `${s3.endpoint}/${BUCKET}/` },
    ];
    for (const { config, prefix } of shapes) {
      const shaped = createS3ObjectStore(s3Config(config));
      const signed = await shaped.signedUrl('results/t1/video.mp4', new Date(Date.now() + 60_000));
      expect(signed.startsWith(`${prefix}results/t1/video.mp4?`), signed).toBe(true);
      expect(shaped.keyFromUrl(signed)).toBe('results/t1/video.mp4');
      if (!prefix.startsWith(s3.endpoint)) expect(store.keyFromUrl(signed)).toBeNull();
      const otherBucket = createS3ObjectStore(s3Config({ ...config, bucket: 'rivya-other' }));
      expect(otherBucket.keyFromUrl(signed)).toBeNull();
    }
  });

  it('clamps presigned lifetimes to S3\'s 7 days, and signs past expiries already expired', async () => {
    const store = createS3ObjectStore(s3Config());
    const expiresIn = (url: string) => Number(new URL(url).searchParams.get('X-Amz-Expires'));
    expect(expiresIn(await store.signedUrl('a.mp4', new Date(Date.now() + 30 * 24 * 3600_000)))).toBe(604_800);
    expect(expiresIn(await store.signedUrl('a.mp4', new Date(Date.now() + 90_000)))).toBeGreaterThanOrEqual(90);
    const past = new Date(Date.now() - 60_000);
    const expired = new URL(await store.signedUrl('a.mp4', past));
    expect(expiresIn(expired.href)).toBe(1);
    const signedAt = expired.searchParams.get('X-Amz-Date')!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');
    expect(new Date(signedAt).getTime() + 1000).toBeLessThanOrEqual(past.getTime());
  });

  it('streams large objects in parts, and aborts the multipart upload past maxBytes', async () => {
    const store = createS3ObjectStore(s3Config());
    const mib = Buffer.alloc(1024 * 1024, 3);
    const chunks = (count: number) => Readable.from(Array.from({ length: count }, () => mib));
    expect(await store.put('big/ok.mp4', chunks(18), { contentType: 'video/mp4', maxBytes: 18 * mib.length })).toEqual({ sizeBytes: 18 * mib.length });
    const object = await store.get('big/ok.mp4');
    expect(object?.sizeBytes).toBe(18 * mib.length);
    expect((await buffer(object!.body)).length).toBe(18 * mib.length);
    expect(s3.requests.some((line) => line.startsWith('POST /rivya-test/big/ok.mp4?uploads'))).toBe(true);

    // The first 8 MiB part is sent before the limit trips; the upload must then be aborted.
    // (s3rver has no AbortMultipartUpload: it answers 405, which must not hide the real error.)
    const put = store.put('big/too-big.mp4', chunks(20), { contentType: 'video/mp4', maxBytes: 10 * mib.length });
    await expect(put).rejects.toBeInstanceOf(ObjectTooLargeError);
    expect(s3.requests.some((line) => /^PUT \/rivya-test\/big\/too-big\.mp4\?.*partNumber=1/.test(line))).toBe(true);
    expect(s3.requests.some((line) => /^DELETE \/rivya-test\/big\/too-big\.mp4\?.*uploadId=/.test(line))).toBe(true);
    expect(await store.get('big/too-big.mp4')).toBeNull();
  });

  it('keeps the error of a failing source stream, and leaves nothing behind', async () => {
    const store = createS3ObjectStore(s3Config());
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(100));
        this.destroy(new Error('connection lost'));
      },
    });
    await expect(store.put('p/q.mp4', failing, { contentType: 'video/mp4' })).rejects.toThrow('connection lost');
    expect(await store.get('p/q.mp4')).toBeNull();
  });

  it('answers quickly when S3 is down or the bucket is missing', async () => {
    const down = createS3ObjectStore(s3Config({ endpoint: `http://127.0.0.1:${await freePort()}` }));
    let started = Date.now();
    expect(await down.ping()).toBe(false);
    expect(await down.get('a/b.png').catch(() => 'failed')).toBe('failed');
    expect(Date.now() - started).toBeLessThan(5000);
    started = Date.now();
    expect(await createS3ObjectStore(s3Config({ bucket: 'rivya-missing' })).ping()).toBe(false);
    expect(Date.now() - started).toBeLessThan(3000);
    // A server that accepts connections and never answers: ping gives up after its 2 s.
    const sockets: Socket[] = [];
    const stalled = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const { port } = stalled.address() as { port: number };
    started = Date.now();
    expect(await createS3ObjectStore(s3Config({ endpoint: `http://127.0.0.1:${port}` })).ping()).toBe(false);
    expect(Date.now() - started).toBeLessThan(3000);
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => stalled.close(resolve));
  });

  it('throws DependencyUnavailableError when S3 cannot be reached, and keeps other failures as they are', async () => {
    const down = createS3ObjectStore(s3Config({ endpoint: `http://127.0.0.1:${await freePort()}` }));
    const unavailable = { name: 'DependencyUnavailableError', dependency: 'storage_s3' };
    await expect(down.get('a/b.png')).rejects.toMatchObject(unavailable);
    await expect(down.delete('a/b.png')).rejects.toMatchObject(unavailable);
    await expect(down.put('a/b.png', Readable.from([Buffer.from('x')]), { contentType: 'image/png' })).rejects.toMatchObject(unavailable);
    // A bucket that does not exist is a configuration problem, not an outage: not disguised as 503.
    const missing = createS3ObjectStore(s3Config({ bucket: 'rivya-missing' }));
    const error = await missing.put('a/b.png', Readable.from([Buffer.from('x')]), { contentType: 'image/png' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(DependencyUnavailableError);
  });
});
