import { isIP } from 'node:net';
import { pipeline, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { DependencyUnavailableError } from '../errors.js';
import { contentTypeOf } from './content-types.js';
import { isValidObjectKey, keyUnder, type ObjectStore, type PutOptions } from './port.js';
import { byteLimit } from './byte-limit.js';

export interface S3ObjectStoreConfig {
  /** The upload target this store serves: `s3` or `oss`. */
  target: string;
  bucket: string;
  region: string;
  /**
   * Service endpoint for S3-compatible APIs, e.g. `http://127.0.0.1:4569` (s3rver) or
   * `https://oss-cn-hangzhou.aliyuncs.com` (Aliyun OSS). Unset: AWS S3 in `region`.
   */
  endpoint?: string | undefined;
  /** `<endpoint>/<bucket>/<key>` URLs instead of `<bucket>.<host>/<key>`. */
  forcePathStyle?: boolean | undefined;
  /** Both or neither; unset: the SDK's default credential chain (env, profile, instance role). */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
}

/** Multipart part size; memory per put is about `PART_SIZE * (QUEUE_SIZE + 1)`. */
const PART_SIZE = 5 * 1024 * 1024;
const QUEUE_SIZE = 1;
/** S3 refuses presigned URLs valid for more than 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const CONNECT_TIMEOUT_MS = 2000;
/** Sending one part (5 MiB) and getting the response headers; bodies read afterwards are not timed. */
const REQUEST_TIMEOUT_MS = 120_000;
/** The same for requests without a body to send (get, delete, abort). */
const SMALL_REQUEST_TIMEOUT_MS = 15_000;
const PING_TIMEOUT_MS = 2000;

function isMissing(error: unknown): boolean {
  return error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.name === 'NotFound');
}

/** Node's codes for a socket that could not connect, or broke. */
const SOCKET_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether a failed call means the endpoint cannot serve now: it answered 5xx (503 SlowDown
 * included), or did not answer — the SDK's request handler names its connect and request
 * timeouts by error name, a refused or broken connection keeps Node's socket code. Any other
 * answer (403, 404 NoSuchBucket…) is a configuration problem or a bug, and is rethrown as is.
 */
function isUnreachable(error: unknown): boolean {
  if (error instanceof S3ServiceException) return (error.$metadata.httpStatusCode ?? 0) >= 500;
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return error.name === 'TimeoutError' || error.name === 'RequestTimeout' || (typeof code === 'string' && SOCKET_ERROR_CODES.has(code));
}

/** An unreachable endpoint's error as `DependencyUnavailableError` (naming the target); others as they are. */
function translate(target: string, error: unknown): unknown {
  return isUnreachable(error) ? new DependencyUnavailableError(`storage_${target}`, { cause: error }) : error;
}

/** A bucket name the SDK puts in the host name (otherwise it falls back to path-style URLs). */
function isVirtualHostable(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket) && !isIP(bucket);
}

/**
 * The URL every object URL of this bucket starts with, as the SDK builds it:
 * path-style `<endpoint>/<bucket>/` when forced, for IP-address endpoints and for bucket names
 * that are not one DNS label; otherwise virtual-hosted `<scheme>://<bucket>.<host>/`.
 */
function bucketBaseUrl(config: S3ObjectStoreConfig): URL {
  const awsDomain = config.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  const endpoint = new URL(config.endpoint ?? `https://s3.${config.region}.${awsDomain}`);
  const prefix = endpoint.pathname.replace(/\/+$/, '');
  const ipHost = isIP(endpoint.hostname) !== 0 || endpoint.hostname.startsWith('[');
  const pathStyle = config.forcePathStyle === true || ipHost || !isVirtualHostable(config.bucket);
  return pathStyle
    ? new URL(`${endpoint.origin}${prefix}/${encodeURIComponent(config.bucket)}/`)
    : new URL(`${endpoint.protocol}//${config.bucket}.${endpoint.host}${prefix}/`);
}

function createClient(config: S3ObjectStoreConfig): S3Client {
  const options: S3ClientConfig = {
    region: config.region,
    maxAttempts: 3,
    // Fail fast when the endpoint is unreachable instead of waiting on the OS's TCP timeout.
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
  };
  if (config.endpoint !== undefined) {
    options.endpoint = config.endpoint;
    // S3-compatible services (OSS, MinIO, s3rver) reject or mishandle the SDK's default
    // flexible-checksum headers; send and check checksums only where the API requires them.
    options.requestChecksumCalculation = 'WHEN_REQUIRED';
    options.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  if (config.forcePathStyle !== undefined) options.forcePathStyle = config.forcePathStyle;
  if (config.accessKeyId !== undefined || config.secretAccessKey !== undefined) {
    if (!config.accessKeyId || !config.secretAccessKey) throw new Error('S3 credentials need both accessKeyId and secretAccessKey.');
    options.credentials = { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey };
  }
  return new S3Client(options);
}

/**
 * Objects in an S3 bucket, or any S3-compatible API (Aliyun OSS, MinIO, s3rver) through
 * `endpoint`, with AWS SDK v3.
 *
 * - `put` streams through a multipart upload (8 MiB parts, two in flight, so memory stays bounded
 *   whatever the size); S3 shows the object only once the upload completes, and a failed or
 *   over-`maxBytes` put aborts the multipart upload so no parts are left behind.
 * - `signedUrl` gives presigned GetObject URLs (SigV4). S3 caps them at 7 days: a later
 *   `expiresAt` gives a URL that stops working after 7 days. An `expiresAt` in the past gives a
 *   URL that has already expired.
 * - `keyFromUrl` accepts only URLs of this bucket in the shape the SDK presigns (path-style or
 *   virtual-hosted, see `bucketBaseUrl`).
 * - The client gives up connecting after 2 s and tries each request 3 times; a request must be
 *   answered within 15 s (120 s while sending an upload part), and `ping` answers within about
 *   2 s, so an unreachable or stalled endpoint fails instead of hanging.
 */
export function createS3ObjectStore(config: S3ObjectStoreConfig): ObjectStore {
  const client = createClient(config);
  const Bucket = config.bucket;
  const base = bucketBaseUrl(config);
  const checkKey = (key: string): void => {
    if (!isValidObjectKey(key)) throw new Error(`Invalid object key: ${key}`);
  };
  return {
    target: config.target,
    async put(key, body, options: PutOptions) {
      checkKey(key);
      let sizeBytes = 0;
      const counter = byteLimit(options.maxBytes, (total) => (sizeBytes = total));
      // Errors of `body` (and the limit) destroy `counter`, which fails the upload's reads.
      pipeline(body, counter, () => {});
      const upload = new Upload({
        client,
        params: { Bucket, Key: key, Body: counter, ContentType: options.contentType },
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (error) {
        // Prefer the stream's own error (too large, connection lost) over what the upload made
        // of it, e.g. a failed AbortMultipartUpload.
        const streamError = counter.errored;
        counter.destroy();
        body.destroy();
        // `done()` aborts the multipart upload itself; if that attempt failed, try once more.
        // Aborting an upload twice answers NoSuchUpload, which is fine.
        if (upload.uploadId !== undefined) {
          await client
            .send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: upload.uploadId }), { requestTimeout: SMALL_REQUEST_TIMEOUT_MS })
            .catch(() => {});
        }
        // The stream's error is the caller's (too large, client gone); the upload's, the endpoint's.
        throw streamError ?? translate(config.target, error);
      }
      return { sizeBytes };
    },
    async get(key) {
      if (!isValidObjectKey(key)) return null;
      try {
        const output = await client.send(new GetObjectCommand({ Bucket, Key: key }), { requestTimeout: SMALL_REQUEST_TIMEOUT_MS });
        if (!(output.Body instanceof Readable)) throw new Error('The S3 response body is not a Node stream.');
        return { body: output.Body, sizeBytes: output.ContentLength ?? 0, contentType: output.ContentType ?? contentTypeOf(key) };
      } catch (error) {
        if (isMissing(error)) return null;
        throw translate(config.target, error);
      }
    },
    async signedUrl(key, expiresAt) {
      checkKey(key);
      // X-Amz-Date has whole seconds; round the lifetime up so the URL works until `expiresAt`.
      const now = Math.floor(Date.now() / 1000) * 1000;
      const seconds = Math.ceil((expiresAt.getTime() - now) / 1000);
      // Already expired: sign "in the past" so the URL is dead on arrival rather than alive 1 s.
      const signingDate = seconds >= 1 ? new Date(now) : new Date(expiresAt.getTime() - 1000);
      const expiresIn = Math.min(Math.max(seconds, 1), MAX_PRESIGN_SECONDS);
      return getSignedUrl(client, new GetObjectCommand({ Bucket, Key: key }), { expiresIn, signingDate });
    },
    keyFromUrl(url) {
      return keyUnder(url, base);
    },
    async delete(key) {
      checkKey(key);
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key: key }), { requestTimeout: SMALL_REQUEST_TIMEOUT_MS });
      } catch (error) {
        if (!isMissing(error)) throw translate(config.target, error);
      }
    },
    async ping() {
      try {
        await client.send(new HeadBucketCommand({ Bucket }), { abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS), requestTimeout: PING_TIMEOUT_MS });
        return true;
      } catch {
        return false;
      }
    },
  };
}
