import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { apiClient, devKey, startServe, type ServeProcess } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

interface Delivery { id: string; status: string; event_id: string; attempts: { attempt: number; status_code: number | null }[] }

describe('rivya serve killed with kill -9 while it sends a webhook', () => {
  let dataDir: string;
  let receiver: WebhookReceiver | undefined;
  const processes: ServeProcess[] = [];

  afterAll(async () => {
    for (const serve of processes) serve.process.kill('SIGKILL');
    await receiver?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('delivers it after the restart, with the same webhook-id, and loses nothing', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-webhook-kill9-'));
    // The first request is never answered: the process dies while it waits.
    receiver = await startWebhookReceiver((_request, index) => (index === 0 ? 'hang' : { status: 204 }));
    const env = { RIVYA_DATA_DIR: dataDir, RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true', RIVYA_PROVIDER: 'instant' };
    const first = await startServe(env);
    processes.push(first);
    const api = apiClient(first.url, await devKey(dataDir));
    const endpoint = await api<{ id: string; secret: string }>('/api/v1/webhook_endpoints', { method: 'POST', body: { url: `${receiver.url}/hook` } });
    expect(endpoint.status).toBe(201);
    const sent = await api<Delivery>(`/api/v1/webhook_endpoints/${endpoint.body.id}/test`, { method: 'POST' });
    expect(sent.status).toBe(202);
    await waitFor(() => receiver!.received.length === 1, 15_000, 'the webhook to arrive');
    first.process.kill('SIGKILL');
    await first.exited;

    const restarted = Date.now();
    const second = await startServe(env);
    processes.push(second);
    await waitFor(() => receiver!.received.length === 2, 20_000, 'the webhook to be sent again after the restart');
    // Promptly: not when the job taken by the dead process expires (minutes later).
    expect(Date.now() - restarted).toBeLessThan(20_000);
    const [before, after] = receiver.received;
    expect(after!.headers['webhook-id']).toBe(before!.headers['webhook-id']);
    expect(after!.headers['webhook-id']).toBe(sent.body.event_id);
    expect(new Webhook(endpoint.body.secret).verify(after!.body, after!.headers as Record<string, string>)).toMatchObject({ type: 'webhook.test' });

    const again = apiClient(second.url, await devKey(dataDir));
    const delivered = await waitFor(async () => {
      const list = (await again<{ data: Delivery[] }>(`/api/v1/webhook_endpoints/${endpoint.body.id}/deliveries`)).body.data;
      return list[0]?.status === 'succeeded' ? list[0] : null;
    });
    expect(delivered.attempts.map((attempt) => [attempt.attempt, attempt.status_code])).toEqual([[1, 204]]);
    second.process.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(receiver.received).toHaveLength(2);
  }, 120_000);
});
