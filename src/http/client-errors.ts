import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { newId } from '../ids.js';
import { errorBody } from './error-envelope.js';

/** Node's HTTP parser's errors carry a code (`HPE_…`, `ERR_HTTP_REQUEST_TIMEOUT`). */
type ClientError = Error & { code?: string };

/** Node's request head limit (`--max-http-header-size`, default 16 KiB). */
const HEAD_LIMIT_KIB = 16;

function describe(error: ClientError): string {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return `The request head (request line and headers) is larger than ${HEAD_LIMIT_KIB} KiB.`;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'The request was not received in full in time.';
    case 'HPE_INVALID_METHOD':
      return 'Unknown HTTP method.';
    default:
      return `The request is not valid HTTP/1.1 (${error.code ?? 'unreadable'}).`;
  }
}

/** Writes an answer in the contract's envelope straight to `socket`, then closes it once flushed. */
function answerOnSocket(socket: Duplex, code: ErrorCode, message: string, details: unknown, requestId: string): void {
  const status = ERROR_CODES[code].status;
  const body = JSON.stringify(errorBody(code, message, details, requestId));
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n`;
  // Closed once the answer is flushed: destroying at once may drop it.
  socket.end(head + body, () => socket.destroy());
}

/**
 * Answers a request Node's HTTP parser refused before it reached the app (an unknown method, a
 * malformed request line or header, a head over 16 KiB, a request not received in time): in the
 * contract's envelope, `400 validation_failed`, with a request id of its own, then closes the
 * connection (the parser cannot read past the error). Nothing is written over a response
 * already under way, or to a socket already gone.
 */
export function createClientErrorHandler(logger: FastifyBaseLogger) {
  return function onClientError(error: ClientError, socket: Socket): void {
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const requestId = newId('req');
    const message = describe(error);
    logger.info({ request_id: requestId, status: ERROR_CODES.validation_failed.status, parser_error: error.code }, 'request refused by the HTTP parser');
    answerOnSocket(socket, 'validation_failed', message, [{ path: '', message }], requestId);
  };
}

/**
 * Answers `CONNECT` (a proxy's method, which Node hands to a listener of its own and otherwise
 * drops without a word) as any route this service does not have: `404 not_found` in the envelope.
 */
export function createConnectHandler(logger: FastifyBaseLogger) {
  return function onConnect(request: IncomingMessage, socket: Duplex): void {
    const requestId = newId('req');
    logger.info({ request_id: requestId, method: request.method, status: ERROR_CODES.not_found.status }, 'CONNECT refused');
    socket.on('error', () => socket.destroy());
    answerOnSocket(socket, 'not_found', `No route ${request.method ?? 'CONNECT'} ${request.url ?? ''}.`, null, requestId);
  };
}
