import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createFlexibleRateLimiter } from './flexible-rate-limiter.js';
import type { RateLimiter } from './port.js';

export interface RedisRateLimiterConfig {
  url: string;
  /** Prefix of every key this service writes; default `rivya`. */
  keyPrefix?: string | undefined;
}

/**
 * Rate limits in Redis, shared by every API process. While Redis is unreachable, calls fail
 * within a second and the API answers 503; the client reconnects by itself.
 */
export function createRedisRateLimiter(config: RedisRateLimiterConfig): RateLimiter {
  const redis = new Redis(config.url, {
    // Commands wait for a (re)connection, but never longer than a second: then the API answers 503.
    enableOfflineQueue: true,
    commandTimeout: 1000,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    lazyConnect: false,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Connection errors surface as failed calls (503); the client keeps reconnecting.
  redis.on('error', () => {});
  const prefix = config.keyPrefix ?? 'rivya';
  const limiter = createFlexibleRateLimiter(
    (points, duration) =>
      new RateLimiterRedis({ storeClient: redis, points, duration, keyPrefix: `${prefix}:rl${points}_${duration}` }),
    async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout'), 1000)));
        return (await Promise.race([redis.ping(), timeout])) === 'PONG';
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
  );
  return {
    ...limiter,
    async close() {
      redis.disconnect();
    },
  };
}
