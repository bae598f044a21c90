import { createHash, type Hash } from 'node:crypto';
import { finished, Transform, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, validationFailed } from '../../errors.js';
import type { FileService } from '../../files/file-service.js';
import { requestFingerprint } from '../../idempotency/canonical-json.js';
import type { IdempotencyStore } from '../../idempotency/idempotency-store.js';
import { callerOf } from '../auth.js';
import { idempotencyOf, sendOutcome } from '../idempotency-header.js';
import { queryReader } from '../query.js';

export interface FileRoutesDeps {
  files: FileService;
  idempotency: IdempotencyStore;
  /** The largest upload of any kind: the multipart parser stops reading past it. */
  maxUploadBytes: number;
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

/**
 * The multipart parser's own errors are the body's fault (no boundary, a boundary absent from the
 * body, a part cut short, LF-only line breaks): validation_failed. Its limit errors carry a code,
 * which the error envelope maps (a file over the limit is 413).
 */
function asMalformedBody(error: unknown): unknown {
  if (error instanceof ApiError) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('FST_')) return error;
  return validationFailed([{ path: '', message: `Not a well-formed multipart/form-data body (${(error as Error).message}).` }]);
}

/**
 * The part's bytes, passed through `hash` if given. The part's errors are carried through (as
 * `asMalformedBody`): a plain pipe would leave its reader waiting for ever on a body cut short.
 */
function partBytes(file: Readable, hash?: Hash): Readable {
  const copy = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash?.update(chunk);
      done(null, chunk);
    },
  });
  // `finished` also reports a part that failed before this was called (the parser may read a
  // whole small body, and fail at its end, before the route looks at its first part).
  finished(file, (error) => {
    if (error) copy.destroy(asMalformedBody(error) as Error);
  });
  // Its readers see its error (their own listeners, or `errored` when they next read); this one
  // keeps an error that comes while no reader listens (between the sniff and the store) from
  // being an uncaught exception.
  copy.on('error', () => {});
  return file.pipe(copy);
}

/** How long the rest of a refused upload is read (and dropped) before the connection is closed instead. */
const DISCARD_TIMEOUT_MS = 30_000;

/**
 * Reads and drops what is left of a request body, up to `maxBytes` more or `timeoutMs`;
 * resolves true when the body was read to its end.
 */
function discardRest(raw: NodeJS.ReadableStream & { readableEnded: boolean; destroyed: boolean }, maxBytes: number, timeoutMs: number): Promise<boolean> {
  if (raw.readableEnded) return Promise.resolve(true);
  if (raw.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let bytes = 0;
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      raw.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onClose);
      if (!ended) raw.pause();
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) finish(false);
    };
    const onEnd = () => finish(true);
    const onClose = () => finish(raw.readableEnded);
    const timer = setTimeout(() => finish(false), timeoutMs);
    // The multipart parser stops here: nothing else reads the rest.
    raw.unpipe();
    raw.on('data', onData).once('end', onEnd).once('close', onClose).once('error', onClose);
    raw.resume();
  });
}

/** The Files API: `POST /api/v1/files` (multipart, one part `file`), get, list, delete. */
export function registerFileRoutes(app: FastifyInstance, deps: FileRoutesDeps): void {
  app.post('/api/v1/files', { preHandler: deps.authenticate }, async (request, reply) => {
    const { account } = callerOf(request);
    if (!request.isMultipart()) {
      throw validationFailed([{ path: '', message: 'Send the file as multipart/form-data with one part named "file".' }]);
    }
    const parts = request.parts({ limits: { files: 1, fileSize: deps.maxUploadBytes + 1, fields: 10 } });
    const first = await parts.next().catch((error: unknown) => {
      throw asMalformedBody(error);
    });
    if (first.done) throw validationFailed([{ path: 'file', message: 'Required: a part named "file" holding the file.' }]);
    const part = first.value;
    if (part.type !== 'file' || part.fieldname !== 'file') {
      if (part.type === 'file') part.file.resume();
      throw validationFailed([{ path: part.fieldname, message: 'Unknown part; send the file alone, in one part named "file".' }]);
    }
    /** The body is one part: anything after the file is refused, and the file just stored removed. */
    const refuseMoreParts = async (fileId: string) => {
      const next = await parts.next().catch(() => ({ done: false }));
      if (next.done) return;
      await deps.files.delete(account, fileId);
      throw validationFailed([{ path: 'file', message: 'Send one part only: the file, named "file".' }]);
    };
    try {
      const upload = async (stream: Readable) => {
        const file = await deps.files.upload(account, { stream, filename: part.filename, declaredType: part.mimetype });
        await refuseMoreParts(file.id);
        return { status: 201, body: file };
      };
      const idempotency = idempotencyOf(request, account.id, null);
      // With an Idempotency-Key, the fingerprint is the file (its bytes, name and declared type),
      // hashed as it streams by: a repeat is replayed only if it sends the same file.
      const fingerprint = (hash: Hash) => requestFingerprint('POST', '/api/v1/files', {
        sha256: hash.digest('hex'), name: part.filename, type: part.mimetype, truncated: part.file.truncated,
      });
      const outcome = idempotency
        ? await deps.idempotency.runStreamed(
          idempotency,
          async () => {
            const hash = createHash('sha256');
            const response = await upload(partBytes(part.file, hash));
            return { response, fingerprint: fingerprint(hash) };
          },
          async () => {
            const hash = createHash('sha256');
            for await (const chunk of partBytes(part.file)) hash.update(chunk as Buffer);
            return fingerprint(hash);
          },
        )
        : { ...(await upload(partBytes(part.file))), replayed: false };
      void reply.header('location', `/api/v1/files/${(outcome.body as { id: string }).id}`);
      return await sendOutcome(reply, outcome);
    } catch (error) {
      // A client still sending a refused upload (one too large, say) reads no answer from a
      // closed connection: read and drop the rest first, up to a bound; past it, close after answering.
      if (!(await discardRest(request.raw, 2 * deps.maxUploadBytes, DISCARD_TIMEOUT_MS))) void reply.header('connection', 'close');
      throw error;
    }
  });

  app.get<{ Params: { id: string } }>('/api/v1/files/:id', { preHandler: deps.authenticate }, async (request) =>
    deps.files.get(callerOf(request).account, request.params.id),
  );

  app.get('/api/v1/files', { preHandler: deps.authenticate }, async (request) => {
    const query = queryReader(request.query, ['limit', 'cursor']);
    const limit = query.limit();
    const cursor = query.cursor();
    query.done();
    return deps.files.list(callerOf(request).account, limit, cursor);
  });

  app.delete<{ Params: { id: string } }>('/api/v1/files/:id', { preHandler: deps.authenticate }, async (request) => {
    return deps.files.delete(callerOf(request).account, request.params.id);
  });
}
