import type { TaskErrorCode } from '../domain.js';
import type { ProviderStep } from './port.js';
import { classifyUpstreamFailure } from './upstream-outcome.js';

/**
 * How an upstream call went wrong, decided by the provider that made it:
 * - `retryable`: nothing was decided upstream that we know of (5xx, 429, timeout, refused
 *   connection, an account problem such as a revoked key or an empty upstream balance); another
 *   account, or a later try, may succeed.
 * - `ambiguous`: the request may have been accepted (the connection broke or timed out after it
 *   was sent, or the answer was unreadable). Never failed over: only the same account, and only
 *   where it deduplicates, may be asked again.
 * - otherwise the request itself was refused and the task fails with `taskCode`.
 *
 * `message` is ours and safe to show; `detail` (the upstream's own words) goes to logs only.
 */
export class UpstreamError extends Error {
  readonly retryable: boolean;
  readonly ambiguous: boolean;
  readonly taskCode: TaskErrorCode;
  /** The upstream's `Retry-After`, in seconds, when it sent one. */
  readonly retryAfterSeconds: number | null;
  /** A short machine label for metrics and logs, e.g. `http_503`, `timeout`, `code_455`. */
  readonly reason: string;
  readonly detail: string;

  constructor(options: {
    message: string;
    reason: string;
    retryable: boolean;
    ambiguous?: boolean;
    taskCode?: TaskErrorCode;
    retryAfterSeconds?: number | null;
    detail?: string;
  }) {
    super(options.message);
    this.name = 'UpstreamError';
    this.reason = options.reason;
    this.retryable = options.retryable;
    this.ambiguous = options.ambiguous ?? false;
    this.taskCode = options.taskCode ?? 'upstream_error';
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
    this.detail = options.detail ?? '';
  }
}

/** Upstream text for logs: secrets-looking tokens masked, length bounded. */
export function redactUpstreamText(text: string, max = 500): string {
  return text
    .replace(/(bearer\s+)[\w.~+/=-]+/gi, '$1[redacted]')
    .replace(/([?&](?:sig|signature|token|key|api[-_]?key|x-amz-signature|x-amz-credential)=)[^&\s"']+/gi, '$1[redacted]')
    .replace(/\b(sk|kie|key)[-_][\w-]{8,}\b/gi, '[redacted]')
    .slice(0, max);
}

/**
 * The log fields of a failed upstream call: an `UpstreamError`'s reason and kind, with the
 * upstream's words masked; anything else (a cancel that threw) as the error itself.
 */
export function upstreamFailureFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof UpstreamError)) return { reason: 'error', err: error };
  return {
    reason: error.reason, retryable: error.retryable, ambiguous: error.ambiguous,
    retry_after_s: error.retryAfterSeconds, detail: redactUpstreamText(error.detail),
  };
}

/** A retryable refusal (overload, rate limit, an account problem): another account or a later try may work. */
export function unavailable(reason: string, retryAfterSeconds: number | null, detail: string): UpstreamError {
  return new UpstreamError({ message: 'The provider is unavailable.', reason, retryable: true, retryAfterSeconds, detail });
}

/** An answer that could not be read; `ambiguous` when it answered a create that may have succeeded. */
export function unreadable(reason: string, ambiguous = false, detail = ''): UpstreamError {
  return new UpstreamError({ message: 'The provider sent an unreadable answer.', reason, retryable: true, ambiguous, detail });
}

/** A job the upstream failed: the task error its code and message classify as, their text kept (masked) for the logs. */
export function failedJob(upstreamCode: string, upstreamMessage: string, hasReference: boolean): ProviderStep & { state: 'failed'; detail: string } {
  return {
    state: 'failed',
    ...classifyUpstreamFailure(upstreamCode, upstreamMessage, hasReference),
    detail: redactUpstreamText(`${upstreamCode} ${upstreamMessage}`),
  };
}

/** The upstream refused the request itself: the task fails with the error its code and message classify as. */
export function refused(reason: string, upstreamCode: string, upstreamMessage: string, hasReference: boolean): UpstreamError {
  const failure = failedJob(upstreamCode, upstreamMessage, hasReference);
  return new UpstreamError({ message: failure.message, reason, retryable: false, taskCode: failure.code, detail: failure.detail });
}
