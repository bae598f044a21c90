import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { DependencyUnavailableError } from '../errors.js';
import type { RateLimitDecision, RateLimiter } from './port.js';

/** Builds one rate-limiter-flexible limiter for a (points, window) pair. */
export type LimiterFactory = (points: number, windowSeconds: number) => RateLimiterAbstract;

function decide(res: RateLimiterRes, limit: number, allowed: boolean): RateLimitDecision {
  return {
    allowed,
    limit,
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(allowed ? 0 : 1, Math.ceil(res.msBeforeNext / 1000)),
  };
}

/**
 * The `RateLimiter` port over rate-limiter-flexible; the backend (memory, Redis) comes from
 * `factory`, and `isUnavailable` tells which of its errors mean it cannot be reached now: those
 * become `DependencyUnavailableError`, anything else is rethrown as is. Limits are per-account
 * settings, so limiters are kept per (points, window).
 */
export function createFlexibleRateLimiter(
  factory: LimiterFactory,
  ping: () => Promise<boolean>,
  isUnavailable: (error: unknown) => boolean,
): RateLimiter {
  const translate = (error: unknown): unknown =>
    isUnavailable(error) ? new DependencyUnavailableError('rate_limiter', { cause: error }) : error;
  const limiters = new Map<string, RateLimiterAbstract>();
  const limiterFor = (points: number, windowSeconds: number): RateLimiterAbstract => {
    const id = `${points}/${windowSeconds}`;
    let limiter = limiters.get(id);
    if (!limiter) {
      limiter = factory(points, windowSeconds);
      limiters.set(id, limiter);
    }
    return limiter;
  };
  return {
    async consume(key, limit, windowSeconds) {
      try {
        const res = await limiterFor(limit, windowSeconds).consume(key, 1);
        return decide(res, limit, true);
      } catch (error) {
        if (error instanceof RateLimiterRes) return decide(error, limit, false);
        throw translate(error);
      }
    },
    async peek(key, limit, windowSeconds) {
      const res = await limiterFor(limit, windowSeconds)
        .get(key)
        .catch((error: unknown) => {
          throw translate(error);
        });
      if (!res) return { allowed: true, limit, remaining: limit, resetSeconds: windowSeconds };
      return decide(res, limit, res.consumedPoints < limit);
    },
    ping,
    async close() {},
  };
}
