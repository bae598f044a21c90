import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toAccount, type AccountRow } from '../../src/accounts/account-store.js';
import type { StoredMedia } from '../../src/domain.js';
import { presentAccount } from '../../src/http/routes/account.js';
import { presentTask, type TaskView } from '../../src/tasks/present-task.js';
import { toTask, type TaskRow } from '../../src/tasks/task-row.js';
import { BACKENDS, POSTGRES_AVAILABLE } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The live view's promise, checked against the database: random interleavings of creates, worker
 * transitions (claims, progress, hand-overs, ends), cancels, grants, limit changes and reads go
 * through two API processes (A and B, each with its own pool, feed and view) on one PostgreSQL
 * database, while notification connections are cut and come back. Actions run one after another;
 * after each, the test records what the database holds for each account (its Account object and
 * every task's Task object) at the account's log position (`event_counters.last_seq`). Then:
 *
 * - every change a client can see takes exactly one position: a position recorded twice holds the
 *   same state, and an action moves the position by one at most;
 * - every answer that carries `Rivya-Position: P` is never older than the position the client sent
 *   (the largest it had received), is not ahead of the log, and equals the database's state at P.
 *
 * Worker transitions run now in A or B (whose own commits update their view at once) and now in a
 * third, worker-only process (that the API processes hear of by notice only). Answers are checked
 * behind the actions, so a read goes out right after the answer before it and races the notices of
 * what changed; some reads follow a pause that lets notices arrive, some run at once with a
 * worker's step. Fixed seed and runs, overridable: RIVYA_LIVE_VIEW_SEED, RIVYA_LIVE_VIEW_RUNS.
 * PostgreSQL only (PGlite is one process and has no notification connection to cut): skipped, and
 * said so, when no server answers; CI requires one.
 */
const SEED = Number(process.env['RIVYA_LIVE_VIEW_SEED'] ?? 20_261_129);
const RUNS = Number(process.env['RIVYA_LIVE_VIEW_RUNS'] ?? 30);

/** A (0) or B (1): the API processes clients talk to. */
type Api = 0 | 1;
/** A, B, or the worker-only process (2): where a worker transition or an operator's change runs. */
type Process = 0 | 1 | 2;
/** Which of the run's two accounts (each with its own client). */
type Who = 0 | 1;

type Action =
  | { kind: 'create'; via: Api; who: Who; pro: boolean }
  | { kind: 'claim'; by: Process; task: number }
  | { kind: 'progress'; by: Process; task: number; progress: number }
  | { kind: 'handOver'; by: Process; task: number }
  | { kind: 'end'; by: Process; task: number; succeed: boolean }
  /** A cancel; `then`: the client reads the task at once through that process. */
  | { kind: 'cancel'; via: Api; task: number; then: Api | null }
  | { kind: 'grant'; by: Process; who: Who; amount: number }
  | { kind: 'limits'; by: Process; who: Who; activeTasks: number }
  /** A read; `then`: the client reads it again at once through that process (what one process showed, the other must not undo). */
  | { kind: 'readTask'; via: Api; task: number; sendSeen: boolean; then: Api | null }
  | { kind: 'readAccount'; via: Api; who: Who; sendSeen: boolean }
  /** Cuts one process's notification connection, or all; `outage` actions later, waits until they listen again. */
  | { kind: 'cut'; listener: number | 'all'; outage: number }
  /**
   * A worker's step (or a grant) and a read of what it changes, at once: the read may start
   * `delayMs` after the step. Then that process is read again.
   */
  | { kind: 'race'; step: 'claim' | 'progress' | 'end' | 'grant'; by: Process; task: number; via: Api; sendSeen: boolean; delayMs: number }
  | { kind: 'pause'; ms: number };

const api = fc.constantFrom<Api>(0, 1);
const anyProcess = fc.constantFrom<Process>(0, 1, 2);
const who = fc.constantFrom<Who>(0, 1);
const task = fc.nat(63);
const then = fc.option(api, { freq: 2 });
/** True four times in five. */
const mostly = fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('create' as const), via: api, who, pro: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('claim' as const), by: anyProcess, task }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('progress' as const), by: anyProcess, task, progress: fc.integer({ min: 1, max: 99 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('handOver' as const), by: anyProcess, task }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('end' as const), by: anyProcess, task, succeed: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('cancel' as const), via: api, task, then }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('grant' as const), by: anyProcess, who, amount: fc.integer({ min: 1, max: 100 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('limits' as const), by: anyProcess, who, activeTasks: fc.integer({ min: 2, max: 12 }) }) },
  { weight: 16, arbitrary: fc.record({ kind: fc.constant('readTask' as const), via: api, task, sendSeen: mostly, then }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('readAccount' as const), via: api, who, sendSeen: mostly }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('cut' as const), listener: fc.oneof(fc.nat(2), fc.constant('all' as const)), outage: fc.integer({ min: 0, max: 20 }) }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('race' as const), step: fc.constantFrom('claim' as const, 'progress' as const, 'end' as const, 'grant' as const),
      by: anyProcess, task, via: api, sendSeen: mostly, delayMs: fc.integer({ min: 0, max: 4 }),
    }),
  },
);

/** A Task object as compared: its result's signed URLs and their expiry are made per request; the rest must match exactly. */
type ComparableTask = Omit<TaskView, 'result'> & { result: { media: Omit<NonNullable<TaskView['result']>['media'][number], 'url'>[] } | null };
function comparableTask(view: TaskView): ComparableTask {
  return { ...view, result: view.result && { media: view.result.media.map(({ url: _url, ...item }) => item) } };
}

/** What the database holds for one account at one position of its log. */
interface Truth {
  account: unknown;
  tasks: Map<string, ComparableTask>;
}

/** A client of one account: its key and the largest position it has received. */
interface Client {
  accountId: string;
  auth: Record<string, string>;
  seen: number;
  /** The account's states by position, each recorded right after the action that reached it. */
  history: Map<number, Truth>;
}

interface TaskState {
  id: string;
  owner: Who;
  /** The lease of the attempt that holds it now (claimed and not handed over or ended). */
  lease: string | null;
  ended: boolean;
}

const MEDIA: StoredMedia = {
  target: 's3', key: 'results/live-view.mp4', kind: 'video', name: 'video.mp4', mimeType: 'video/mp4',
  width: 1280, height: 720, durationSeconds: 4, sizeBytes: 1000,
};

const postgres = BACKENDS.find((backend) => backend.name === 'postgres');

describe.runIf(POSTGRES_AVAILABLE)('the live view across two API processes and a worker on PostgreSQL', () => {
  /** A, B, and the worker-only process, all on one database. */
  const services: TestService[] = [];
  /** The test's own connection: the database's truth, and cutting notification connections. */
  let observer: pg.Client;

  beforeAll(async () => {
    const first = await startTestService(postgres!, { worker: false });
    services.push(first);
    const url = first.runtime.config.databaseUrl!;
    // One at a time: each migrates the shared database at start.
    for (let i = 0; i < 2; i++) services.push(await startTestService(postgres!, { worker: false, databaseUrl: url }));
    observer = new pg.Client({ connectionString: url });
    await observer.connect();
  });

  afterAll(async () => {
    await observer?.end();
    // The first service made the database and drops it: it goes last.
    for (const service of [...services].reverse()) await service.close();
  });

  const runtimeOf = (index: Process) => services[index]!.runtime;

  /** The account's Account object and Task objects now, with the position they are at: one snapshot, one round trip. */
  async function snapshot(accountId: string): Promise<{ position: number; truth: Truth }> {
    const id = observer.escapeLiteral(accountId);
    const results = (await observer.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
      SELECT last_seq FROM event_counters WHERE account_id = ${id};
      SELECT * FROM accounts WHERE id = ${id};
      SELECT * FROM tasks WHERE account_id = ${id};
      COMMIT`)) as unknown as pg.QueryResult[];
    const [counters, accounts, tasks] = [results[1]!.rows as { last_seq: number }[], results[2]!.rows as AccountRow[], results[3]!.rows as TaskRow[]];
    const stores = runtimeOf(2).stores;
    const views = await Promise.all(tasks.map(async (row) => comparableTask(await presentTask(toTask(row), stores, new Date()))));
    return {
      position: counters[0]?.last_seq ?? 0,
      truth: { account: json(presentAccount(toAccount(accounts[0]!))), tasks: new Map(views.map((view) => [view.id, view])) },
    };
  }

  /**
   * Waits until every process listens again: a connection of each, none of those cut (`gone`), has
   * run its LISTEN; the process resets its view the moment that answers.
   */
  async function listening(gone: ReadonlySet<number>): Promise<void> {
    await waitFor(async () => {
      const { rows } = await observer.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE application_name = 'rivya-listen' AND datname = current_database() AND state = 'idle' AND query LIKE 'LISTEN %'`,
      );
      return rows.length === services.length && rows.every(({ pid }) => !gone.has(pid));
    }, 10_000, 'every process to listen again');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  /**
   * Records the account's state after an action: a position seen before must hold the same state
   * (nothing a client sees changed without taking a position), and a new one is the next.
   */
  async function record(client: Client, after: string): Promise<void> {
    const { position, truth } = await snapshot(client.accountId);
    const known = client.history.get(position);
    if (known) {
      expectSame(truth, known, `${after}: the state changed without a new position (still ${position}); now vs before`);
      return;
    }
    const latest = Math.max(...client.history.keys());
    expect(position, `${after}: one action, one position`).toBe(latest + 1);
    client.history.set(position, truth);
  }

  /** The answer's position: never older than what the client sent; it becomes the client's latest if it is. */
  function positionOf(client: Client, response: LightMyRequestResponse, sent: number, what: string): number {
    const header = response.headers['rivya-position'];
    expect(header, `${what}: Rivya-Position`).toMatch(/^\d+$/);
    const position = Number(header);
    expect(position, `${what}: answered at ${position}, older than the ${sent} the client sent`).toBeGreaterThanOrEqual(sent);
    client.seen = Math.max(client.seen, position);
    return position;
  }

  /** The state recorded at `position`, which the log must have reached. */
  function truthAt(client: Client, position: number, what: string): Truth {
    const latest = Math.max(...client.history.keys());
    expect(position, `${what}: answered at ${position}, ahead of the log (at ${latest})`).toBeLessThanOrEqual(latest);
    return client.history.get(position)!;
  }

  it(`answers every read as the database was at its Rivya-Position, never older than the client was shown (seed ${SEED}, ${RUNS} runs)`, async () => {
    const counts = { actions: 0, taskReads: 0, accountReads: 0, readsWhileCut: 0, cuts: 0, positions: 0 };
    /** Reads A and B answered from their views so far. */
    const fromMemory = () => {
      const [a, b] = [runtimeOf(0).view.reads(), runtimeOf(1).view.reads()];
      return { task: a.task.memory + b.task.memory, account: a.account.memory + b.account.memory };
    };
    const memoryBefore = fromMemory();

    const property = fc.asyncProperty(fc.array(action, { minLength: 30, maxLength: 80 }), async (actions) => {
      const clients: Client[] = [];
      for (let i = 0; i < 2; i++) {
        const { accountId, auth } = await services[0]!.newAccount(200, { active_tasks: 8, creates_per_minute: 100_000, requests_per_minute: 100_000 });
        const client: Client = { accountId, auth, seen: 0, history: new Map() };
        const { position, truth } = await snapshot(accountId);
        client.history.set(position, truth);
        clients.push(client);
      }
      const tasks: TaskState[] = [];
      // Three picks in four are of tasks not ended yet (the ones the views hold), when there are any.
      const pick = (index: number) => {
        const unfinished = tasks.filter((state) => !state.ended);
        const pool = index % 4 === 3 || unfinished.length === 0 ? tasks : unfinished;
        return pool[Math.floor(index / 4) % Math.max(pool.length, 1)];
      };
      const headers = (client: Client, sendSeen: boolean) => ({ ...client.auth, ...(sendSeen ? { 'rivya-position': String(client.seen) } : {}) });
      let leases = 0;

      // Recording the database's state and comparing answers with it run behind the actions, in
      // order, so that a read right after a change races that change's notices as a client's would.
      // A change waits for them: each state is recorded before the next change.
      let checks: Promise<void> = Promise.resolve();
      const thenCheck = (check: () => Promise<void> | void) => {
        checks = checks.then(check);
        // Awaited later: before the next change, or at the end.
        checks.catch(() => {});
      };
      const change = async <T>(client: Client, what: string, work: () => Promise<T>): Promise<T> => {
        await checks;
        const result = await work();
        thenCheck(() => record(client, what));
        return result;
      };

      /** GET /api/v1/tasks/{id} through `via`, sending the client's latest position or none; returns the check of its answer against the database. */
      const readTask = async (via: Api, target: TaskState, sendSeen: boolean, what: string): Promise<() => void> => {
        const client = clients[target.owner]!;
        const sent = sendSeen ? client.seen : 0;
        counts.taskReads++;
        if (gone.size > 0) counts.readsWhileCut++;
        const response = await runtimeOf(via).app!.inject({ url: `/api/v1/tasks/${target.id}`, headers: headers(client, sendSeen) });
        expect(response.statusCode, `${what}: ${response.body}`).toBe(200);
        const answered = response.json<TaskView>();
        const position = positionOf(client, response, sent, what);
        return () => expectSame(comparableTask(answered), truthAt(client, position, what).tasks.get(target.id), `${what}: the task as answered at ${position}`);
      };

      /** GET /api/v1/account through `via`, as `readTask` reads a task. */
      const readAccount = async (via: Api, client: Client, sendSeen: boolean, what: string): Promise<() => void> => {
        const sent = sendSeen ? client.seen : 0;
        counts.accountReads++;
        if (gone.size > 0) counts.readsWhileCut++;
        const response = await runtimeOf(via).app!.inject({ url: '/api/v1/account', headers: headers(client, sendSeen) });
        expect(response.statusCode, `${what}: ${response.body}`).toBe(200);
        const answered: unknown = response.json();
        const position = positionOf(client, response, sent, what);
        return () => expectSame(answered, truthAt(client, position, what).account, `${what}: the account as answered at ${position}`);
      };

      /** A worker's claim of the task (the job of its current hand-over), in process `by`. */
      const claim = async (by: Process, target: TaskState) => {
        const lease = `lease-${++leases}`;
        const { rows } = await observer.query<{ hand_over_seq: number }>('SELECT hand_over_seq FROM tasks WHERE id = $1', [target.id]);
        if (await runtimeOf(by).lifecycle.claim({ taskId: target.id, seq: rows[0]!.hand_over_seq }, lease, 60)) target.lease = lease;
      };
      /** A heartbeat with progress of the attempt that holds the task, if one does. */
      const progress = async (by: Process, target: TaskState, value: number) => {
        if (target.lease) await runtimeOf(by).lifecycle.heartbeat(target.id, target.lease, 60, value);
      };
      /** Ends the task: an attempt ends the task it holds; without one, it ends as the sweeper ends a task (a timeout). */
      const end = async (by: Process, target: TaskState, succeed: boolean) => {
        const guard = target.lease ? { from: ['running' as const], lease: target.lease } : { from: ['queued' as const, 'running' as const] };
        const ending = succeed && target.lease
          ? { status: 'succeeded' as const, media: [MEDIA] }
          : { status: 'failed' as const, error: { code: 'upstream_error' as const, message: 'The upstream failed.' } };
        if (await runtimeOf(by).lifecycle.end(target.id, ending, guard)) target.ended = true;
        target.lease = null;
      };
      const grant = (by: Process, client: Client, amount: number) =>
        runtimeOf(by).ledger.postCreditChange({ accountId: client.accountId, amount, reason: 'top-up' });

      /** The notification connections cut, and the step from which the test waits for them to be back. */
      const gone = new Set<number>();
      let backAt: number | null = null;
      const listeningAgain = async () => {
        await listening(gone);
        gone.clear();
        backAt = null;
      };

      for (const [step, act] of actions.entries()) {
        const what = `step ${step} (${JSON.stringify(act)})`;
        if (backAt !== null && step >= backAt) await listeningAgain();
        counts.actions++;
        switch (act.kind) {
          case 'create': {
            const client = clients[act.who]!;
            const sent = client.seen;
            const response = await change(client, what, () => runtimeOf(act.via).app!.inject({
              method: 'POST', url: '/api/v1/tasks', headers: headers(client, true),
              payload: { model: act.pro ? 'sora-2-pro' : 'sora-2', prompt: `step ${step}` },
            }));
            expect([201, 402, 429], `${what}: ${response.body}`).toContain(response.statusCode);
            if (response.statusCode !== 201) break;
            const created = response.json<TaskView>();
            tasks.push({ id: created.id, owner: act.who, lease: null, ended: false });
            const position = positionOf(client, response, sent, what);
            thenCheck(() => expectSame(comparableTask(created), truthAt(client, position, what).tasks.get(created.id), `${what}: the created task, at ${position}`));
            break;
          }
          case 'claim': {
            const target = pick(act.task);
            if (target) await change(clients[target.owner]!, what, () => claim(act.by, target));
            break;
          }
          case 'progress': {
            const target = pick(act.task);
            if (target?.lease) await change(clients[target.owner]!, what, () => progress(act.by, target, act.progress));
            break;
          }
          case 'handOver': {
            const target = pick(act.task);
            const lease = target?.lease;
            if (!target || !lease) break;
            await change(clients[target.owner]!, what, () => runtimeOf(act.by).lifecycle.handOver({ taskId: target.id }, lease, 0));
            target.lease = null;
            break;
          }
          case 'end': {
            const target = pick(act.task);
            if (target) await change(clients[target.owner]!, what, () => end(act.by, target, act.succeed));
            break;
          }
          case 'cancel': {
            const target = pick(act.task);
            if (!target) break;
            const client = clients[target.owner]!;
            const sent = client.seen;
            const response = await change(client, what, () =>
              runtimeOf(act.via).app!.inject({ method: 'POST', url: `/api/v1/tasks/${target.id}/cancel`, headers: headers(client, true) }));
            expect([200, 409], `${what}: ${response.body}`).toContain(response.statusCode);
            if (response.statusCode !== 200) break;
            target.lease = null;
            target.ended = true;
            const canceled = response.json<TaskView>();
            const position = positionOf(client, response, sent, what);
            thenCheck(() => expectSame(comparableTask(canceled), truthAt(client, position, what).tasks.get(target.id), `${what}: the canceled task, at ${position}`));
            if (act.then !== null) thenCheck(await readTask(act.then, target, true, `${what}, then a read through ${act.then}`));
            break;
          }
          case 'grant': {
            const client = clients[act.who]!;
            await change(client, what, () => grant(act.by, client, act.amount));
            break;
          }
          case 'limits': {
            const client = clients[act.who]!;
            await change(client, what, () => runtimeOf(act.by).accounts.updateLimits(client.accountId, { active_tasks: act.activeTasks }));
            break;
          }
          case 'readTask': {
            const target = pick(act.task);
            if (!target) break;
            thenCheck(await readTask(act.via, target, act.sendSeen, what));
            if (act.then !== null) thenCheck(await readTask(act.then, target, act.sendSeen, `${what}, then through ${act.then}`));
            break;
          }
          case 'readAccount': {
            thenCheck(await readAccount(act.via, clients[act.who]!, act.sendSeen, what));
            break;
          }
          case 'cut': {
            // Whichever processes' connections are up now (one that is reconnecting has none).
            const { rows } = await observer.query<{ pid: number }>(
              `SELECT pid FROM pg_stat_activity WHERE application_name = 'rivya-listen' AND datname = current_database() ORDER BY pid`,
            );
            const cut = act.listener === 'all' ? rows : rows.slice(act.listener, act.listener + 1);
            for (const { pid } of cut) await observer.query('SELECT pg_terminate_backend($1)', [pid]);
            counts.cuts += cut.length;
            for (const { pid } of cut) gone.add(pid);
            backAt = Math.max(backAt ?? 0, step + 1 + act.outage);
            break;
          }
          case 'race': {
            const target = pick(act.task);
            if (!target) break;
            const client = clients[target.owner]!;
            await checks;
            const working = act.step === 'claim' ? claim(act.by, target)
              : act.step === 'progress' ? progress(act.by, target, 50 + (step % 50))
              : act.step === 'end' ? end(act.by, target, true)
              : grant(act.by, client, 1);
            const read = async () => {
              await new Promise((resolve) => setTimeout(resolve, act.delayMs));
              return act.step === 'grant' ? readAccount(act.via, client, act.sendSeen, what) : readTask(act.via, target, act.sendSeen, what);
            };
            const [, check] = await Promise.all([working, read()]);
            // The read's answer is the state before the step or after it: both are recorded.
            thenCheck(() => record(client, what));
            thenCheck(check);
            // A read the step's notice raced must not have been kept: read again through that process.
            const again = `${what}, then again`;
            thenCheck(act.step === 'grant' ? await readAccount(act.via, client, true, again) : await readTask(act.via, target, true, again));
            break;
          }
          case 'pause':
            await new Promise((resolve) => setTimeout(resolve, act.ms));
            break;
        }
      }
      await checks;
      // The next run starts with every process listening.
      if (backAt !== null) await listeningAgain();
      counts.positions += clients.reduce((sum, client) => sum + client.history.size - 1, 0);
    });

    const started = performance.now();
    await fc.assert(property, { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 150_000, markInterruptAsFailure: true, includeErrorInReport: true });
    const memory = fromMemory();
    const fromViews = { taskReadsFromView: memory.task - memoryBefore.task, accountReadsFromView: memory.account - memoryBefore.account };
    console.log(`[live view] seed ${SEED}, ${RUNS} runs in ${Math.round(performance.now() - started)} ms: ${JSON.stringify({ ...counts, ...fromViews })}`);
    // The views did answer (the reads checked were not all the database's), and reads met cut connections.
    expect(fromViews.taskReadsFromView).toBeGreaterThan(10);
    expect(fromViews.accountReadsFromView).toBeGreaterThan(10);
    expect(counts.readsWhileCut).toBeGreaterThan(10);
  }, 200_000);
});

/** Fails, naming each field that differs, unless `answered` is the database's `truth`. */
function expectSame(answered: unknown, truth: unknown, what: string): void {
  if (truth === undefined) expect.fail(`${what}: the database had no such object there`);
  try {
    expect(answered).toEqual(truth);
  } catch {
    const [left, right] = [answered as Record<string, unknown>, truth as Record<string, unknown>];
    const differ = Object.keys({ ...left, ...right })
      .filter((field) => JSON.stringify(left[field]) !== JSON.stringify(right[field]))
      .map((field) => `${field} ${JSON.stringify(left[field])} where the database has ${JSON.stringify(right[field])}`);
    expect.fail(`${what}, differs from the database: ${differ.join('; ')}`);
  }
}

/** The value as it travels in a JSON body. */
function json(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}
