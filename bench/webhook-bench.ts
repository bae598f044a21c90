// Task end → webhook received, on the embedded default: `rivya serve` (instant provider) ends
// `tasks` tasks created evenly over `seconds`, and a receiver on loopback subscribed to
// task.succeeded records when each webhook arrives. The latency of one is its arrival minus the
// task's completed_at (the time of the transaction that ended it), on the same clock.
//   npm run bench:webhooks [-- tasks=500 seconds=60]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { apiClient, devKey, startServe } from '../test/helpers/serve-process.js';
import { startWebhookReceiver } from '../test/helpers/webhook-receiver.js';

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.split('=') as [string, string]));
const TASKS = Number(args['tasks'] ?? 500);
const SECONDS = Number(args['seconds'] ?? 60);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const dataDir = await mkdtemp(join(tmpdir(), 'rivya-bench-webhooks-'));
const receiver = await startWebhookReceiver();
const serve = await startServe({
  RIVYA_DATA_DIR: dataDir, RIVYA_PROVIDER: 'instant', RIVYA_ADMIN_TOKEN: 'bench-admin', RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true', RIVYA_LOG_LEVEL: 'warn', RIVYA_WORKER_CONCURRENCY: '8',
});
try {
  const key = await devKey(dataDir);
  const api = apiClient(serve.url, key);
  // The dev account's limits would refuse this load: the bench is about webhooks, not limits.
  const account = await api<{ id: string }>('/api/v1/account');
  const limits = await fetch(`${serve.url}/admin/v1/accounts/${account.body.id}`, {
    method: 'PATCH', headers: { authorization: 'Bearer bench-admin', 'content-type': 'application/json' },
    body: JSON.stringify({ limits: { creates_per_minute: 100_000, requests_per_minute: 100_000, active_tasks: 100_000 } }),
  });
  if (limits.status !== 200) throw new Error(`limits: ${limits.status}`);
  const credits = await fetch(`${serve.url}/admin/v1/accounts/${account.body.id}/credits`, {
    method: 'POST', headers: { authorization: 'Bearer bench-admin', 'content-type': 'application/json' },
    body: JSON.stringify({ amount: TASKS * 100, reason: 'bench' }),
  });
  if (credits.status !== 201) throw new Error(`credits: ${credits.status}`);
  const endpoint = await api<{ id: string; secret: string }>('/api/v1/webhook_endpoints', {
    method: 'POST', body: { url: `${receiver.url}/hook`, events: ['task.succeeded'] },
  });
  if (endpoint.status !== 201) throw new Error(`endpoint: ${JSON.stringify(endpoint.body)}`);
  const started = Date.now();
  const created: string[] = [];
  for (let i = 0; i < TASKS; i++) {
    const due = started + (i * SECONDS * 1000) / TASKS;
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    const response = await api<{ id: string }>('/api/v1/tasks', { method: 'POST', body: { model: 'sora-2', prompt: `bench ${i}` } });
    if (response.status !== 201) throw new Error(`create ${i}: ${response.status} ${JSON.stringify(response.body)}`);
    created.push(response.body.id);
  }
  const deadline = Date.now() + 60_000;
  while (receiver.received.length < TASKS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const verifier = new Webhook(endpoint.body.secret);
  const latencies = receiver.received.map((webhook) => {
    const event = verifier.verify(webhook.body, webhook.headers as Record<string, string>) as { data: { task: { completed_at: string } } };
    return webhook.at - Date.parse(event.data.task.completed_at);
  });
  const ids = new Set(receiver.received.map((webhook) => webhook.headers['webhook-id']));
  console.log(`${TASKS} tasks over ${SECONDS} s on the embedded default (instant provider), one endpoint on loopback:`);
  console.log(`  webhooks received ${receiver.received.length} (${ids.size} distinct events), created ${created.length}`);
  console.log(`  task end → webhook received: p50 ${percentile(latencies, 50).toFixed(0)} ms, p90 ${percentile(latencies, 90).toFixed(0)} ms, `
    + `p99 ${percentile(latencies, 99).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms`);
} finally {
  serve.process.kill('SIGTERM');
  await serve.exited;
  await receiver.close();
  await rm(dataDir, { recursive: true, force: true });
}
