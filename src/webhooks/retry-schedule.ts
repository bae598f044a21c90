/**
 * When a failed delivery is tried again: the Standard Webhooks schedule. Attempt 1 goes at once;
 * after a failed attempt n, attempt n + 1 follows `RETRY_DELAYS_MS[n]` later (±20 % jitter), so
 * ten attempts span about three days. A receiver's `Retry-After` on 429 or 503 pushes the next
 * attempt later, never sooner, and at most a day.
 */
export const RETRY_DELAYS_MS: readonly number[] = [
  0, 5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000, 14 * 3_600_000, 20 * 3_600_000, 24 * 3_600_000,
];

export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;
const JITTER = 0.2;

/**
 * The delay before attempt `attempt + 1` after attempt `attempt` failed, or null when the schedule
 * is spent (the delivery has failed). `schedule` is `RETRY_DELAYS_MS` unless tests shorten it.
 */
export function nextRetryDelayMs(
  attempt: number,
  schedule: readonly number[],
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number | null {
  const base = schedule[attempt];
  if (base === undefined) return null;
  const jittered = Math.round(base * (1 - JITTER + 2 * JITTER * random()));
  return retryAfterMs === null ? jittered : Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

/**
 * A `Retry-After` header in milliseconds from `now`: delta-seconds or an HTTP date (RFC 9110);
 * null when absent or unreadable. A date in the past is 0.
 */
export function parseRetryAfter(header: string | null, now: number): number | null {
  if (header === null) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, Number.MAX_SAFE_INTEGER);
  const date = Date.parse(text);
  // Only the HTTP-date forms name a weekday or month; Date.parse is lenient about anything else.
  if (Number.isNaN(date) || !/[A-Za-z]{3}/.test(text)) return null;
  return Math.max(0, date - now);
}
