import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { ApiError } from '../errors.js';

export interface EventStreamsConfig {
  /** A `: heartbeat` comment goes to every open stream this often (one timer for all of them). */
  heartbeatMs: number;
  /** Open streams per API key in this process; one more is `429 rate_limited` (scope `streams`). */
  maxPerKey: number;
  /** A stream whose client leaves more than this unread is dropped (it resumes with `Last-Event-ID`). */
  maxBufferedBytes: number;
  /**
   * A stream open this long ends at the next heartbeat, and its client resumes where it was with
   * `Last-Event-ID` (an EventSource does so by itself): no connection stays pinned to one process for ever.
   */
  maxDurationMs: number;
  /** The reconnection delay clients are told (`retry:`), in ms. */
  retryMs: number;
  /** Aborted when the process shuts down: every stream ends, none holds the process open. */
  shutdown: AbortSignal;
}

/** One open `text/event-stream` response. */
export interface EventStream {
  /** The response body: send it as the reply's payload. */
  readonly body: Readable;
  /** False once the stream has ended, been dropped or closed by its client. */
  readonly open: boolean;
  /** Queues bytes for the client; a client that reads too slowly is dropped instead (false). */
  write(chunk: Buffer): boolean;
  /**
   * Resolves once what is queued for the client is down to a quarter of the bound (or the stream is
   * over): a writer with much to send (a backlog) waits on it rather than be dropped for it.
   */
  drained(): Promise<void>;
  /**
   * The position (an event id) the client should resume from, though no event frame names it (the
   * stream skipped events its client did not ask for): sent as a bare `id:` with the next
   * heartbeat, or before the stream ends. Null takes it back (an event frame sent since names a later one).
   */
  mark(id: string | null): void;
  /** Ends the response cleanly once what was written has been sent (after the marked position, if any). */
  end(): void;
  /** Runs `listener` once when the stream is over, however it ended. */
  onClose(listener: () => void): void;
}

const HEARTBEAT = Buffer.from(': heartbeat\n\n');

/**
 * The open event streams of this process: their headers and first frame, one heartbeat timer for
 * all of them (none while there are none; it also ends the streams past their age), the per-key
 * bound, a bounded buffer each, and their end at shutdown. The bound is per process: with N API processes a key may hold N times as many.
 */
export function createEventStreams(config: EventStreamsConfig) {
  /** The open streams, and when each ends for its age. */
  const streams = new Map<EventStream, number>();
  const perKey = new Map<string, number>();
  /** Positions to send with the next heartbeat (`mark`). */
  const marks = new Map<EventStream, string>();
  let heartbeat: NodeJS.Timeout | null = null;

  /** Each stream's check that its caller's credential still works, and whether one is under way. */
  const rechecks = new Map<EventStream, { check: () => Promise<boolean>; pending: boolean }>();
  const recheck = (stream: EventStream) => {
    const entry = rechecks.get(stream);
    if (!entry || entry.pending) return;
    entry.pending = true;
    void entry.check().then((valid) => {
      if (!valid) stream.end();
    }, () => {}).finally(() => {
      entry.pending = false;
    });
  };
  const beat = () => {
    const now = Date.now();
    for (const [stream, endsAt] of streams) {
      recheck(stream);
      if (now >= endsAt) stream.end();
      else stream.write(marks.has(stream) ? Buffer.from(`id: ${marks.get(stream)}\n${HEARTBEAT.toString()}`) : HEARTBEAT);
      marks.delete(stream);
    }
  };
  config.shutdown.addEventListener('abort', () => {
    for (const stream of [...streams.keys()]) stream.end();
  }, { once: true });

  return {
    /**
     * Opens a stream for the caller's key (`429 rate_limited`, scope `streams`, past its bound)
     * on `reply`, whose headers it sets; its first frame is the `retry:` hint. The caller sends
     * `body` as the payload (or destroys it, if it answers otherwise).
     */
    open(reply: FastifyReply, keyId: string, stillAuthenticated?: () => Promise<boolean>): EventStream {
      const count = perKey.get(keyId) ?? 0;
      if (count >= config.maxPerKey) {
        throw new ApiError('rate_limited', `This API key already has ${config.maxPerKey} open event streams; close one first.`, {
          details: { scope: 'streams', limit: config.maxPerKey },
          headers: { 'retry-after': String(Math.max(1, Math.ceil(config.retryMs / 1000))) },
        });
      }
      perKey.set(keyId, count + 1);
      const body = new Readable({ read() {} });
      const listeners: (() => void)[] = [];
      let ended = false;
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        ended = true;
        streams.delete(stream);
        marks.delete(stream);
        rechecks.delete(stream);
        const left = (perKey.get(keyId) ?? 1) - 1;
        if (left > 0) perKey.set(keyId, left);
        else perKey.delete(keyId);
        if (streams.size === 0 && heartbeat) {
          clearInterval(heartbeat);
          heartbeat = null;
        }
        for (const listener of listeners.splice(0)) listener();
      };
      const stream: EventStream = {
        body,
        get open() {
          return !ended;
        },
        write(chunk) {
          if (ended) return false;
          if (body.readableLength + reply.raw.writableLength > config.maxBufferedBytes) {
            // The client does not read: drop it rather than hold its events in memory.
            reply.log.info({ buffered_bytes: body.readableLength + reply.raw.writableLength }, 'event stream dropped: its client does not read');
            ended = true;
            reply.raw.destroy();
            body.destroy();
            return false;
          }
          body.push(chunk);
          return true;
        },
        drained() {
          const low = config.maxBufferedBytes / 4;
          const buffered = () => body.readableLength + reply.raw.writableLength;
          if (ended || buffered() <= low) return Promise.resolve();
          return new Promise<void>((resolve) => {
            const check = () => {
              if (!ended && buffered() > low) return;
              clearInterval(poll);
              reply.raw.off('drain', check);
              resolve();
            };
            // 'drain' when the socket empties; the poll for what still sits in the body, and for the end.
            const poll = setInterval(check, 20);
            reply.raw.on('drain', check);
          });
        },
        mark(id) {
          if (ended) return;
          if (id === null) marks.delete(stream);
          else marks.set(stream, id);
        },
        end() {
          if (ended) return;
          const mark = marks.get(stream);
          marks.delete(stream);
          if (mark !== undefined) stream.write(Buffer.from(`id: ${mark}\n\n`));
          ended = true;
          body.push(null);
        },
        onClose(listener) {
          if (closed) listener();
          else listeners.push(listener);
        },
      };
      body.once('close', close);
      reply.raw.once('close', close);
      streams.set(stream, Date.now() + config.maxDurationMs);
      // A stream outlives no sign-out and no revoke: at each heartbeat its credential is checked again.
      if (stillAuthenticated) rechecks.set(stream, { check: stillAuthenticated, pending: false });
      heartbeat ??= setInterval(beat, config.heartbeatMs).unref();
      void reply
        .code(200)
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no')
        .header('connection', 'close');
      // The body is the stream itself, ended by closing the connection: no chunked framing around each frame.
      reply.raw.removeHeader('transfer-encoding');
      body.push(Buffer.from(`retry: ${config.retryMs}\n\n`));
      return stream;
    },

    /** How many streams are open in this process. */
    size(): number {
      return streams.size;
    },
  };
}

export type EventStreams = ReturnType<typeof createEventStreams>;
