import { Redis, ReplyError } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createFlexibleRateLimiter } from './flexible-rate-limiter.js';
import type { RateLimiter } from './port.js';

export interface RedisRateLimiterConfig {
  url: string;
  /** Prefix of every key this service writes; default `rivya`. */
  keyPrefix?: string | undefined;
}

/**
 * Redis error kinds (the first word of an error reply, by the protocol) that mean the server
 * cannot serve now: still loading its data, a read-only replica, its primary down, busy with a
 * script, a cluster slot moving, full (`maxmemory` reached) or refusing writes it cannot persist.
 */
const UNAVAILABLE_REPLY_KINDS = new Set(['LOADING', 'READONLY', 'MASTERDOWN', 'BUSY', 'TRYAGAIN', 'CLUSTERDOWN', 'OOM', 'MISCONF']);

/** The class of Redis's error replies (ioredis declares it untyped). */
const RedisReplyError = ReplyError as unknown as new () => Error;

/**
 * ioredis signals a lost connection with plain errors: `MaxRetriesPerRequestError` (a command
 * gave up waiting for a reconnection, told by its name) and two known only by message text, a
 * command past `commandTimeout` and a connection closed under it. This is the one place that
 * knowledge lives.
 */
const CONNECTION_LOST_MESSAGES = new Set(['Command timed out', 'Connection is closed.']);

/**
 * Whether a failed Redis call means Redis cannot serve now (rather than a bad command, such as
 * WRONGTYPE on a key of another type, which is a bug): an error reply of a kind above, a lost
 * connection, or any failure while the client is not connected.
 */
function isRedisUnavailable(error: unknown, status: string): boolean {
  if (error instanceof RedisReplyError) return UNAVAILABLE_REPLY_KINDS.has(error.message.split(' ', 1)[0] ?? '');
  if (!(error instanceof Error)) return false;
  return status !== 'ready' || error.name === 'MaxRetriesPerRequestError' || CONNECTION_LOST_MESSAGES.has(error.message);
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
    // Every request consumes from a limit: the commands issued in one turn of the event loop go
    // out in one write instead of one each (measured: a write per command was 19% of an API
    // process's CPU while it answered polls from memory).
    enableAutoPipelining: true,
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
    (error) => isRedisUnavailable(error, redis.status),
  );
  return {
    ...limiter,
    async close() {
      redis.disconnect();
    },
  };
}
