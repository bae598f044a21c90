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
 * `factory`. Limits are per-account settings, so limiters are kept per (points, window).
 */
export function createFlexibleRateLimiter(factory: LimiterFactory, ping: () => Promise<boolean>): RateLimiter {
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
        throw new DependencyUnavailableError('rate limiter', { cause: error });
      }
    },
    async peek(key, limit, windowSeconds) {
      const res = await limiterFor(limit, windowSeconds)
        .get(key)
        .catch((error: unknown) => {
          throw new DependencyUnavailableError('rate limiter', { cause: error });
        });
      if (!res) return { allowed: true, limit, remaining: limit, resetSeconds: windowSeconds };
      return decide(res, limit, res.consumedPoints < limit);
    },
    ping,
    async close() {},
  };
}
