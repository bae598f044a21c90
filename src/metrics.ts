import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from './db/port.js';
import type { JobQueue } from './jobs/port.js';

export interface MetricsSources {
  db: Database;
  queue: JobQueue;
}

/** The Prometheus metrics of one process, in its own registry (so tests can run several apps). */
export function createMetrics(sources: MetricsSources) {
  const registry = new Registry();
  const httpRequests = new Counter({
    name: 'rivya_http_requests_total',
    help: 'HTTP requests answered, by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'rivya_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method and route.',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60],
    registers: [registry],
  });
  const taskTransitions = new Counter({
    name: 'rivya_task_transitions_total',
    help: 'Task status changes, by model and new status.',
    labelNames: ['model', 'status'],
    registers: [registry],
  });
  new Gauge({
    name: 'rivya_queue_depth',
    help: 'Jobs waiting (queued) or running (active), per queue.',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const depth of await sources.queue.depth()) {
        this.set({ queue: depth.name, state: 'queued' }, depth.queued);
        this.set({ queue: depth.name, state: 'active' }, depth.active);
      }
    },
  });
  new Gauge({
    name: 'rivya_credits_held',
    help: 'Credits held by open holds, across all accounts.',
    registers: [registry],
    async collect() {
      const { rows } = await sources.db.query<{ held: number }>('SELECT coalesce(sum(held), 0)::bigint AS held FROM accounts');
      this.set(Number(rows[0]?.held ?? 0));
    },
  });
  new Gauge({
    name: 'rivya_tasks_active',
    help: 'Tasks queued or running.',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const { rows } = await sources.db.query<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM tasks WHERE status IN ('queued', 'running') GROUP BY status`,
      );
      this.reset();
      this.set({ status: 'queued' }, 0);
      this.set({ status: 'running' }, 0);
      for (const row of rows) this.set({ status: row.status }, row.n);
    },
  });
  const providerCalls = new Counter({
    name: 'rivya_provider_calls_total',
    help: 'Calls to provider accounts, by account, operation (submit, poll) and outcome (ok, or the failure reason).',
    labelNames: ['account', 'operation', 'outcome'],
    registers: [registry],
  });
  const providerFailovers = new Counter({
    name: 'rivya_provider_failovers_total',
    help: 'Submissions passed on to the next account of a route, by model and the account that failed.',
    labelNames: ['model', 'from'],
    registers: [registry],
  });
  const providerCoolDowns = new Counter({
    name: 'rivya_provider_cool_downs_total',
    help: 'Times a provider account was taken out of rotation after repeated failures.',
    labelNames: ['account'],
    registers: [registry],
  });
  let providerAvailability: () => { account: string; available: boolean }[] = () => [];
  new Gauge({
    name: 'rivya_provider_available',
    help: 'Whether a provider account is in rotation (1) or cooling down (0), as this process sees it.',
    labelNames: ['account'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { account, available } of providerAvailability()) this.set({ account }, available ? 1 : 0);
    },
  });
  return {
    registry,
    providerCall(account: string, operation: string, outcome: string): void {
      providerCalls.inc({ account, operation, outcome });
    },
    providerFailover(model: string, from: string): void {
      providerFailovers.inc({ model, from });
    },
    providerCoolDown(account: string): void {
      providerCoolDowns.inc({ account });
    },
    /** Where the availability gauge reads each account's state. */
    watchProviders(read: () => { account: string; available: boolean }[]): void {
      providerAvailability = read;
    },
    observeRequest(method: string, route: string, status: number, seconds: number): void {
      httpRequests.inc({ method, route, status: String(status) });
      httpDuration.observe({ method, route }, seconds);
    },
    taskTransition(model: string, status: string): void {
      taskTransitions.inc({ model, status });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
