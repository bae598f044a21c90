import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { createServerDatabase, POSTGRES_AVAILABLE } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait-for.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

describe.runIf(POSTGRES_AVAILABLE)('webhook deliveries across processes on PostgreSQL', () => {
  const runtimes: Runtime[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  let receiver: WebhookReceiver | undefined;
  afterAll(async () => {
    for (const runtime of runtimes.reverse()) await runtime.stop();
    await receiver?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  it('a delivery made by an API process is sent by a worker process at once, woken by the commit (its poll is 30 s away)', async () => {
    const database = await createServerDatabase();
    cleanups.push(() => database.drop());
    const start = async (role: 'api' | 'worker') => {
      const dataDir = await mkdtemp(join(tmpdir(), `rivya-webhook-fleet-${role}-`));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const config = loadConfig({
        DATABASE_URL: database.url, RIVYA_SECRET: 'fleet-secret-fleet-secret-fleet-secret-01', RIVYA_DATA_DIR: dataDir,
        RIVYA_PROVIDER: 'instant', RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true',
      }, { role });
      const runtime = await createRuntime(config, { logger: pino({ level: 'silent' }), jobPollingSeconds: 30 });
      runtimes.push(runtime);
      await runtime.start({ listen: false });
      return runtime;
    };
    const api = await start('api');
    await start('worker');
    // Let the worker's first poll pass: from here on, only a wake-up is sooner than 30 s.
    await new Promise((resolve) => setTimeout(resolve, 500));
    receiver = await startWebhookReceiver();
    const account = await api.accounts.createAccount('fleet', 100);
    const created = await api.webhooks.service.createEndpoint(account.id, { url: receiver.url, description: null, events: undefined }, null);
    const sentAt = Date.now();
    await api.webhooks.service.sendTest(account.id, (created.body as { id: string }).id, null);
    await waitFor(() => receiver!.received.length === 1, 10_000, 'the worker process to send the webhook');
    expect(receiver.received[0]!.at - sentAt).toBeLessThan(3000);
  });
});
