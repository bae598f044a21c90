import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import type { RateLimiter } from '../../src/rate-limit/port.js';
import { createRedisRateLimiter } from '../../src/rate-limit/redis-rate-limiter.js';
import { DependencyUnavailableError } from '../../src/errors.js';
import { REDIS_AVAILABLE, TEST_REDIS_URL } from '../helpers/backends.js';

const opened: RateLimiter[] = [];
const redisLimiter = (keyPrefix: string) => {
  const limiter = createRedisRateLimiter({ url: TEST_REDIS_URL, keyPrefix });
  opened.push(limiter);
  return limiter;
};
const LIMITERS: { name: string; create(): RateLimiter }[] = [
  { name: 'memory', create: createMemoryRateLimiter },
  // A fresh key space per limiter: Redis keeps keys between runs.
  ...(REDIS_AVAILABLE ? [{ name: 'redis', create: () => redisLimiter(`rivya-test-${randomBytes(6).toString('hex')}`) }] : []),
];

afterAll(async () => {
  await Promise.all(opened.map((limiter) => limiter.close()));
});

describe.each(LIMITERS)('RateLimiter port contract on $name', ({ create }) => {
  it('allows `limit` points per window, then refuses with the time to wait', async () => {
    const limiter = create();
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.consume('k1', 3, 60));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(decisions[3]?.resetSeconds).toBeGreaterThanOrEqual(1);
    expect(decisions[3]?.resetSeconds).toBeLessThanOrEqual(60);
    expect(decisions[0]?.limit).toBe(3);
  });

  it('keeps buckets apart by key and by limit', async () => {
    const limiter = create();
    expect((await limiter.consume('a', 1, 60)).allowed).toBe(true);
    expect((await limiter.consume('a', 1, 60)).allowed).toBe(false);
    expect((await limiter.consume('b', 1, 60)).allowed).toBe(true);
    expect((await limiter.consume('a', 5, 60)).allowed).toBe(true);
  });

  it('peeks without taking a point, and resets after the window', async () => {
    const limiter = create();
    expect((await limiter.peek('p', 1, 1)).allowed).toBe(true);
    expect((await limiter.peek('p', 1, 1)).allowed).toBe(true);
    expect((await limiter.consume('p', 1, 1)).allowed).toBe(true);
    expect((await limiter.peek('p', 1, 1)).allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await limiter.consume('p', 1, 1)).allowed).toBe(true);
    expect(await limiter.ping()).toBe(true);
  });

  it('admits exactly `limit` of many concurrent calls', async () => {
    const limiter = create();
    const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.consume('burst', 10, 60)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
  });
});

describe.runIf(REDIS_AVAILABLE)('Redis rate limiter', () => {
  it('shares buckets between processes (two clients, one key space)', async () => {
    const prefix = `rivya-test-${randomBytes(6).toString('hex')}`;
    const [a, b] = [redisLimiter(prefix), redisLimiter(prefix)];
    const decisions = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).consume('shared', 4, 60)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(4);
  });

  it('fails fast with DependencyUnavailableError when Redis cannot be reached', async () => {
    const limiter = createRedisRateLimiter({ url: 'redis://127.0.0.1:1', keyPrefix: 'rivya-test-down' });
    opened.push(limiter);
    const started = Date.now();
    await expect(limiter.consume('k', 1, 60)).rejects.toBeInstanceOf(DependencyUnavailableError);
    await expect(limiter.peek('k', 1, 60)).rejects.toMatchObject({ name: 'DependencyUnavailableError', dependency: 'rate_limiter' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await limiter.ping()).toBe(false);
  });

  it('keeps an error reply of a reachable Redis as it is (a bug, not an outage)', async () => {
    const prefix = `rivya-test-${randomBytes(6).toString('hex')}`;
    const limiter = redisLimiter(prefix);
    // The counter's key holds a list: Redis answers WRONGTYPE.
    const { Redis } = await import('ioredis');
    const client = new Redis(TEST_REDIS_URL);
    try {
      await client.rpush(`${prefix}:rl5_60:wrong`, 'x');
      const error = await limiter.consume('wrong', 5, 60).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(DependencyUnavailableError);
    } finally {
      await client.del(`${prefix}:rl5_60:wrong`);
      client.disconnect();
    }
  });
});
