import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { freePort } from './serve-process.js';

/** An S3-protocol server on loopback (s3rver), with the given buckets, for tests. */
export async function startS3Server(buckets: string[]): Promise<{ endpoint: string; env(prefix: string, bucket: string): Record<string, string>; close(): Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'rivya-s3rver-'));
  const port = await freePort();
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    /** The environment that points a target (`RIVYA_S3`, `RIVYA_OSS`) at a bucket of this server. */
    env: (prefix, bucket) => ({
      [`${prefix}_BUCKET`]: bucket,
      [`${prefix}_ENDPOINT`]: endpoint,
      [`${prefix}_REGION`]: 'us-east-1',
      [`${prefix}_FORCE_PATH_STYLE`]: 'true',
      [`${prefix}_ACCESS_KEY_ID`]: 'S3RVER',
      [`${prefix}_SECRET_ACCESS_KEY`]: 'S3RVER',
    }),
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
