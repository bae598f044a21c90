import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, DependencyUnavailableError, ERROR_CODES, type ErrorCode } from '../errors.js';

/** The contract's error body. */
export function errorBody(code: ErrorCode, message: string, details: unknown, requestId: string) {
  return { error: { code, message, details: details ?? null, request_id: requestId } };
}

/** Maps any error thrown while answering to the contract's envelope; internals are logged, never sent. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const fastifyError = error as Partial<FastifyError>;
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', 'The request body is larger than 1 MiB.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('validation_failed', 'Send the body as JSON with "Content-Type: application/json".', {
        details: [{ path: '', message: 'Unsupported Content-Type.' }],
      });
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new ApiError('validation_failed', 'Send one part named "file" as multipart/form-data.', {
        details: [{ path: 'file', message: fastifyError.message ?? 'Bad multipart body.' }],
      });
    case 'FST_REQ_FILE_TOO_LARGE':
      return new ApiError('payload_too_large', 'The file is larger than any kind of file may be.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('validation_failed', 'The Content-Length does not match the body.');
    // The router's own: a path that is not valid percent-encoded UTF-8, or a path segment (an id)
    // longer than any id; either names nothing, like any unknown id.
    case 'FST_ERR_BAD_URL':
      return new ApiError('not_found', 'No such resource: the path is not valid percent-encoded UTF-8.');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError('not_found', 'No such resource: the path holds a segment longer than any id.');
    default:
      break;
  }
  // Adapters translate their dependency's failures; nothing else is recognised as one.
  if (error instanceof DependencyUnavailableError) {
    return new ApiError('service_unavailable', 'The service cannot reach its store right now; retry shortly.', {
      headers: { 'retry-after': '5' },
    });
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message = fastifyError.message ?? 'Bad request.';
    return new ApiError('validation_failed', message, { details: [{ path: '', message }] });
  }
  return new ApiError('internal_error', 'Something went wrong on our side; the error was logged.');
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const apiError = toApiError(error);
  if (apiError.code === 'internal_error') request.log.error({ err: error }, 'internal error');
  else if (error instanceof DependencyUnavailableError) request.log.warn({ dependency: error.dependency, err: error.cause }, 'dependency unavailable');
  // Also set here: an error raised before the request's hooks (by the router) has not been through them.
  void reply.header('x-request-id', request.id);
  for (const [name, value] of Object.entries(apiError.headers)) void reply.header(name, value);
  return reply
    .code(ERROR_CODES[apiError.code].status)
    .send(errorBody(apiError.code, apiError.message, apiError.details, request.id));
}
