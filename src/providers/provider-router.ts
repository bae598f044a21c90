import type { TaskRecord } from '../domain.js';
import type { Provider, ProviderContext, ProviderRefusal, ProviderStep } from './port.js';
import { UpstreamError } from './upstream-error.js';

export interface RouteEntry {
  /** A provider account's name. */
  account: string;
  /** Share of first tries among the entries of the same priority. */
  weight: number;
  /** Lower goes first; higher priorities are the failover. */
  priority: number;
}

export interface CoolDownPolicy {
  /** Consecutive retryable failures after which an account leaves rotation. */
  failuresToCoolDown: number;
  coolDownSeconds: number;
}

/** What the router asks of an account. */
export type UpstreamOperation = 'submit' | 'poll' | 'adopt' | 'cancel';

/** A failed upstream call: the task it was for, and the error (an `UpstreamError`, or anything a cancel threw). */
export interface UpstreamFailure {
  taskId: string;
  error: unknown;
}

export interface RouterEvents {
  /** One call to an account: `outcome` is `ok` or the failure's reason, and `failure` is given when it failed. */
  call(account: string, operation: UpstreamOperation, outcome: string, failure?: UpstreamFailure): void;
  failover(model: string, from: string): void;
  coolDown(account: string): void;
}

export interface SubmitHooks {
  /**
   * Stores, before the call, which account is about to be asked (null: nobody, after a clean
   * refusal). Returns false when the attempt lost the task: nothing is sent then.
   */
  recordIntent(account: string | null): Promise<boolean>;
}

export class IntentNotRecorded extends Error {}

/**
 * Routing: each model maps to an ordered list of provider accounts with weights. A submission
 * goes to the first available account in an order drawn per task (by priority, then weighted at
 * random), and fails over to the next on a retryable error. Never after the upstream may have
 * accepted: a task whose last submission ended ambiguously (or whose worker died during it) is
 * pinned to that account. An account that keeps failing cools down: it is skipped for
 * `coolDownSeconds`, then tried again.
 */
export function createProviderRouter(options: {
  accounts: readonly Provider[];
  routes: ReadonlyMap<string, readonly RouteEntry[]>;
  coolDown: CoolDownPolicy;
  events: RouterEvents;
  random?: () => number;
  now?: () => number;
}) {
  const accounts = new Map(options.accounts.map((account) => [account.name, account]));
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const health = new Map<string, { failures: number; coolingUntil: number }>();

  const stateOf = (name: string) => {
    let state = health.get(name);
    if (!state) health.set(name, (state = { failures: 0, coolingUntil: 0 }));
    return state;
  };
  const cooling = (name: string) => stateOf(name).coolingUntil > now();

  function succeeded(name: string): void {
    stateOf(name).failures = 0;
  }

  function failed(name: string): void {
    const state = stateOf(name);
    state.failures++;
    if (state.failures >= options.coolDown.failuresToCoolDown && !cooling(name)) {
      state.coolingUntil = now() + options.coolDown.coolDownSeconds * 1000;
      options.events.coolDown(name);
    }
  }

  /** The route's accounts that can run these params, in this task's order. */
  function ordered(model: string, params: Readonly<Record<string, string>>): Provider[] {
    const entries = (options.routes.get(model) ?? []).filter((entry) => accounts.get(entry.account)?.refuses(model, params) === null);
    const priorities = [...new Set(entries.map((entry) => entry.priority))].sort((a, b) => a - b);
    const order: Provider[] = [];
    for (const priority of priorities) {
      // Weighted random order without replacement (Efraimidis–Spirakis keys).
      const tier = entries
        .filter((entry) => entry.priority === priority && entry.weight > 0)
        .map((entry) => ({ entry, key: Math.pow(random(), 1 / entry.weight) }))
        .sort((a, b) => b.key - a.key);
      for (const { entry } of tier) order.push(accounts.get(entry.account)!);
    }
    return order;
  }

  /**
   * Reports a call (its failure too, if it failed upstream; an abort by the task's own signal is
   * not one), and counts a submission in the account's health: cool-down is about taking new
   * work, so polls of jobs an account already has (which must go on) do not count.
   */
  async function observe<T>(account: Provider, operation: UpstreamOperation, taskId: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      if (operation === 'submit') succeeded(account.name);
      options.events.call(account.name, operation, 'ok');
      return result;
    } catch (error) {
      if (error instanceof UpstreamError) {
        options.events.call(account.name, operation, error.reason, { taskId, error });
        if (operation === 'submit') {
          if (error.retryable) failed(account.name);
          else succeeded(account.name);
        }
      }
      throw error;
    }
  }

  return {
    account: (name: string | null): Provider | undefined => (name === null ? undefined : accounts.get(name)),

    /** Why no account of the model's route can run this request, or null when one can. */
    refuses(model: string, params: Readonly<Record<string, string>>): ProviderRefusal | null {
      const route = (options.routes.get(model) ?? []).filter((entry) => accounts.has(entry.account));
      if (route.length === 0) {
        return { param: 'model', message: `${model} is not offered.`, detail: `No provider account is configured for ${model}.` };
      }
      const refusals = route.map((entry) => accounts.get(entry.account)!.refuses(model, params));
      return refusals.includes(null) ? null : refusals[0]!;
    },

    /**
     * For a task whose last submission's answer was lost at an upstream that cannot tell a repeat
     * from a new job: the wait, as an `awaiting_callback` error, until it may be sent again (its
     * callback may name the job first, see `Provider.adopt`). Null when it may be sent now.
     */
    awaitingResend(task: TaskRecord): UpstreamError | null {
      const pinned = task.provider !== null && task.upstreamId === null ? accounts.get(task.provider) : undefined;
      if (!pinned || !task.submittedAt) return null;
      const waitMs = task.submittedAt.getTime() + pinned.resendAfterSeconds * 1000 - now();
      if (waitMs <= 0) return null;
      return new UpstreamError({
        message: 'Waiting for the provider to confirm an earlier submission.', reason: 'awaiting_callback',
        retryable: true, ambiguous: true, retryAfterSeconds: waitMs / 1000,
      });
    },

    /** Accounts' availability, for metrics. */
    availability(): { account: string; available: boolean }[] {
      return [...accounts.keys()].map((name) => ({ account: name, available: !cooling(name) }));
    },

    /**
     * Submits `task` to the first account that accepts it. `pinned` is the account of an earlier
     * submission that may have reached its upstream: only that one may be asked again.
     */
    async submit(task: TaskRecord, context: ProviderContext, hooks: SubmitHooks): Promise<{ account: Provider; step: ProviderStep }> {
      const pinned = task.provider !== null && task.upstreamId === null ? accounts.get(task.provider) : undefined;
      const waiting = this.awaitingResend(task);
      if (waiting) throw waiting;
      const candidates = pinned ? [pinned] : ordered(task.model, task.params);
      if (candidates.length === 0) {
        throw new UpstreamError({
          message: 'No configured provider can run this task.', reason: 'no_route', retryable: false,
          detail: this.refuses(task.model, task.params)?.detail ?? '',
        });
      }
      const available = candidates.filter((account) => !cooling(account.name));
      if (available.length === 0) {
        const soonest = Math.min(...candidates.map((account) => stateOf(account.name).coolingUntil));
        throw new UpstreamError({
          message: 'Every provider for this task is cooling down.', reason: 'all_cooling', retryable: true,
          retryAfterSeconds: Math.max(1, Math.ceil((soonest - now()) / 1000)),
        });
      }
      let last: UpstreamError | null = null;
      for (const [index, account] of available.entries()) {
        if (!(await hooks.recordIntent(account.name))) throw new IntentNotRecorded();
        try {
          const step = await observe(account, 'submit', task.id, () => account.submit(task, context));
          return { account, step };
        } catch (error) {
          if (!(error instanceof UpstreamError) || !error.retryable || error.ambiguous) throw error;
          // Refused cleanly: nothing was created upstream, so the task is free to go elsewhere.
          if (!(await hooks.recordIntent(null))) throw new IntentNotRecorded();
          last = error;
          const next = available[index + 1];
          if (next) options.events.failover(task.model, account.name);
        }
      }
      throw last!;
    },

    /** Polls through the account that accepted the job. */
    poll(account: Provider, task: TaskRecord & { upstreamId: string }, context: ProviderContext): Promise<ProviderStep> {
      return observe(account, 'poll', task.id, () => account.poll(task, context));
    },

    /** Whether the account's job `upstreamId` is `task`'s (see `Provider.adopt`); false where the account cannot tell. */
    adopt(account: Provider, task: TaskRecord, upstreamId: string, signal: AbortSignal): Promise<boolean> {
      const adopt = account.adopt?.bind(account);
      return adopt ? observe(account, 'adopt', task.id, () => adopt(task, upstreamId, signal)) : Promise.resolve(false);
    },

    /** Best-effort cancel of an upstream job: a failure is reported, never thrown. */
    async cancel(account: Provider, task: TaskRecord & { upstreamId: string }): Promise<void> {
      try {
        await account.cancel(task);
        options.events.call(account.name, 'cancel', 'ok');
      } catch (error) {
        options.events.call(account.name, 'cancel', error instanceof UpstreamError ? error.reason : 'error', { taskId: task.id, error });
      }
    },
  };
}

export type ProviderRouter = ReturnType<typeof createProviderRouter>;
