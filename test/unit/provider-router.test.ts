import { describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../src/domain.js';
import type { Provider, ProviderContext, ProviderRefusal } from '../../src/providers/port.js';
import { createProviderRouter, IntentNotRecorded, type RouteEntry } from '../../src/providers/provider-router.js';
import { UpstreamError } from '../../src/providers/upstream-error.js';
import { pollDelaySeconds } from '../../src/worker/task-runner.js';

type Behaviour = 'ok' | 'retryable' | 'ambiguous' | 'refused';

/** A provider account whose submissions answer as scripted, counting calls. */
function account(name: string, script: Behaviour[] = [], refuses: (params: Record<string, string>) => ProviderRefusal | null = () => null) {
  const calls: string[] = [];
  const provider: Provider = {
    name,
    kind: 'kie',
    resendAfterSeconds: 60,
    refuses: (_model, params) => refuses(params),
    async submit(task) {
      calls.push(task.id);
      const next = script.shift() ?? 'ok';
      if (next === 'ok') return { state: 'submitted', upstreamId: `${name}-${task.id}` };
      throw new UpstreamError({
        message: 'no', reason: next, retryable: next !== 'refused', ambiguous: next === 'ambiguous', taskCode: 'upstream_error',
      });
    },
    poll: async () => ({ state: 'running', progress: null }),
    cancel: async () => {},
  };
  return { provider, calls };
}

function task(overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id: 'task_1', accountId: 'acc', model: 'sora-2', prompt: 'p', params: { n_frames: '10' }, referenceFiles: [],
    clientRequestId: null, status: 'running', progress: 0, reservedCredits: 6, finalCredits: 0, result: null, error: null,
    provider: null, upstreamId: null, submittedAt: null, upstreamHint: null, attempts: 1, webhookUrl: null, webhookEvents: 'terminal', deadlineAt: new Date(), createdAt: new Date(), updatedAt: new Date(), changedAt: new Date(),
    startedAt: new Date(), completedAt: null, ...overrides,
  };
}

const context = { signal: new AbortController().signal } as ProviderContext;

function router(accounts: Provider[], route: Omit<RouteEntry, 'priority'>[] | RouteEntry[], options: { now?: () => number; random?: () => number } = {}) {
  const events = { calls: [] as string[], failovers: [] as string[], coolDowns: [] as string[] };
  const entries = route.map((entry, index) => ({ priority: index + 1, ...entry }));
  const instance = createProviderRouter({
    accounts,
    routes: new Map([['sora-2', entries]]),
    coolDown: { failuresToCoolDown: 2, coolDownSeconds: 10 },
    events: {
      call: (name, operation, outcome) => events.calls.push(`${name}:${operation}:${outcome}`),
      failover: (_model, from) => events.failovers.push(from),
      coolDown: (name) => events.coolDowns.push(name),
    },
    ...options,
  });
  return { instance, events };
}

function intents() {
  const recorded: (string | null)[] = [];
  return { recorded, hooks: { recordIntent: async (name: string | null) => (recorded.push(name), true) } };
}

describe('provider router', () => {
  it('fails over to the next account on a retryable error, recording each intent before the call', async () => {
    const a = account('a', ['retryable']);
    const b = account('b');
    const { instance, events } = router([a.provider, b.provider], [{ account: 'a', weight: 1 }, { account: 'b', weight: 1 }]);
    const { recorded, hooks } = intents();
    const result = await instance.submit(task(), context, hooks);
    expect(result.account.name).toBe('b');
    expect(recorded).toEqual(['a', null, 'b']);
    expect(events.failovers).toEqual(['a']);
    expect(events.calls).toEqual(['a:submit:retryable', 'b:submit:ok']);
  });

  it('never fails over after an ambiguous error, and pins the task to that account afterwards', async () => {
    const a = account('a', ['ambiguous']);
    const b = account('b');
    const { instance } = router([a.provider, b.provider], [{ account: 'a', weight: 1 }, { account: 'b', weight: 1 }]);
    const { recorded, hooks } = intents();
    await expect(instance.submit(task(), context, hooks)).rejects.toMatchObject({ ambiguous: true });
    expect(recorded).toEqual(['a']);
    expect(b.calls).toHaveLength(0);
    // The next round: the stored intent names `a`, so only `a` is asked — and since `a` cannot
    // tell a repeat from a new job, only once its resend delay has passed.
    let now = 1_000_000;
    const later = router([a.provider, b.provider], [{ account: 'a', weight: 1 }, { account: 'b', weight: 1 }], { now: () => now });
    const pinned = task({ provider: 'a', submittedAt: new Date(now - 20_000) });
    await expect(later.instance.submit(pinned, context, hooks)).rejects.toMatchObject({ reason: 'awaiting_callback', retryAfterSeconds: 40 });
    expect(a.calls).toHaveLength(1);
    now += 40_001;
    const result = await later.instance.submit(pinned, context, hooks);
    expect(result.account.name).toBe('a');
    expect(b.calls).toHaveLength(0);
  });

  it('does not fail over on a refusal: the request itself is wrong', async () => {
    const a = account('a', ['refused']);
    const b = account('b');
    const { instance } = router([a.provider, b.provider], [{ account: 'a', weight: 1 }, { account: 'b', weight: 1 }]);
    await expect(instance.submit(task(), context, intents().hooks)).rejects.toMatchObject({ retryable: false });
    expect(b.calls).toHaveLength(0);
  });

  it('counts only submissions in an account\'s health: polls of its running jobs go on regardless', async () => {
    const a = account('a');
    a.provider.poll = async () => {
      throw new UpstreamError({ message: 'down', reason: 'http_503', retryable: true });
    };
    const { instance, events } = router([a.provider], [{ account: 'a', weight: 1 }]);
    for (let i = 0; i < 3; i++) {
      await expect(instance.poll(a.provider, { ...task(), upstreamId: 'x' }, context)).rejects.toBeInstanceOf(UpstreamError);
    }
    expect(events.coolDowns).toEqual([]);
    expect(events.calls).toEqual(['a:poll:http_503', 'a:poll:http_503', 'a:poll:http_503']);
  });

  it('takes an account that keeps failing out of rotation for its cool-down, then tries it again', async () => {
    let now = 1_000_000;
    const a = account('a', ['retryable', 'retryable', 'ok', 'ok']);
    const b = account('b');
    const { instance, events } = router([a.provider, b.provider], [{ account: 'a', weight: 1 }, { account: 'b', weight: 1 }], { now: () => now });
    await instance.submit(task({ id: 't1' }), context, intents().hooks);
    await instance.submit(task({ id: 't2' }), context, intents().hooks);
    expect(events.coolDowns).toEqual(['a']);
    expect(instance.availability()).toEqual([{ account: 'a', available: false }, { account: 'b', available: true }]);
    await instance.submit(task({ id: 't3' }), context, intents().hooks);
    expect(a.calls).toEqual(['t1', 't2']);
    now += 10_001;
    const result = await instance.submit(task({ id: 't4' }), context, intents().hooks);
    expect(result.account.name).toBe('a');
    expect(instance.availability()[0]).toEqual({ account: 'a', available: true });
  });

  it('reports when every account is cooling down, with the time until the first comes back', async () => {
    const now = 5_000_000;
    const a = account('a', ['retryable', 'retryable']);
    const { instance } = router([a.provider], [{ account: 'a', weight: 1 }], { now: () => now });
    await expect(instance.submit(task(), context, intents().hooks)).rejects.toMatchObject({ retryable: true });
    await expect(instance.submit(task(), context, intents().hooks)).rejects.toMatchObject({ retryable: true });
    await expect(instance.submit(task(), context, intents().hooks)).rejects.toMatchObject({ reason: 'all_cooling', retryAfterSeconds: 10 });
    expect(a.calls).toHaveLength(2);
  });

  it('spreads first tries by weight within a priority, and uses a later priority only as failover', async () => {
    const a = account('a');
    const b = account('b');
    const c = account('c');
    const { instance } = router(
      [a.provider, b.provider, c.provider],
      [{ account: 'a', weight: 3, priority: 1 }, { account: 'b', weight: 1, priority: 1 }, { account: 'c', weight: 100, priority: 2 }],
    );
    const firsts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const { account: chosen } = await instance.submit(task({ id: `t${i}` }), context, intents().hooks);
      firsts.set(chosen.name, (firsts.get(chosen.name) ?? 0) + 1);
    }
    expect(firsts.get('c')).toBeUndefined();
    const shareA = (firsts.get('a') ?? 0) / 4000;
    expect(shareA).toBeGreaterThan(0.7);
    expect(shareA).toBeLessThan(0.8);
  });

  it('skips accounts that cannot express the params, and refuses a request none can run', () => {
    const refusal = { param: 'n_frames', message: 'n_frames 10 is not offered for sora-2.', detail: 'gateway accepts 4 s only' };
    const onlyFour = account('gateway', [], (params) => (params['n_frames'] === '4' ? null : refusal));
    const { instance } = router([onlyFour.provider], [{ account: 'gateway', weight: 1 }]);
    expect(instance.refuses('sora-2', { n_frames: '10' })).toEqual(refusal);
    expect(instance.refuses('sora-2', { n_frames: '4' })).toBeNull();
    expect(instance.refuses('sora-2-pro', {})?.detail).toMatch(/No provider account is configured/);
  });

  it('stops when the attempt lost the task before a call', async () => {
    const a = account('a');
    const { instance } = router([a.provider], [{ account: 'a', weight: 1 }]);
    await expect(instance.submit(task(), context, { recordIntent: async () => false })).rejects.toBeInstanceOf(IntentNotRecorded);
    expect(a.calls).toHaveLength(0);
  });
});

describe('poll backoff', () => {
  it('grows from the minimum to the maximum with ±20% jitter', () => {
    const bounds = { minSeconds: 2, maxSeconds: 30 };
    expect(pollDelaySeconds(0, bounds, () => 0.5)).toBeCloseTo(2);
    expect(pollDelaySeconds(1, bounds, () => 0.5)).toBeCloseTo(3);
    expect(pollDelaySeconds(20, bounds, () => 0.5)).toBeCloseTo(30);
    expect(pollDelaySeconds(0, bounds, () => 0)).toBeCloseTo(1.6);
    expect(pollDelaySeconds(0, bounds, () => 0.9999)).toBeCloseTo(2.4, 2);
  });
});
