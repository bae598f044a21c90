// Resident memory of `rivya serve` on the embedded default, as a user runs it (bin/rivya.js,
// instant provider, a fresh data dir): after the first start, after a restart, after a round of
// requests (tasks created and run, lists read), and again after 100,000 finished tasks were
// added to the database (bench/fill-tasks.ts, while the service is stopped) and the service
// restarted and did the same round. Reads VmRSS and VmHWM (the peak) from /proc/<pid>/status.
// Give other checkouts to measure them side by side in the same run (phase by phase, in turn):
//   npm run bench:memory [-- tasks=100000 before=/path/to/other/checkout]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiClient, devKey, freePort } from '../test/helpers/serve-process.js';
import { waitFor } from '../test/helpers/wait-for.js';

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.split('=') as [string, string]));
const TASKS = Number(args['tasks'] ?? 100_000);
const ROUND_TASKS = 20;
const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
const checkouts = [...(args['before'] ? [resolve(args['before'])] : []), here];

interface Sample { rss: number; hwm: number }
interface Service { process: ChildProcess; url: string; exited: Promise<number | null> }

/** VmRSS and VmHWM of a process, in MB. */
async function sample(pid: number): Promise<Sample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

async function start(root: string, dataDir: string): Promise<Service> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'bin', 'rivya.js'), 'serve'], {
    cwd: dataDir,
    env: {
      ...process.env, HOST: '127.0.0.1', PORT: String(port), RIVYA_PUBLIC_URL: `http://127.0.0.1:${port}`,
      RIVYA_DATA_DIR: dataDir, RIVYA_PROVIDER: 'instant', RIVYA_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  await waitFor(() => output.includes('rivya is running') || child.exitCode !== null, 300_000, `${root} to start`);
  if (child.exitCode !== null) throw new Error(`rivya serve (${root}) exited:\n${output}`);
  return { process: child, url: `http://127.0.0.1:${port}`, exited };
}

async function stop(service: Service): Promise<void> {
  service.process.kill('SIGTERM');
  const code = await service.exited;
  if (code !== 0) throw new Error(`rivya serve exited with ${code}`);
}

/** What a client does in a while: creates tasks and waits for them, reads lists, the account and its ledger. */
async function round(service: Service, dataDir: string): Promise<void> {
  const api = apiClient(service.url, await devKey(dataDir));
  const ids = await Promise.all(Array.from({ length: ROUND_TASKS }, async (_, i) => {
    const created = await api<{ id: string }>('/api/v1/tasks', { method: 'POST', body: { model: 'sora-2', prompt: `A paper boat ${i}`, params: { n_frames: 10 } } });
    if (created.status !== 201) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
    return created.body.id;
  }));
  for (const id of ids) {
    await waitFor(async () => {
      const { body } = await api<{ status: string }>(`/api/v1/tasks/${id}?wait=10`);
      return ['succeeded', 'failed', 'canceled'].includes(body.status);
    }, 120_000, `task ${id} to end`);
  }
  let cursor: string | null = null;
  for (let page = 0; page < 10; page++) {
    const listed: { body: { next_cursor: string | null } } = await api(`/api/v1/tasks?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    cursor = listed.body.next_cursor;
    if (!cursor) break;
  }
  await api('/api/v1/account');
  await api('/api/v1/account/ledger?limit=100');
}

async function fill(root: string, dataDir: string): Promise<void> {
  const child = spawn(process.execPath, [join(here, 'bin', 'run-ts.js'), join(here, 'bench', 'fill-tasks.ts'), root, dataDir, String(TASKS)], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  if (code !== 0) throw new Error(`fill-tasks exited with ${code}`);
}

const settle = () => new Promise((done) => setTimeout(done, 2000));

interface Run { root: string; dataDir: string; service: Service | null; samples: Map<string, Sample> }
const runs: Run[] = [];
for (const root of checkouts) runs.push({ root, dataDir: await mkdtemp(join(tmpdir(), 'rivya-memory-')), service: null, samples: new Map() });

const phases: { name: string; act: (run: Run) => Promise<void> }[] = [
  { name: 'first start (fresh data dir)', act: async (run) => void (run.service = await start(run.root, run.dataDir)) },
  { name: 'restart', act: async (run) => { await stop(run.service!); run.service = await start(run.root, run.dataDir); } },
  { name: `after ${ROUND_TASKS} tasks run + reads`, act: (run) => round(run.service!, run.dataDir) },
  {
    name: `restart with +${TASKS} tasks`,
    act: async (run) => { await stop(run.service!); await fill(run.root, run.dataDir); run.service = await start(run.root, run.dataDir); },
  },
  { name: `after ${ROUND_TASKS} tasks run + reads`, act: (run) => round(run.service!, run.dataDir) },
];

try {
  for (const [index, phase] of phases.entries()) {
    for (const run of runs) {
      process.stderr.write(`${basename(run.root)}: ${phase.name}\n`);
      await phase.act(run);
      await settle();
      run.samples.set(`${index}`, await sample(run.service!.process.pid!));
    }
  }
} finally {
  for (const run of runs) {
    if (run.service && run.service.process.exitCode === null) await stop(run.service).catch(() => run.service?.process.kill('SIGKILL'));
    await rm(run.dataDir, { recursive: true, force: true });
  }
}

const fmt = (value: number) => value.toFixed(0).padStart(6);
const header = runs.map((run) => `${basename(run.root).slice(0, 13).padStart(13)} RSS  peak`).join(' | ');
console.log(`\nrivya serve, embedded database, MB (VmRSS now, VmHWM peak of the process)\n${'phase'.padEnd(40)} | ${header}`);
for (const [index, phase] of phases.entries()) {
  const cells = runs.map((run) => {
    const s = run.samples.get(`${index}`)!;
    return `${' '.repeat(13)}${fmt(s.rss)}${fmt(s.hwm)}`;
  });
  console.log(`${phase.name.padEnd(40)} | ${cells.join(' | ')}`);
}
const growth = runs.map((run) => `${' '.repeat(13)}${fmt(run.samples.get('4')!.rss - run.samples.get('2')!.rss)}${' '.repeat(6)}`);
console.log(`${`growth with +${TASKS} tasks (rows 5 - 3)`.padEnd(40)} | ${growth.join(' | ')}`);
