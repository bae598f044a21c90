import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from './db/port.js';
import { DependencyUnavailableError } from './errors.js';
import { TASK_STATUSES, type TaskStatus } from './domain.js';
import type { JobQueue } from './jobs/port.js';

export interface MetricsSources {
  db: Database;
  queue: JobQueue;
  /** Tasks per status, every status listed (cheap: see `TaskStore.countByStatus`). */
  countTasks: () => Promise<Record<TaskStatus, number>>;
}

let processRegistry: Registry | null = null;

/**
 * Node's and the process's own metrics (`collectDefaultMetrics`: CPU, RSS, heap, event-loop lag,
 * GC, handles). They describe the process, not one service in it, and their collectors (an
 * event-loop delay monitor, a GC observer) are never stopped: one registry per process, made on
 * first use and shared by every service the process runs (tests run several).
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * What `read` gives, or null while the store cannot be read (`DependencyUnavailableError`): the
 * gauges that read it then keep their last values, and the scrape goes on. An outage is when an
 * operator needs the rest most (the process, the HTTP answers, the 503s being counted); failing
 * the whole scrape would hide them all. Any other error still fails it.
 */
async function unlessUnavailable<T>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof DependencyUnavailableError) return null;
    throw error;
  }
}

/** Queue waits: from well under a second (an idle worker) to an hour (a backlog). */
const QUEUE_WAIT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Run times: seconds (the instant provider) to the task timeout (30 min by default) and beyond. */
const RUN_TIME_BUCKETS = [1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600];

/**
 * The Prometheus metrics of one service, in its own registry (so tests can run several), merged
 * with the process's default metrics. Every label takes a bounded set of values: routes are
 * patterns, models and statuses come from the catalog, outcomes from the task error codes.
 */
/** What the live view reports: its reads by kind and source, and what it holds. */
type LiveViewReadings = () => { reads: Record<'task' | 'account', Record<'memory' | 'database', number>>; tasks: number; taskBytes: number };

export function createMetrics(sources: MetricsSources) {
  const own = new Registry();
  const httpRequests = new Counter({
    name: 'rivya_http_requests_total',
    help: 'HTTP requests answered, by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [own],
  });
  const httpDuration = new Histogram({
    name: 'rivya_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method and route.',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60],
    registers: [own],
  });
  const taskTransitions = new Counter({
    name: 'rivya_task_transitions_total',
    help: 'Task status changes, by model and new status.',
    labelNames: ['model', 'status'],
    registers: [own],
  });
  new Gauge({
    name: 'rivya_queue_depth',
    help: 'Jobs waiting (queued) or running (active), per queue.',
    labelNames: ['queue', 'state'],
    registers: [own],
    async collect() {
      const depths = await unlessUnavailable(() => sources.queue.depth());
      if (depths === null) return;
      this.reset();
      for (const depth of depths) {
        this.set({ queue: depth.name, state: 'queued' }, depth.queued);
        this.set({ queue: depth.name, state: 'active' }, depth.active);
      }
    },
  });
  new Gauge({
    name: 'rivya_credits_held',
    help: 'Credits held by open holds, across all accounts.',
    registers: [own],
    async collect() {
      const result = await unlessUnavailable(() => sources.db.query<{ held: number }>('SELECT coalesce(sum(held), 0)::bigint AS held FROM accounts'));
      if (result !== null) this.set(Number(result.rows[0]?.held ?? 0));
    },
  });
  new Gauge({
    name: 'rivya_tasks',
    help: 'Tasks in the store, by status (all of them, ended ones included).',
    labelNames: ['status'],
    registers: [own],
    async collect() {
      const counts = await unlessUnavailable(() => sources.countTasks());
      if (counts !== null) for (const status of TASK_STATUSES) this.set({ status }, counts[status]);
    },
  });
  const queueWait = new Histogram({
    name: 'rivya_task_queue_wait_seconds',
    help: 'Time from a task\'s creation to its start by a worker (to its end, if it never started), observed when it ends; by model and outcome.',
    labelNames: ['model', 'outcome'],
    buckets: QUEUE_WAIT_BUCKETS,
    registers: [own],
  });
  const runTime = new Histogram({
    name: 'rivya_task_run_seconds',
    help: 'Time from a task\'s start by a worker to its end, observed when it ends; by model and outcome.',
    labelNames: ['model', 'outcome'],
    buckets: RUN_TIME_BUCKETS,
    registers: [own],
  });
  const providerCalls = new Counter({
    name: 'rivya_provider_calls_total',
    help: 'Calls to provider accounts, by account, operation (submit, poll) and outcome (ok, or the failure reason).',
    labelNames: ['account', 'operation', 'outcome'],
    registers: [own],
  });
  const providerFailovers = new Counter({
    name: 'rivya_provider_failovers_total',
    help: 'Submissions passed on to the next account of a route, by model and the account that failed.',
    labelNames: ['model', 'from'],
    registers: [own],
  });
  const providerCoolDowns = new Counter({
    name: 'rivya_provider_cool_downs_total',
    help: 'Times a provider account was taken out of rotation after repeated failures.',
    labelNames: ['account'],
    registers: [own],
  });
  const webhookAttempts = new Counter({
    name: 'rivya_webhook_attempts_total',
    help: 'Webhook delivery attempts, by outcome: succeeded, retry (failed, tried again later) or failed (failed for good).',
    labelNames: ['outcome'],
    registers: [own],
  });
  const webhookLatency = new Histogram({
    name: 'rivya_webhook_attempt_seconds',
    help: 'Time from the start of a webhook attempt to the receiver\'s answer (or the failure).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
    registers: [own],
  });
  let providerAvailability: () => { account: string; available: boolean }[] = () => [];
  new Gauge({
    name: 'rivya_provider_available',
    help: 'Whether a provider account is in rotation (1) or cooling down (0), as this process sees it.',
    labelNames: ['account'],
    registers: [own],
    collect() {
      this.reset();
      for (const { account, available } of providerAvailability()) this.set({ account }, available ? 1 : 0);
    },
  });
  let liveView: LiveViewReadings = () => ({ reads: { task: { memory: 0, database: 0 }, account: { memory: 0, database: 0 } }, tasks: 0, taskBytes: 0 });
  new Counter({
    name: 'rivya_live_view_reads_total',
    help: 'Polls of unfinished tasks (kind task) and account reads answered from this process\'s memory view or from the database.',
    labelNames: ['kind', 'source'],
    registers: [own],
    collect() {
      // Counted by the view itself (on the hot path a counter's labels would cost more than the read).
      const { reads } = liveView();
      this.reset();
      for (const kind of ['task', 'account'] as const) {
        for (const source of ['memory', 'database'] as const) this.inc({ kind, source }, reads[kind][source]);
      }
    },
  });
  new Gauge({
    name: 'rivya_live_view_tasks',
    help: 'Unfinished tasks held in this process\'s memory view.',
    registers: [own],
    collect() {
      this.set(liveView().tasks);
    },
  });
  new Gauge({
    name: 'rivya_live_view_bytes',
    help: 'What the tasks held in this process\'s memory view weigh (against RIVYA_LIVE_VIEW_BYTES).',
    registers: [own],
    collect() {
      this.set(liveView().taskBytes);
    },
  });
  return {
    /** This service's series and the process's default ones. */
    registry: Registry.merge([own, processMetrics()]),
    providerCall(account: string, operation: string, outcome: string): void {
      providerCalls.inc({ account, operation, outcome });
    },
    providerFailover(model: string, from: string): void {
      providerFailovers.inc({ model, from });
    },
    providerCoolDown(account: string): void {
      providerCoolDowns.inc({ account });
    },
    /** Where the live view's series are read. */
    watchLiveView(read: LiveViewReadings): void {
      liveView = read;
    },
    /** Where the availability gauge reads each account's state. */
    watchProviders(read: () => { account: string; available: boolean }[]): void {
      providerAvailability = read;
    },
    observeRequest(method: string, route: string, status: number, seconds: number): void {
      httpRequests.inc({ method, route, status: String(status) });
      httpDuration.observe({ method, route }, seconds);
    },
    /** One webhook attempt made: `outcome` is `succeeded`, `retry` or `failed`. */
    webhookAttempt(outcome: 'succeeded' | 'retry' | 'failed', seconds: number): void {
      webhookAttempts.inc({ outcome });
      webhookLatency.observe(seconds);
    },
    taskTransition(model: string, status: string): void {
      taskTransitions.inc({ model, status });
    },
    /**
     * A task ended: `outcome` is `succeeded` or its error code; `runSeconds` is null for a task
     * that never started (canceled or timed out while queued).
     */
    taskEnded(model: string, outcome: string, queueWaitSeconds: number, runSeconds: number | null): void {
      queueWait.observe({ model, outcome }, queueWaitSeconds);
      if (runSeconds !== null) runTime.observe({ model, outcome }, runSeconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
