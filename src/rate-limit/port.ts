/**
 * The `RateLimiter` port: fixed-window counters shared by every API process that uses the same
 * backend (memory: one process; Redis: a fleet).
 */

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Points left in the current window after this call. */
  remaining: number;
  /** Seconds until the window resets (≥ 1 when not allowed). */
  resetSeconds: number;
}

export interface RateLimiter {
  /**
   * Takes one point from the bucket `key` that holds `limit` points per `windowSeconds`.
   * A refused call does not reset the window.
   */
  consume(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision>;
  /** Looks at a bucket without taking a point. */
  peek(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision>;
  /** True when the backend answers. */
  ping(): Promise<boolean>;
  /** Releases connections. */
  close(): Promise<void>;
}
