import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { useGatedService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

/** A small seeded PRNG (mulberry32), so a failing sequence can be replayed. */
function prng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = 'create' | 'succeed' | 'fail' | 'cancel' | 'timeout' | 'grant';
const OPS: Op[] = ['create', 'create', 'create', 'succeed', 'fail', 'cancel', 'timeout', 'grant'];

describe.each(BACKENDS)('ledger invariants on $name', (backend) => {
  const ctx = useGatedService(backend);
  const { gated } = ctx;

  it.each([1, 2, 3])('hold for any sequence of creates, successes, failures, cancels, timeouts and grants (seed %i)', async (seed) => {
    const random = prng(seed);
    const accounts = await Promise.all([ctx.service.newAccount(200, { active_tasks: 8, creates_per_minute: 1000 }), ctx.service.newAccount(90, { active_tasks: 8, creates_per_minute: 1000 })]);
    const active = new Map<string, { auth: Record<string, string> }>();
    const ended = new Set<string>();
    const pick = <T>(items: T[]): T | undefined => items[Math.floor(random() * items.length)];

    const audit = async () => {
      for (const row of await ctx.service.runtime.ledger.audit()) {
        expect(row.balance, `balance of ${row.accountId}`).toBe(row.ledgerBalance);
        expect(row.held, `held of ${row.accountId}`).toBe(row.openHolds);
        expect(row.activeTasks).toBe(row.countedActiveTasks);
        expect(row.balance - row.held).toBeGreaterThanOrEqual(0);
      }
    };

    for (let step = 0; step < 40; step++) {
      const op = pick(OPS) as Op;
      const running = [...active.keys()].filter((id) => gated.waiting.has(id));
      const account = pick(accounts) as (typeof accounts)[number];
      switch (op) {
        case 'create': {
          const model = random() < 0.3 ? 'sora-2-pro' : 'sora-2';
          const response = await ctx.app.inject({ method: 'POST', url: '/api/v1/tasks', headers: account.auth, payload: { model, prompt: `step ${step}` } });
          expect([201, 402, 429]).toContain(response.statusCode);
          if (response.statusCode === 201) active.set(response.json().id, account);
          break;
        }
        case 'succeed':
        case 'fail': {
          const id = pick(running);
          if (!id) break;
          gated.release(id, op === 'succeed' ? 'succeed' : 'fail');
          const owner = active.get(id)!;
          const task = await waitFor(async () => {
            const t = (await ctx.app.inject({ url: `/api/v1/tasks/${id}?wait=5`, headers: owner.auth })).json();
            return ['succeeded', 'failed', 'canceled'].includes(t.status) ? t : null;
          }, 20_000, `task ${id} to end`);
          expect(task.status).toBe(op === 'succeed' ? 'succeeded' : 'failed');
          expect(task.final_credits).toBe(op === 'succeed' ? task.reserved_credits : 0);
          active.delete(id);
          ended.add(id);
          break;
        }
        case 'cancel': {
          const id = pick([...active.keys()]);
          if (!id) break;
          const response = await ctx.app.inject({ method: 'POST', url: `/api/v1/tasks/${id}/cancel`, headers: active.get(id)!.auth });
          expect(response.statusCode).toBe(200);
          active.delete(id);
          ended.add(id);
          break;
        }
        case 'timeout': {
          const id = pick([...active.keys()]);
          if (!id) break;
          await ctx.service.runtime.db.query(`UPDATE tasks SET deadline_at = now() - interval '1 second' WHERE id = $1`, [id]);
          await ctx.service.runtime.sweeper.sweepOnce();
          const task = (await ctx.app.inject({ url: `/api/v1/tasks/${id}`, headers: active.get(id)!.auth })).json();
          expect(task).toMatchObject({ status: 'failed', final_credits: 0, error: { code: 'timeout' } });
          active.delete(id);
          ended.add(id);
          break;
        }
        case 'grant':
          await ctx.service.runtime.ledger.postCreditChange({ accountId: account.accountId, amount: 1 + Math.floor(random() * 50), reason: 'top-up' });
          break;
      }
      await audit();
    }
    expect(ended.size).toBeGreaterThan(3);
    // Ending a task again (a retry, a race) changes nothing.
    for (const id of ended) {
      const again = await ctx.service.runtime.lifecycle.end(id, { status: 'failed', error: { code: 'internal_error', message: 'again' } }, { from: ['queued', 'running'] });
      expect(again).toBeNull();
    }
    await audit();
  });
});
