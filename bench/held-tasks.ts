// Tasks held unfinished for the benchmarks, as in real use: sora-2-pro is routed to an upstream
// whose jobs run for hours (bench/hold-upstream.ts, a process of its own), which the worker polls
// with the product's default backoff; every other model stays on the instant provider, so the runs
// that create sora-2 tasks still measure the API and an instant worker (now beside those polls).
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import { MODEL_IDS } from '../src/catalog/models.js';
import { startProcessUntil } from './bench-kit.js';

/** How many tasks are held unfinished. */
export const HELD_TASKS = Number(process.env['BENCH_UNFINISHED'] ?? 1000);
/**
 * How often the worker polls each held task's upstream job, in seconds (`BENCH_HOLD_POLL_SECONDS`):
 * unset, the product's default backoff (2 s growing to 30 s). Tasks created together poll together
 * at first, far more often than tasks that started at different times.
 */
const HOLD_POLL_SECONDS = process.env['BENCH_HOLD_POLL_SECONDS'] ? Number(process.env['BENCH_HOLD_POLL_SECONDS']) : null;
/** The model of the held tasks; the other model stays instant. */
export const HELD_MODEL = 'sora-2-pro';
const CREATE_CONCURRENCY = 16;
const RUNNING_TIMEOUT_MS = 120_000;

/**
 * Starts the upstream that holds jobs and writes, in `dir`, the provider config routing
 * `HELD_MODEL` to it and every other model to the instant provider. Returns the upstream's
 * process and the environment that points a service at the config.
 */
export async function startHoldUpstream(dir: string): Promise<{ child: ChildProcess; env: Record<string, string> }> {
  const { child, match } = await startProcessUntil(['bin/run-ts.js', 'bench/hold-upstream.ts'], {}, /hold upstream at (\S+)\n/);
  const configPath = join(dir, 'providers.json');
  await writeFile(configPath, JSON.stringify({
    accounts: { instant: { kind: 'instant' }, hold: { kind: 'kie', api_key_env: 'BENCH_HOLD_KEY', base_url: match[1] } },
    routes: Object.fromEntries(MODEL_IDS.map((model) => [model, [model === HELD_MODEL ? 'hold' : 'instant']])),
    ...(HOLD_POLL_SECONDS === null ? {} : { poll: { min_seconds: HOLD_POLL_SECONDS, max_seconds: HOLD_POLL_SECONDS } }),
  }));
  if (HOLD_POLL_SECONDS !== null) process.stdout.write(`The worker polls each held task's upstream job every ${HOLD_POLL_SECONDS} s\n`);
  return { child, env: { RIVYA_CONFIG: configPath, BENCH_HOLD_KEY: 'kie-test-key' } };
}

/**
 * Creates `HELD_TASKS` tasks of `HELD_MODEL` through the API, waits (bounded) until they are
 * running, prints how long that took and how many are; returns their ids.
 */
export async function holdTasks(api: string, headers: Record<string, string>): Promise<string[]> {
  const started = Date.now();
  const ids = await createHeldTasks(api, headers);
  const createSeconds = (Date.now() - started) / 1000;
  const counts = await waitHeldRunning(api, headers);
  process.stdout.write(
    `${HELD_TASKS} ${HELD_MODEL} tasks held: created in ${createSeconds.toFixed(1)} s; ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s after the first create, ${counts.running} running and ${counts.queued} queued\n`,
  );
  return ids;
}

/** Creates `HELD_TASKS` tasks of `HELD_MODEL` through the API, a few at a time; returns their ids. */
async function createHeldTasks(api: string, headers: Record<string, string>): Promise<string[]> {
  const body = JSON.stringify({ model: HELD_MODEL, prompt: 'A benchmark of a task held running upstream', params: { n_frames: '10' } });
  const ids: string[] = [];
  let next = 0;
  const creator = async () => {
    while (next < HELD_TASKS) {
      const index = next++;
      const response = await fetch(`${api}/api/v1/tasks`, { method: 'POST', headers, body });
      if (response.status !== 201) throw new Error(`Creating a held task answered ${response.status}: ${await response.text()}`);
      ids[index] = ((await response.json()) as { id: string }).id;
    }
  };
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, creator));
  return ids;
}

/** How many held tasks have each status, counted through the API's list. */
export async function countHeldTasks(api: string, headers: Record<string, string>): Promise<{ running: number; queued: number }> {
  const count = async (status: string) => {
    let total = 0;
    let cursor = '';
    do {
      const page = await (await fetch(`${api}/api/v1/tasks?model=${HELD_MODEL}&status=${status}&limit=100${cursor}`, { headers })).json() as {
        data: unknown[]; next_cursor: string | null;
      };
      total += page.data.length;
      cursor = page.next_cursor ? `&cursor=${page.next_cursor}` : '';
    } while (cursor);
    return total;
  };
  return { running: await count('running'), queued: await count('queued') };
}

/** Waits (bounded) until every held task is running; returns the last count either way. */
async function waitHeldRunning(api: string, headers: Record<string, string>): Promise<{ running: number; queued: number }> {
  const deadline = Date.now() + RUNNING_TIMEOUT_MS;
  for (;;) {
    const counts = await countHeldTasks(api, headers);
    if (counts.running >= HELD_TASKS || Date.now() > deadline) return counts;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** autocannon requests that each GET one of `ids`, picked at random per request. */
export function randomTaskRequests(ids: readonly string[]): autocannon.Request[] {
  return [{ method: 'GET', setupRequest: (request) => ({ ...request, path: `/api/v1/tasks/${ids[Math.floor(Math.random() * ids.length)]}` }) }];
}
