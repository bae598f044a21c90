import { describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import type { RateLimiter } from '../../src/rate-limit/port.js';

const LIMITERS: { name: string; create(): RateLimiter }[] = [{ name: 'memory', create: createMemoryRateLimiter }];

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
