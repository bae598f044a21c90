/**
 * `Rivya-Position`: how far through its account's history an answer is. Task and account answers
 * carry it, and an event's id holds its position (`evt_` + 12 digits). A client that sends back
 * the largest it has received is never answered with an older state, whichever API process
 * answers: it reads its own writes.
 */
export const POSITION_HEADER = 'rivya-position';

/** The position of an `evt_…` id in its account's log, or null for another kind of id. */
export function positionOfEventId(id: string): number | null {
  const match = /^evt_(\d{12})/.exec(id);
  return match ? Number(match[1]) : null;
}

/** A `Rivya-Position` header's value, or null when absent or not a whole number the server could have sent. */
export function positionOfHeader(value: string | null): number | null {
  if (value === null || !/^\d{1,16}$/.test(value)) return null;
  const position = Number(value);
  return position <= Number.MAX_SAFE_INTEGER ? position : null;
}

/** The largest position one client has received; it only grows. */
export class SeenPosition {
  #largest = 0;

  get value(): number {
    return this.#largest;
  }

  /** Takes a position received (from an answer's header or an event's id); a smaller one changes nothing. */
  raise(position: number | null): void {
    if (position !== null && position > this.#largest) this.#largest = position;
  }

  /** Sets the request header once a position has been received. */
  send(headers: Record<string, string>): void {
    if (this.#largest > 0) headers[POSITION_HEADER] = String(this.#largest);
  }
}
