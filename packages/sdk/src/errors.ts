/**
 * Errors of the Rivya API, one class per contract error code, each carrying the HTTP `status`,
 * the `code`, the server's `requestId` and `details`. Branch with `instanceof` or on `code`.
 */

/** Every error code of the contract, with its HTTP status. */
export const ERROR_STATUSES = {
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  insufficient_credits: 402,
  not_found: 404,
  idempotency_conflict: 409,
  invalid_state: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUSES;

/** One problem in a request, named by its path (`params.n_frames`). */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** The base of every error this SDK throws. */
export class RivyaError extends Error {
  override name = 'RivyaError';
  /**
   * The `Idempotency-Key` a failed POST was sent with. The request may have taken effect (an
   * answer lost, a timeout): sending it again with `{ idempotencyKey }` set to this cannot do it twice.
   */
  idempotencyKey?: string;
}

/** The API answered with its error envelope `{error: {code, message, details, request_id}}`. */
export class ApiError extends RivyaError {
  override name = 'ApiError';
  readonly status: number;
  /** An `ErrorCode`, or `http_<status>` for an answer without the envelope. */
  readonly code: string;
  readonly requestId: string | null;
  readonly details: unknown;
  readonly headers: Headers;

  constructor(status: number, code: string, message: string, requestId: string | null, details: unknown, headers: Headers) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.details = details;
    this.headers = headers;
  }

  /** Seconds to wait before trying again (`Retry-After`: rate limits, unavailability, a key in flight), when the server said. */
  get retryAfter(): number | null {
    return parseRetryAfter(this.headers.get('retry-after'));
  }
}

export class ValidationError extends ApiError {
  override name = 'ValidationError';
  /** Each problem found, by path. */
  declare readonly details: ValidationIssue[];

  constructor(status: number, code: string, message: string, requestId: string | null, details: unknown, headers: Headers) {
    super(status, code, message, requestId, Array.isArray(details) ? details : [], headers);
  }
}
export class AuthenticationError extends ApiError {
  override name = 'AuthenticationError';
}
/** A request the caller may not make this way: a console session's state-changing request without its CSRF token, or from another site. */
export class ForbiddenError extends ApiError {
  override name = 'ForbiddenError';
}
export class InsufficientCreditsError extends ApiError {
  override name = 'InsufficientCreditsError';
}
export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
}
export class IdempotencyConflictError extends ApiError {
  override name = 'IdempotencyConflictError';
}
export class InvalidStateError extends ApiError {
  override name = 'InvalidStateError';
}
export class PayloadTooLargeError extends ApiError {
  override name = 'PayloadTooLargeError';
}
export class RateLimitError extends ApiError {
  override name = 'RateLimitError';
}
export class InternalServerError extends ApiError {
  override name = 'InternalServerError';
}
export class ServiceUnavailableError extends ApiError {
  override name = 'ServiceUnavailableError';
}

/** The request never got an answer (network failure), even after retries. */
export class ConnectionError extends RivyaError {
  override name = 'ConnectionError';
  constructor(
    message: string,
    /** The URL the request was sent to (which service could not be reached). */
    readonly url: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
/** The request took longer than the client's `timeout`. */
export class TimeoutError extends RivyaError {
  override name = 'TimeoutError';
}

/**
 * The server answered a stream request without an event stream (`text/event-stream`): a server
 * or proxy that does not stream this route. `tasks.run` then falls back to long-polling.
 */
export class StreamUnavailableError extends RivyaError {
  override name = 'StreamUnavailableError';
}

/** `tasks.run` ended with a task that failed or was canceled. */
export class TaskFailedError extends RivyaError {
  override name = 'TaskFailedError';
  constructor(readonly task: { id: string; status: string; error: { code: string; message: string } | null }) {
    super(`Task ${task.id} ${task.status}: ${task.error?.message ?? 'no reason given'} (${task.error?.code ?? task.status})`);
  }
  get code(): string {
    return this.task.error?.code ?? this.task.status;
  }
}

const CLASSES: Record<ErrorCode, typeof ApiError> = {
  validation_failed: ValidationError,
  unauthorized: AuthenticationError,
  forbidden: ForbiddenError,
  insufficient_credits: InsufficientCreditsError,
  not_found: NotFoundError,
  idempotency_conflict: IdempotencyConflictError,
  invalid_state: InvalidStateError,
  payload_too_large: PayloadTooLargeError,
  rate_limited: RateLimitError,
  internal_error: InternalServerError,
  service_unavailable: ServiceUnavailableError,
};

/** The error for an API answer: the class of its code (or a plain `ApiError` for an unknown one). */
export function errorFromResponse(status: number, body: unknown, headers: Headers): ApiError {
  const envelope = (body as { error?: { code?: unknown; message?: unknown; details?: unknown; request_id?: unknown } } | null)?.error;
  const code = typeof envelope?.code === 'string' ? envelope.code : `http_${status}`;
  const message = typeof envelope?.message === 'string' ? envelope.message : `HTTP ${status}`;
  const requestId = typeof envelope?.request_id === 'string' ? envelope.request_id : headers.get('x-request-id');
  const Class = Object.hasOwn(CLASSES, code) ? CLASSES[code as ErrorCode] : status >= 500 ? InternalServerError : ApiError;
  return new Class(status, code, message, requestId, envelope?.details ?? null, headers);
}

export function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - Date.now()) / 1000);
}
