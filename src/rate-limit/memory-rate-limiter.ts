import { RateLimiterMemory } from 'rate-limiter-flexible';
import { createFlexibleRateLimiter } from './flexible-rate-limiter.js';
import type { RateLimiter } from './port.js';

/** Rate limits kept in this process's memory: right for one API process (the embedded default). */
export function createMemoryRateLimiter(): RateLimiter {
  return createFlexibleRateLimiter(
    (points, duration) => new RateLimiterMemory({ points, duration, keyPrefix: `rl${points}_${duration}` }),
    async () => true,
    // Memory cannot be out of reach: any error is a bug.
    () => false,
  );
}
