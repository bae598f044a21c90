import { ApiError, RivyaError, StreamUnavailableError, TimeoutError } from './errors.js';
import { EventStreamParser } from './event-stream-parser.js';
import { positionOfEventId } from './position.js';
import { backoffDelay, sleep } from './transport.js';

/** Options of `tasks.stream` and `events.stream`. */
export interface StreamOptions {
  /** Ends the stream (the iteration throws the signal's reason). Breaking out of `for await` ends it too. */
  signal?: AbortSignal;
  /**
   * Reconnects in a row that may fail (network error, 429, 5xx, a silent connection) before the
   * iteration throws the last failure (default 10: about a minute of outage is waited out). A
   * connection that delivers anything, a heartbeat included, starts the count again.
   */
  maxRetries?: number;
  /**
   * How long a connection may stay silent, in milliseconds — waiting for its headers, or between
   * two messages (the server sends a heartbeat every 15 s) — before it is dropped and resumed
   * (default: the client's `timeout`, 60 000; 0 or Infinity: never).
   */
  timeout?: number;
  /**
   * Called each time a connection opens — the first, and each resume — once the server streams:
   * from then on nothing is missed (a live stream starts from that moment).
   */
  onConnect?: () => void;
}

/** The shape every streamed event has. */
interface StreamedEvent {
  id: string;
  type: string;
}

export interface ResumableStreamSettings<E extends StreamedEvent> {
  /**
   * Opens one connection, resuming after `lastEventId` (null: from the start the route defines);
   * null when the server says there is nothing more to stream (204).
   */
  open(lastEventId: string | null, signal: AbortSignal): Promise<ReadableStream<Uint8Array> | null>;
  /** The id to resume after on the first connection. */
  after: string | null;
  signal: AbortSignal | undefined;
  maxRetries: number;
  /** Milliseconds of silence tolerated; null for none. */
  timeout: number | null;
  /** The event after which the stream ends (a task's terminal event); never, when absent. */
  isLast?: (event: E) => boolean;
  onConnect?: (() => void) | undefined;
  /** Told the position of each event id the server sends (an event seen at a position proves the account got that far). */
  onPosition?: ((position: number) => void) | undefined;
}

/** Statuses worth a reconnect: the server or a proxy is busy or restarting. */
const RECONNECT_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** An event whose data is not JSON: the server is not speaking this API; no reconnect mends that. */
class MalformedEventError extends RivyaError {
  override name = 'MalformedEventError';
}

/**
 * The wait before reconnect number `failures` (from 0): the server's `Retry-After` if it sent
 * one; else its `retry:` time, doubled on each failure in a row (up to 8 s, or the `retry:` time
 * if longer); else the client's usual backoff.
 */
function reconnectDelay(failures: number, retryMs: number | null, retryAfterSeconds: number | null): number {
  if (retryAfterSeconds !== null || retryMs === null) return backoffDelay(failures, retryAfterSeconds);
  return Math.min(Math.max(retryMs, 8000), retryMs * 2 ** failures);
}

/**
 * The events of a Server-Sent Events route, resumed across dropped connections like the
 * standard's `EventSource`: each reconnect sends `Last-Event-ID` with the id of the last event
 * seen, waits the server's `retry:` (or a backoff, or `Retry-After`), and an event seen before a
 * reconnect is not yielded again. Consumer time between events does not count as silence.
 */
export async function* resumableEventStream<E extends StreamedEvent>(settings: ResumableStreamSettings<E>): AsyncGenerator<E, void, undefined> {
  const { signal } = settings;
  let lastEventId = settings.after;
  let lastPosition = lastEventId === null ? null : positionOfEventId(lastEventId);
  let retryMs: number | null = null;
  let failures = 0;
  for (;;) {
    signal?.throwIfAborted();
    const connection = new AbortController();
    const onAbort = () => connection.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const disarm = () => clearTimeout(timer);
    const arm = () => {
      disarm();
      if (settings.timeout !== null) {
        const limit = settings.timeout;
        timer = setTimeout(() => connection.abort(new TimeoutError(`The event stream was silent for ${limit} ms.`)), limit);
      }
    };
    /** Events parsed from the last chunk, each with its frame's `id:`. */
    const queue: { event: E; id: string }[] = [];
    const parser = new EventStreamParser(
      {
        onEvent: (message) => {
          let event: E;
          try {
            event = JSON.parse(message.data) as E;
          } catch (error) {
            throw new MalformedEventError(`The event stream sent a ${message.event} event whose data is not JSON.`, { cause: error });
          }
          queue.push({ event, id: message.id });
        },
        onRetry: (milliseconds) => (retryMs = milliseconds),
      },
      lastEventId ?? '',
    );
    let failure: unknown = null;
    let retryAfter: number | null = null;
    try {
      arm();
      const body = await settings.open(lastEventId, connection.signal);
      // 204: the server has nothing more for this stream (a task that ended before the resume point).
      if (body === null) return;
      settings.onConnect?.();
      arm();
      const reader = body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          // Something came (an event or a heartbeat): the connection works.
          failures = 0;
          arm();
          parser.push(value);
          while (queue.length > 0) {
            const { event, id } = queue.shift()!;
            const position = positionOfEventId(id || String(event.id));
            if (position !== null) settings.onPosition?.(position);
            // Already seen before a reconnect (a server that repeats the current state): skip it.
            if (position !== null && lastPosition !== null && position <= lastPosition) continue;
            if (position !== null) lastPosition = position;
            disarm();
            yield event;
            if (settings.isLast?.(event)) return;
            arm();
          }
          // Where to resume: the stream's last event ID, which a frame without data may also set.
          if (parser.lastEventId) {
            lastEventId = parser.lastEventId;
            const position = positionOfEventId(lastEventId);
            if (position !== null && (lastPosition === null || position > lastPosition)) {
              lastPosition = position;
              settings.onPosition?.(position);
            }
          }
        }
      } finally {
        void reader.cancel().catch(() => undefined);
      }
      failure = new RivyaError('The event stream ended before its last event.');
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const reconnectable =
        !(error instanceof StreamUnavailableError) && !(error instanceof MalformedEventError) &&
        (!(error instanceof ApiError) || RECONNECT_STATUSES.has(error.status));
      if (!reconnectable) throw error;
      failure = error;
      if (error instanceof ApiError) retryAfter = error.retryAfter;
    } finally {
      disarm();
      signal?.removeEventListener('abort', onAbort);
      connection.abort();
    }
    if (failures >= settings.maxRetries) throw failure;
    await sleep(reconnectDelay(failures, retryMs, retryAfter), signal);
    failures++;
  }
}
