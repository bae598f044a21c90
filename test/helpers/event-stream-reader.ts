/** One frame of a `text/event-stream` body, as sent (the fields it has; comments as `comment`). */
export interface Frame {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comment?: string;
}

/**
 * Opens `url` as an event stream over real HTTP and reads its frames as they come: a test's view of
 * what the server sends, frame by frame (comments included), not an EventSource.
 */
export async function openEventStream(url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const frames: Frame[] = [];
  let buffer = '';
  let done = false;
  let error: unknown = null;
  let wake = null as (() => void) | null;
  const ended = (async () => {
    if (!response.body || !response.headers.get('content-type')?.startsWith('text/event-stream')) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const text = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const frame: Frame = {};
          for (const line of text.split('\n')) {
            const colon = line.indexOf(':');
            const field = line.slice(0, colon);
            const value = line.slice(colon + 1).replace(/^ /, '');
            if (colon === 0) frame.comment = value;
            else if (field === 'id' || field === 'event' || field === 'data' || field === 'retry') frame[field] = value;
          }
          frames.push(frame);
          wake?.();
        }
      }
    } catch (caught) {
      // Not the test's own abort: the connection broke before the body ended.
      if (!abort.signal.aborted) error = caught;
    } finally {
      done = true;
      wake?.();
    }
  })();

  let read = 0;
  return {
    response,
    status: response.status,
    /** Every frame received so far. */
    frames,
    /** The event frames received so far (those with data), parsed. */
    events: () => frames.filter((frame) => frame.data !== undefined).map((frame) => ({ ...frame, body: JSON.parse(frame.data ?? 'null') as Record<string, unknown> })),
    /** The next frame not yet returned by `next` that passes `accept`, waiting up to `timeoutMs`. */
    async next(accept: (frame: Frame) => boolean = () => true, timeoutMs = 10_000): Promise<Frame> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (read < frames.length) {
          const frame = frames[read++]!;
          if (accept(frame)) return frame;
        }
        if (done) throw new Error(`The stream ended without the frame awaited; frames: ${JSON.stringify(frames)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`No frame awaited within ${timeoutMs} ms; frames: ${JSON.stringify(frames)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            wake = null;
            resolve();
          };
        });
      }
    },
    /** Resolves when the server has ended the body. */
    ended,
    get done() {
      return done;
    },
    /** Why the body broke off (null: it ended cleanly, or is still open, or the test closed it). */
    get error() {
      return error;
    },
    /** Cuts the connection, as a client that goes away. */
    close() {
      abort.abort();
    },
  };
}

export type OpenEventStream = Awaited<ReturnType<typeof openEventStream>>;

/** True for a frame that is an event (has data). */
export const isEvent = (frame: Frame): boolean => frame.data !== undefined;
