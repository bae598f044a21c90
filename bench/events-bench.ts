// Push instead of polling, measured on the embedded default (`rivya serve`, instant provider), in one run:
//  1. task end → webhook received and task end → SSE frame: `tasks` tasks created evenly over
//     `seconds`, one endpoint subscribed to task.succeeded on a loopback receiver and one account
//     stream open. A latency is the arrival minus the task's completed_at (the time of the
//     transaction that ended it), on the same clock.
//  2. `streams` account streams open at once on the one API process (`accounts` accounts, the
//     same number of streams each): its resident set before and with them open, task end → frame
//     on every stream of the accounts whose tasks end meanwhile, and GET /api/v1/tasks/{id}
//     throughput (autocannon) without the streams, with them, and without them again.
//   npm run bench:events [-- tasks=500 seconds=60 streams=2000 accounts=100 get_seconds=10]
import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { request, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { load } from './bench-kit.js';
import { devKey, startServe } from '../test/helpers/serve-process.js';
import { startWebhookReceiver } from '../test/helpers/webhook-receiver.js';

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.split('=') as [string, string]));
const TASKS = Number(args['tasks'] ?? 500);
const SECONDS = Number(args['seconds'] ?? 60);
const STREAMS = Number(args['streams'] ?? 2000);
const ACCOUNTS = Number(args['accounts'] ?? 100);
const GET_SECONDS = Number(args['get_seconds'] ?? 10);
const ADMIN = 'bench-admin';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const summary = (values: number[]) =>
  `p50 ${percentile(values, 50).toFixed(0)} ms, p90 ${percentile(values, 90).toFixed(0)} ms, p99 ${percentile(values, 99).toFixed(0)} ms, max ${Math.max(...values).toFixed(0)} ms (n=${values.length})`;

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

/**
 * An account event stream read with node:http: calls `onSucceeded(completedAt, at)` for each
 * task.succeeded frame. Resolves once the stream's first frame arrived.
 */
function openStream(base: string, key: string, onSucceeded: (completedAt: number, at: number) => void): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`stream: ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      let opened = false;
      res.on('data', (chunk: string) => {
        const at = Date.now();
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!opened) {
            opened = true;
            resolve(req);
          }
          if (frame.includes('event: task.succeeded')) {
            const data = frame.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
            const event = JSON.parse(data) as { data: { task: { completed_at: string } } };
            onSucceeded(Date.parse(event.data.task.completed_at), at);
          }
          end = buffer.indexOf('\n\n');
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const dataDir = await mkdtemp(join(tmpdir(), 'rivya-bench-events-'));
const receiver = await startWebhookReceiver();
const serve = await startServe({
  RIVYA_DATA_DIR: dataDir, RIVYA_PROVIDER: 'instant', RIVYA_ADMIN_TOKEN: ADMIN, RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true',
  RIVYA_LOG_LEVEL: 'warn', RIVYA_WORKER_CONCURRENCY: '8',
});
const pid = serve.process.pid as number;
const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const unlimited = { creates_per_minute: 1_000_000, requests_per_minute: 1_000_000, active_tasks: 1_000_000 };

async function post<T>(url: string, headers: Record<string, string>, body: unknown, expected = 201): Promise<T> {
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status !== expected) throw new Error(`${url}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/** A new account with plenty of credits and no limits in the way, and a key for it. */
async function newAccount(name: string): Promise<Record<string, string>> {
  const account = await post<{ id: string }>(`${serve.url}/admin/v1/accounts`, admin, { name, credits: 1_000_000, limits: unlimited });
  const { key } = await post<{ key: string }>(`${serve.url}/admin/v1/accounts/${account.id}/keys`, admin, {});
  return { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
}

const createTask = (auth: Record<string, string>, prompt: string) =>
  post<{ id: string }>(`${serve.url}/api/v1/tasks`, auth, { model: 'sora-2', prompt });

const open: ClientRequest[] = [];
try {
  await devKey(dataDir);
  // 1. Webhook and stream latency, in the same run.
  const main = await newAccount('bench');
  const endpoint = await post<{ secret: string }>(`${serve.url}/api/v1/webhook_endpoints`, main, { url: `${receiver.url}/hook`, events: ['task.succeeded'] });
  const streamLatencies: number[] = [];
  const streamArrivals: number[] = [];
  open.push(await openStream(serve.url, main.authorization!.slice(7), (completedAt, at) => {
    streamLatencies.push(at - completedAt);
    streamArrivals.push(at);
  }));
  const started = Date.now();
  for (let i = 0; i < TASKS; i++) {
    const due = started + (i * SECONDS * 1000) / TASKS;
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    await createTask(main, `bench ${i}`);
  }
  const deadline = Date.now() + 60_000;
  while ((receiver.received.length < TASKS || streamLatencies.length < TASKS) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const verifier = new Webhook(endpoint.secret);
  const webhookLatencies = receiver.received.map((webhook) => {
    const event = verifier.verify(webhook.body, webhook.headers as Record<string, string>) as { data: { task: { completed_at: string } } };
    return webhook.at - Date.parse(event.data.task.completed_at);
  });
  console.log(`${TASKS} tasks over ${SECONDS} s on the embedded default (instant provider):`);
  console.log(`  task end → webhook received (one endpoint on loopback): ${summary(webhookLatencies)}`);
  console.log(`  task end → SSE frame (one account stream):              ${summary(streamLatencies)}`);
  // When the slowest arrived: together in time, they point at a stall of the server rather than at the path.
  const slowest = streamLatencies.map((latency, index) => ({ latency, second: (streamArrivals[index]! - started) / 1000 }))
    .sort((a, b) => b.latency - a.latency).slice(0, 6);
  console.log(`  slowest SSE frames (ms at s since the first create): ${slowest.map(({ latency, second }) => `${latency} at ${second.toFixed(1)}`).join(', ')}`);
  for (const request of open.splice(0)) request.destroy();

  // 2. Many streams on one API process.
  const accounts = await Promise.all(Array.from({ length: ACCOUNTS }, (_, index) => newAccount(`streams ${index}`)));
  const probe = await createTask(accounts[0]!, 'the task GET reads');
  await fetch(`${serve.url}/api/v1/tasks/${probe.id}?wait=30`, { headers: accounts[0]! });
  const getTask = () => load({ url: `${serve.url}/api/v1/tasks/${probe.id}`, headers: accounts[0]!, connections: 64, duration: GET_SECONDS });
  await load({ url: `${serve.url}/api/v1/tasks/${probe.id}`, headers: accounts[0]!, connections: 64, duration: 2 }); // warm-up
  const without = await getTask();
  const rssBefore = await rssMb(pid);
  const manyLatencies: number[] = [];
  const perAccount = Math.ceil(STREAMS / ACCOUNTS);
  for (let index = 0; index < STREAMS; index += 50) {
    await Promise.all(Array.from({ length: Math.min(50, STREAMS - index) }, async (_, offset) => {
      const auth = accounts[Math.floor((index + offset) / perAccount) % ACCOUNTS]!;
      open.push(await openStream(serve.url, auth.authorization!.slice(7), (completedAt, at) => manyLatencies.push(at - completedAt)));
    }));
  }
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const rssWith = await rssMb(pid);
  const withStreams = await getTask();
  // Tasks end on 10 of the accounts meanwhile: each succeeded event reaches every stream of its account.
  const ending = accounts.slice(0, 10);
  for (let round = 0; round < 10; round++) {
    await Promise.all(ending.map((auth, index) => createTask(auth, `fan-out ${round}.${index}`)));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const expectedFrames = 10 * ending.length * perAccount;
  const until = Date.now() + 30_000;
  while (manyLatencies.length < expectedFrames && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
  for (const request of open.splice(0)) request.destroy();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const again = await getTask();

  const ratio = withStreams.rps / ((without.rps + again.rps) / 2);
  console.log(`${STREAMS} account streams open on one API process (${ACCOUNTS} accounts, ${perAccount} each):`);
  console.log(`  resident set: ${rssBefore.toFixed(0)} MB before, ${rssWith.toFixed(0)} MB with them open (+${(rssWith - rssBefore).toFixed(0)} MB)`);
  console.log(`  task end → SSE frame on each of ${perAccount} streams of the account: ${summary(manyLatencies)} (${manyLatencies.length} of ${expectedFrames} frames)`);
  console.log(`  GET /api/v1/tasks/{id}, 64 connections, ${GET_SECONDS} s: ${without.rps.toFixed(0)} req/s without, ${withStreams.rps.toFixed(0)} with the streams, ${again.rps.toFixed(0)} without again`);
  console.log(`  with ÷ without (mean of the two runs without): ${(ratio * 100).toFixed(0)} %`);
} finally {
  for (const request of open) request.destroy();
  serve.process.kill('SIGTERM');
  await serve.exited;
  await receiver.close();
  await rm(dataDir, { recursive: true, force: true });
}
