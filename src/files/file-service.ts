import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileTypeFromBuffer } from 'file-type';
import pLimit from 'p-limit';
import type { UploadPolicy } from '../catalog/models.js';
import type { ReferenceMediaItem } from '../catalog/validate-task-request.js';
import type { Account, TaskReferenceFile } from '../domain.js';
import { ApiError, validationFailed, type ValidationIssue } from '../errors.js';
import { newId } from '../ids.js';
import { probeMedia } from '../media/probe-video.js';
import type { Page } from '../pagination.js';
import { ObjectTooLargeError, type ObjectStore } from '../storage/port.js';
import type { DurationTokens } from './duration-token.js';
import type { FileRecord, FileStore } from './file-store.js';
import { canonicalMimeType, EXTENSIONS, kindOf, SUPPORTED_TYPES, type FileLimits } from './media-types.js';

/** The public File object. */
export interface FileView {
  id: string;
  url: string;
  kind: FileRecord['kind'];
  name: string;
  mimeType: string;
  sizeBytes: number;
  width?: number;
  height?: number;
  durationSeconds?: number;
  durationToken?: string;
  created_at: string;
  expires_at: string;
}

export interface FileServiceDeps {
  files: FileStore;
  /** Every upload target; uploads go to `uploadTarget`. */
  stores: ReadonlyMap<string, ObjectStore>;
  uploadTarget: string;
  limits: FileLimits;
  retentionSeconds: number;
  tokens: DurationTokens;
  ffmpegPath: string;
}

export interface IncomingFile {
  stream: Readable;
  filename: string;
  /** The part's declared Content-Type, if any. */
  declaredType: string | undefined;
}

// Types that declare nothing about media. A part without a Content-Type header reads as
// text/plain (RFC 7578's default), so that one cannot count as a declaration either.
/** ffmpeg could not read the file: the upload is damaged or not what it claims (not a store failure). */
class ProbeError extends Error {
  constructor(cause: unknown) {
    super('The file could not be read.', { cause });
  }
}

const UNDECLARED = new Set(['', 'application/octet-stream', 'binary/octet-stream', 'text/plain']);

/** The client's file name as shown back: control characters removed, at most 255 characters. */
function cleanName(name: string): string {
  // Cut by characters: a cut by UTF-16 units may split a pair, and half a pair is not text (stored as U+FFFD).
  return Array.from(name.replace(/[\u0000-\u001f\u007f]/g, '').trim()).slice(0, 255).join('');
}

/** A file name safe as the last segment of an object key. */
function safeName(name: string, extension: string): string {
  const base = name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80);
  return `${base || 'file'}.${extension}`;
}

const SNIFF_BYTES = 4100;

/** Reads the first `bytes` bytes of a stream (fewer if it ends sooner) without ending it. */
async function readHead(stream: Readable, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  while (size < bytes) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      size += chunk.length;
      continue;
    }
    // A stream that failed before we listened has no error event left to give: its error is the answer.
    if (stream.errored) throw stream.errored;
    if (stream.readableEnded || stream.destroyed) break;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        stream.off('readable', done).off('end', done).off('error', fail);
        resolve();
      };
      const fail = (error: Error) => {
        stream.off('readable', done).off('end', done);
        reject(error);
      };
      stream.once('readable', done).once('end', done).once('error', fail);
    });
  }
  return Buffer.concat(chunks);
}

/** Reads a stream to its end, so the client's request is consumed and it gets our answer. */
async function drain(stream: Readable): Promise<void> {
  stream.resume();
  await new Promise<void>((resolve) => {
    if (stream.readableEnded || stream.destroyed) return resolve();
    stream.once('end', resolve).once('close', resolve).once('error', () => resolve());
  });
}

/** The Files API: streaming uploads with sniffed types, reads, deletes, and reference resolution for tasks. */
export function createFileService(deps: FileServiceDeps) {
  // ffmpeg probes run a few at a time, so a burst of uploads cannot start dozens of processes.
  const probeSlots = pLimit(4);
  const store = (target: string): ObjectStore => {
    const found = deps.stores.get(target);
    if (!found) throw new Error(`No object store for target ${target}.`);
    return found;
  };

  async function present(file: FileRecord): Promise<FileView> {
    return {
      id: file.id,
      url: await store(file.target).signedUrl(file.key, file.expiresAt),
      kind: file.kind,
      name: file.name,
      mimeType: file.mimeType,
      sizeBytes: file.sizeBytes,
      ...(file.width !== null ? { width: file.width } : {}),
      ...(file.height !== null ? { height: file.height } : {}),
      ...(file.durationSeconds !== null && file.kind !== 'image'
        ? {
            durationSeconds: file.durationSeconds,
            durationToken: deps.tokens.issue({ fileId: file.id, accountId: file.accountId, durationSeconds: file.durationSeconds }),
          }
        : {}),
      created_at: file.createdAt.toISOString(),
      expires_at: file.expiresAt.toISOString(),
    };
  }

  /** Measures a stored object with ffmpeg, from a private temporary copy. */
  async function measure(target: string, key: string): Promise<Awaited<ReturnType<typeof probeMedia>>> {
    return probeSlots(async () => {
      const object = await store(target).get(key);
      if (!object) throw new Error(`The object ${key} vanished before it was measured.`);
      const dir = await mkdtemp(join(tmpdir(), 'rivya-probe-'));
      try {
        const path = join(dir, 'media');
        await pipeline(object.body, createWriteStream(path));
        return await probeMedia(path, deps.ffmpegPath).catch((error: unknown) => {
          throw new ProbeError(error);
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  return {
    present,

    /**
     * Streams an upload to the object store. The type comes from the bytes; a declared type
     * that disagrees, or an unsupported one, is `validation_failed`; past the kind's limit the
     * upload is cut off with `payload_too_large`. On any failure nothing is left: no bytes, no row.
     */
    async upload(account: Account, incoming: IncomingFile): Promise<FileView> {
      // Sniff from the first bytes, however the network split them, then put them back in front
      // (a file smaller than that has ended already: its bytes are all in the head).
      const head = await readHead(incoming.stream, SNIFF_BYTES);
      const detected = await fileTypeFromBuffer(head);
      const body = incoming.stream.readableEnded ? Readable.from([head]) : incoming.stream;
      if (body === incoming.stream && head.length > 0) body.unshift(head);
      const sniffed = detected ? canonicalMimeType(detected.mime) : null;
      const kind = sniffed ? kindOf(sniffed) : null;
      const declared = incoming.declaredType ? canonicalMimeType(incoming.declaredType) : '';
      if (!sniffed || !kind) {
        await drain(body);
        throw validationFailed([{
          path: 'file',
          message: `Unsupported file type${sniffed ? ` ${sniffed}` : ''} (judged from its bytes). Supported: ${SUPPORTED_TYPES.join(', ')}.`,
        }]);
      }
      if (!UNDECLARED.has(declared) && declared !== sniffed) {
        await drain(body);
        throw validationFailed([{ path: 'file', message: `The file is declared as ${declared} but its bytes are ${sniffed}.` }]);
      }
      const id = newId('file');
      const extension = EXTENSIONS[sniffed] ?? 'bin';
      const key = `uploads/${account.id}/${id}/${safeName(incoming.filename, extension)}`;
      const target = deps.uploadTarget;
      let sizeBytes: number;
      try {
        ({ sizeBytes } = await store(target).put(key, body, { contentType: sniffed, maxBytes: deps.limits[kind] }));
      } catch (error) {
        await drain(body);
        if (error instanceof ObjectTooLargeError) {
          throw new ApiError('payload_too_large', `${kind === 'image' ? 'An' : 'A'} ${kind} may be at most ${deps.limits[kind]} bytes.`, {
            details: { kind, max_bytes: deps.limits[kind] },
          });
        }
        throw error;
      }
      try {
        const info = await measure(target, key).catch((error: unknown) => {
          if (error instanceof ProbeError) return null;
          throw error;
        });
        const needsDuration = kind === 'video' || kind === 'audio';
        if (!info || (needsDuration && info.durationSeconds === undefined) || (kind === 'image' && info.width === undefined)) {
          throw validationFailed([{ path: 'file', message: `The ${kind} could not be read; it may be damaged.` }]);
        }
        const file = await deps.files.insert(
          {
            id, accountId: account.id, kind, name: cleanName(incoming.filename) || `file.${extension}`, mimeType: sniffed,
            sizeBytes, width: info.width ?? null, height: info.height ?? null,
            durationSeconds: needsDuration ? (info.durationSeconds ?? null) : null, target, key,
          },
          deps.retentionSeconds,
        );
        return await present(file);
      } catch (error) {
        await store(target).delete(key).catch(() => {});
        throw error;
      }
    },

    async get(account: Account, id: string): Promise<FileView> {
      const file = await deps.files.get(account.id, id);
      if (!file) throw new ApiError('not_found', `File ${id} not found.`);
      return present(file);
    },

    async list(account: Account, limit: number, cursor: string | undefined): Promise<Page<FileView>> {
      const page = await deps.files.list(account.id, limit, cursor);
      return { ...page, data: await Promise.all(page.data.map(present)) };
    },

    /** Deletes the file's row and bytes; its URL and duration token stop working. */
    async delete(account: Account, id: string): Promise<{ id: string; deleted: true }> {
      const file = await deps.files.find(account.id, id);
      if (!file || file.expiresAt <= new Date()) throw new ApiError('not_found', `File ${id} not found.`);
      // Bytes first: if the store fails, the row (and the file) stays, and the client may retry.
      await store(file.target).delete(file.key);
      await deps.files.delete(file.id);
      return { id, deleted: true };
    },

    /** Deletes expired files, bytes first (a file whose bytes cannot be deleted now is retried next time). Returns how many. */
    async purgeExpired(): Promise<number> {
      let deleted = 0;
      for (const file of await deps.files.expired(100)) {
        try {
          await store(file.target).delete(file.key);
          if (await deps.files.delete(file.id)) deleted++;
        } catch {
          // The store is unreachable: the next sweep tries again.
        }
      }
      return deleted;
    },

    /**
     * Resolves a task's reference items to the caller's live files (API.md, referenceMediaItems):
     * an item names its file by `fileId`, or by a URL this server's Files API issued for it (both:
     * they must name the same file); the file must be a live file of `account` of a kind and type
     * `policy` takes; a kind or MIME type the item states must be the file's; video and audio
     * need the file's duration token. The item's own name is kept, else the file's.
     */
    async resolveReferences(account: Account, items: ReferenceMediaItem[], policy: UploadPolicy): Promise<TaskReferenceFile[]> {
      const issues: ValidationIssue[] = [];
      const resolved: TaskReferenceFile[] = [];
      const fileAt = async (url: string): Promise<FileRecord | null> => {
        for (const candidate of deps.stores.values()) {
          const key = candidate.keyFromUrl(url);
          const file = key ? await deps.files.findByObject(candidate.target, key) : null;
          if (file) return file;
        }
        return null;
      };
      for (const [index, item] of items.entries()) {
        const path = `params.referenceMediaItems[${index}]`;
        let file: FileRecord | null;
        if (item.fileId !== undefined) {
          file = await deps.files.get(account.id, item.fileId);
          if (!file) {
            issues.push({ path: `${path}.file_id`, message: 'Must be the id of one of your live files, returned by POST /api/v1/files.' });
            continue;
          }
          if (item.url !== undefined && (await fileAt(item.url))?.id !== file.id) {
            issues.push({ path: `${path}.url`, message: `Does not name file ${file.id}; send file_id alone, or the url of that same file.` });
          }
        } else {
          file = await fileAt(item.url);
          if (!file || file.accountId !== account.id) {
            issues.push({ path: `${path}.url`, message: 'Must be the url of one of your live files, returned by POST /api/v1/files.' });
            continue;
          }
        }
        if (item.kind !== undefined && item.kind !== file.kind) {
          issues.push({ path: `${path}.kind`, message: `The file is a ${file.kind}, not a ${item.kind}.` });
          continue;
        }
        if (!policy.kinds.some((k) => k.kind === file.kind && k.mime_types.includes(file.mimeType))) {
          const takes = policy.kinds.flatMap((k) => k.mime_types).join(', ');
          issues.push({ path: `${path}.${item.fileId !== undefined ? 'file_id' : 'url'}`, message: `The file is ${file.mimeType}; this model takes ${takes}.` });
          continue;
        }
        if (item.mimeType !== undefined && canonicalMimeType(item.mimeType) !== file.mimeType) {
          issues.push({ path: `${path}.mimeType`, message: `The file is ${file.mimeType}, not ${item.mimeType}.` });
        }
        if (file.kind === 'video' || file.kind === 'audio') {
          const claim = item.durationToken ? deps.tokens.read(item.durationToken) : null;
          if (!claim || claim.fileId !== file.id || claim.accountId !== account.id || claim.durationSeconds !== file.durationSeconds) {
            issues.push({ path: `${path}.durationToken`, message: 'Must be the durationToken issued for this file by /api/v1/files.' });
          }
        }
        resolved.push({
          fileId: file.id, kind: file.kind, name: item.name ?? file.name, mimeType: file.mimeType, target: file.target, key: file.key,
        });
      }
      if (issues.length > 0) throw validationFailed(issues);
      return resolved;
    },
  };
}

export type FileService = ReturnType<typeof createFileService>;

