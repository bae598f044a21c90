/**
 * A parser of `text/event-stream` (Server-Sent Events) as the HTML standard defines it
 * (§9.2.6 "Interpreting an event stream"), for response bodies read with `fetch` in any
 * runtime: UTF-8 decoded across chunk boundaries, a leading byte order mark dropped, lines
 * ended by CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the next are
 * one line end), `data:` lines joined with LF, `id:` kept for the events after it (an empty `id:`
 * clears it, one containing NUL is ignored), `retry:` digits only, comments (`: heartbeat`).
 */

/** One dispatched event. */
export interface ServerSentEvent {
  /** The `event:` field, `message` when the event had none. */
  event: string;
  /** The `data:` lines, joined with LF. */
  data: string;
  /** The last event ID in force when this event was dispatched (`''` when none). */
  id: string;
}

export interface EventStreamHandlers {
  onEvent(event: ServerSentEvent): void;
  /** A `retry:` field: the reconnection time the server asks for, in milliseconds. */
  onRetry?(milliseconds: number): void;
  /** A comment line (`: heartbeat` gives `' heartbeat'`). */
  onComment?(text: string): void;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * An incremental parser: `push` each chunk of the body as it arrives, `end` when the body ends
 * (an event not yet ended by a blank line is then discarded, as the standard says).
 */
export class EventStreamParser {
  readonly #handlers: EventStreamHandlers;
  readonly #decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  #bomChecked = false;
  /** Text of the line being read, not yet ended. */
  #pending = '';
  /** The previous chunk ended with CR: an LF opening the next one belongs to that line end. */
  #afterCr = false;
  #data = '';
  #hasData = false;
  #eventType = '';
  /** The last event ID buffer: set by `id:` lines. */
  #idBuffer = '';
  /** The stream's last event ID: the buffer as of the last blank line (an `id:` alone in its block counts too). */
  #lastEventId = '';

  /** `lastEventId`: the last event ID of an earlier connection of the same stream, kept until an `id:` field changes it. */
  constructor(handlers: EventStreamHandlers, lastEventId = '') {
    this.#handlers = handlers;
    this.#idBuffer = lastEventId;
    this.#lastEventId = lastEventId;
  }

  /**
   * The stream's last event ID, what a reconnection sends as `Last-Event-ID`: set at each blank
   * line from the last `id:` seen, even by a block without data (a server marks a position so).
   */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Feeds bytes (decoded as UTF-8, a character may be split across chunks) or already decoded text. */
  push(chunk: Uint8Array | string): void {
    let text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (!this.#bomChecked && text.length > 0) {
      this.#bomChecked = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.#lines(text);
  }

  /** The body ended: flushes the decoder; a line or event left unfinished is dropped. */
  end(): void {
    const rest = this.#decoder.decode();
    if (rest) this.push(rest);
    this.#pending = '';
    this.#data = '';
    this.#hasData = false;
    this.#eventType = '';
    this.#idBuffer = this.#lastEventId;
    this.#afterCr = false;
  }

  #lines(text: string): void {
    if (text.length === 0) return;
    let start = 0;
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code !== LF && code !== CR) continue;
      if (code === LF && index === 0 && this.#afterCr) {
        // The LF of a CRLF split across chunks: the line already ended at the CR.
        this.#afterCr = false;
        start = 1;
        continue;
      }
      this.#line(this.#pending + text.slice(start, index));
      this.#pending = '';
      if (code === CR && text.charCodeAt(index + 1) === LF) index++;
      start = index + 1;
    }
    // A chunk ending with CR may be followed by the LF of the same line end.
    this.#afterCr = text.charCodeAt(text.length - 1) === CR;
    if (start < text.length) this.#pending += text.slice(start);
  }

  #line(line: string): void {
    if (line === '') return this.#dispatch();
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.#handlers.onComment?.(line.slice(1));
      return;
    }
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#eventType = value;
        break;
      case 'data':
        this.#data += `${value}\n`;
        this.#hasData = true;
        break;
      case 'id':
        if (!value.includes('\u0000')) this.#idBuffer = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.#handlers.onRetry?.(Number(value));
        break;
      default:
      // Unknown fields are ignored.
    }
  }

  #dispatch(): void {
    this.#lastEventId = this.#idBuffer;
    if (!this.#hasData) {
      this.#eventType = '';
      return;
    }
    const event: ServerSentEvent = { event: this.#eventType || 'message', data: this.#data.slice(0, -1), id: this.#lastEventId };
    this.#data = '';
    this.#hasData = false;
    this.#eventType = '';
    this.#handlers.onEvent(event);
  }
}
