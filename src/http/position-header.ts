import type { FastifyReply, FastifyRequest } from 'fastify';
import { validationFailed } from '../errors.js';

/**
 * `Rivya-Position`: how far through its account's history an answer is. Task and account answers
 * carry it; a client sends back the largest it has received (the SDK does by itself), and no API
 * process then answers with anything older than what it has already been shown.
 */
export const POSITION_HEADER = 'rivya-position';

/** The largest position this server will take (seqs are bigints; beyond this a JSON number is inexact). */
const MAX_POSITION = Number.MAX_SAFE_INTEGER;

/** The position the request proves its client has seen (0 without the header). */
export function seenPosition(request: FastifyRequest): number {
  const header = request.headers[POSITION_HEADER];
  if (header === undefined) return 0;
  const value = typeof header === 'string' && /^\d{1,16}$/.test(header) ? Number(header) : NaN;
  if (!(value <= MAX_POSITION)) {
    throw validationFailed([{ path: 'Rivya-Position', message: 'Must be the Rivya-Position of an earlier answer: a whole number, sent once.' }]);
  }
  return value;
}

/** Marks the answer with the position it is current through. */
export function sendPosition(reply: FastifyReply, position: number): void {
  void reply.header(POSITION_HEADER, String(position));
}
