/**
 * The one error model of Rivya, shared by the server, the SDK and the CLI.
 * Codes are a closed union; `ERROR_CODES` maps each to its HTTP status, whether a client
 * may retry it, and the CLI's exit code. Branch on `code`, never on message text.
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, retryable: false, exitCode: 2 },
  unauthorized: { status: 401, retryable: false, exitCode: 3 },
  forbidden: { status: 403, retryable: false, exitCode: 3 },
  insufficient_credits: { status: 402, retryable: false, exitCode: 4 },
  not_found: { status: 404, retryable: false, exitCode: 5 },
  idempotency_conflict: { status: 409, retryable: false, exitCode: 6 },
  invalid_state: { status: 409, retryable: false, exitCode: 6 },
  payload_too_large: { status: 413, retryable: false, exitCode: 2 },
  rate_limited: { status: 429, retryable: true, exitCode: 7 },
  internal_error: { status: 500, retryable: true, exitCode: 1 },
  service_unavailable: { status: 503, retryable: true, exitCode: 8 },
} as const satisfies Record<string, { status: number; retryable: boolean; exitCode: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One problem found in a request, named by its path (`params.n_frames`). */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** An error that becomes the contract's envelope `{error: {code, message, details, request_id}}`. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: { details?: unknown; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = options.details ?? null;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

/**
 * A backing service (database, cache, object store) cannot be reached now. Thrown only by the
 * adapter of that service, which alone knows how its library signals an outage; `dependency`
 * names it as `/readyz` does (`database`, `rate_limiter`, `storage_<target>`), `cause` is the
 * library's error. Answered as `503 service_unavailable` with `Retry-After`; the service
 * recovers when the dependency does. Any other error stays what it is (a bug is a 500).
 */
export class DependencyUnavailableError extends Error {
  constructor(readonly dependency: string, options: { cause?: unknown } = {}) {
    super(`${dependency} is unavailable`, options);
    this.name = 'DependencyUnavailableError';
  }
}

export function validationFailed(issues: readonly ValidationIssue[]): ApiError {
  const first = issues[0];
  const message =
    issues.length === 1 && first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : `The request has ${issues.length} problems; see details.`;
  return new ApiError('validation_failed', message, { details: issues });
}

export function notFound(what: string): ApiError {
  return new ApiError('not_found', `${what} not found.`);
}
