import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidStateError, NotFoundError, Rivya, verifyWebhook, WebhookVerificationError, type RivyaEvent, type Task, type TaskEvent,
} from '../../packages/sdk/src/index.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';
import { startWebhookReceiver, type ReceivedWebhook } from '../helpers/webhook-receiver.js';

/**
 * The SDK's event streams and webhooks against a real, listening service whose local renderer
 * renders real videos (so tasks run for a second or two and report progress while they do), and
 * a webhook receiver on loopback.
 */

function reasonOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof WebhookVerificationError ? error.reason : `not a verification error: ${String(error)}`),
  );
}
describe('SDK events against the service', () => {
  let service: TestService;
  let base: string;
  let key: string;
  let client: Rivya;

  beforeAll(async () => {
    service = await startTestService(BACKENDS[0]!, { listen: true, env: { RIVYA_PROVIDER: 'local', RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true' } });
    base = service.runtime.config.publicUrl;
    ({ key } = await service.newAccount(1000));
    client = new Rivya({ apiKey: key, baseUrl: base });
  });
  afterAll(async () => service?.close());

  /** The account's events of one task, from the JSON log: what a stream must have yielded. */
  async function logged(taskId: string): Promise<RivyaEvent[]> {
    const events: RivyaEvent[] = [];
    for await (const event of client.events.list({ limit: 100 })) if (event.type !== 'webhook.test' && event.data.task.id === taskId) events.push(event);
    return events;
  }

  it('tasks.stream follows a rendering task: its state, then running, rising progress, succeeded; then it ends', async () => {
    const created = await client.tasks.create({ model: 'sora-2', prompt: 'a stream of progress' });
    const events: TaskEvent[] = [];
    for await (const event of client.tasks.stream(created.id)) events.push(event);
    const types = events.map((event) => event.type);
    // The first frame is the task's state when the stream opened (queued, unless the worker was quicker).
    expect(types[0]).toMatch(/^task\.(queued|running)$/);
    expect(types.at(-1)).toBe('task.succeeded');
    expect(types).toContain('task.progress');
    expect(types.filter((type) => type === 'task.running').length).toBeLessThanOrEqual(1);
    const progress = events.filter((event) => event.type === 'task.progress').map((event) => event.data.task.progress);
    expect(progress.length).toBeGreaterThan(1);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(events.at(-1)!.data.task.result?.media[0]?.mimeType).toBe('video/mp4');
    // What the stream yielded after its first frame is exactly the log's events of the task after it.
    const log = await logged(created.id);
    const start = log.findIndex((event) => event.id === events[0]!.id);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(events.slice(1).map((event) => event.id)).toEqual(log.slice(start + 1).map((event) => event.id));
  }, 60_000);

  it('events.stream sees a task from create to succeeded in order: queued, running, progress..., succeeded', async () => {
    // From the log's last event on: whatever happens after it comes, however long the connection takes to open.
    let last: string | undefined;
    for await (const event of client.events.list({ limit: 100 })) last = event.id;
    const stream = client.events.stream(last ? { after: last } : {});
    const created = await client.tasks.create({ model: 'sora-2', prompt: 'every event, in order' });
    const events: RivyaEvent[] = [];
    for await (const event of stream) {
      events.push(event);
      if (event.type === 'task.succeeded' && event.data.task.id === created.id) break;
    }
    const own = events.filter((event) => event.type !== 'webhook.test' && event.data.task.id === created.id);
    const types = own.map((event) => event.type);
    expect(types.slice(0, 2)).toEqual(['task.queued', 'task.running']);
    expect(types.at(-1)).toBe('task.succeeded');
    expect(new Set(types.slice(2, -1))).toEqual(new Set(['task.progress']));
    expect(own.map((event) => event.id)).toEqual((await logged(created.id)).map((event) => event.id));
  }, 60_000);

  it('resumes a stream whose connection was cut mid-task: nothing missed, nothing twice', async () => {
    const port = Number(new URL(base).port);
    const proxy = await startTcpProxy(port);
    try {
      const viaProxy = new Rivya({ apiKey: key, baseUrl: `http://127.0.0.1:${proxy.port}` });
      const created = await client.tasks.create({ model: 'sora-2', prompt: 'cut while it renders', params: { n_frames: '15' } });
      const events: TaskEvent[] = [];
      let cut = false;
      for await (const event of viaProxy.tasks.stream(created.id)) {
        events.push(event);
        if (!cut && event.type === 'task.progress') {
          // Every connection dropped, and none possible for a while: the render goes on meanwhile.
          cut = true;
          await proxy.down();
          await new Promise((resolve) => setTimeout(resolve, 800));
          await proxy.up();
        }
      }
      expect(cut).toBe(true);
      expect(events.at(-1)!.type).toBe('task.succeeded');
      const log = await logged(created.id);
      const start = log.findIndex((event) => event.id === events[0]!.id);
      expect(events.slice(1).map((event) => event.id)).toEqual(log.slice(start + 1).map((event) => event.id));
      expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('tasks.run reports rising progress from the stream while the video renders, then resolves', async () => {
    const seen: Task[] = [];
    const task = await client.tasks.run({ model: 'sora-2', prompt: 'progress callbacks' }, { onProgress: (update) => seen.push(update) });
    expect(task.status).toBe('succeeded');
    const running = seen.filter((update) => update.status === 'running').map((update) => update.progress);
    // Several distinct values between 0 and 100, in order, before success.
    expect(new Set(running).size).toBeGreaterThan(1);
    expect([...running].sort((a, b) => a - b)).toEqual(running);
    expect(running.some((value) => value > 0 && value < 100)).toBe(true);
    expect(seen.at(-1)!.status).toBe('succeeded');
  }, 60_000);

  it('webhooks.verify accepts what the service signed, and refuses it tampered, with another secret, or too old', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const endpoint = await client.webhookEndpoints.create({ url: receiver.url, events: ['task.succeeded'], description: 'sdk' });
      expect(endpoint.secret).toMatch(/^whsec_/);
      const task = await client.tasks.run({ model: 'sora-2', prompt: 'signed by the service' });
      const delivery = await waitFor(() => receiver.received.find((webhook) => webhook.body.includes(task.id)), 30_000, 'the delivery');
      const event = await client.webhooks.verify(delivery.body, delivery.headers, endpoint.secret!);
      expect(event.type).toBe('task.succeeded');
      if (event.type !== 'task.succeeded') return;
      expect(event.data.task).toMatchObject({ id: task.id, status: 'succeeded' });
      expect(event.id).toBe(delivery.headers['webhook-id']);
      // As bytes and as a Headers object too.
      expect((await verifyWebhook(Buffer.from(delivery.body), new Headers(delivery.headers as Record<string, string>), endpoint.secret!)).id).toBe(event.id);
      const other = (await client.webhookEndpoints.create({ url: receiver.url, events: ['task.failed'] })).secret!;
      expect(await reasonOf(verifyWebhook(delivery.body.replace('"succeeded"', '"failed"'), delivery.headers, endpoint.secret!))).toBe('invalid_signature');
      expect(await reasonOf(verifyWebhook(delivery.body, delivery.headers, other))).toBe('invalid_signature');
      expect(await reasonOf(verifyWebhook(delivery.body, delivery.headers, endpoint.secret!, { now: new Date(Date.now() + 600_000) }))).toBe('timestamp_too_old');
      expect(await reasonOf(verifyWebhook(delivery.body, { ...delivery.headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) }, endpoint.secret!)))
        .toBe('timestamp_too_old');

      // During a rotation both secrets sign: a receiver with either accepts.
      const rotated = await client.webhookEndpoints.rotateSecret(endpoint.id);
      const test = await client.webhookEndpoints.test(endpoint.id);
      const ping = await waitFor(() => receiver.received.find((webhook) => webhook.headers['webhook-id'] === test.event_id), 30_000, 'the test event');
      expect(String(ping.headers['webhook-signature']).split(' ')).toHaveLength(2);
      for (const secret of [endpoint.secret!, rotated.secret!]) expect((await verifyWebhook(ping.body, ping.headers, secret)).type).toBe('webhook.test');

      // A task's own webhook_url is signed with the account's default secret.
      const { secret: accountSecret } = await client.webhookSecret.get();
      const own = await client.tasks.create({ model: 'sora-2', prompt: 'its own url', webhook_url: `${receiver.url}/own` });
      const ownDelivery = await waitFor(() => receiver.received.find((webhook: ReceivedWebhook) => webhook.path === '/own' && webhook.body.includes(own.id)), 30_000, 'the task\'s own webhook');
      expect((await verifyWebhook(ownDelivery.body, ownDelivery.headers, accountSecret!)).type).toMatch(/^task\.(succeeded|failed|canceled)$/);
      expect(await reasonOf(verifyWebhook(ownDelivery.body, ownDelivery.headers, endpoint.secret!))).toBe('invalid_signature');
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('manages webhook endpoints and their deliveries: list, get, update, deliveries, retry, delete; the account secret', async () => {
    // The receiver refuses the first request: the delivery waits for its retry, which retryDelivery brings forward.
    const receiver = await startWebhookReceiver((_request, index) => ({ status: index === 0 ? 500 : 204 }));
    try {
      const endpoint = await client.webhookEndpoints.create({ url: receiver.url, description: 'managed' });
      expect(endpoint.events).not.toContain('task.progress');
      const listed: string[] = [];
      for await (const found of client.webhookEndpoints.list({ limit: 1 })) listed.push(found.id);
      expect(listed).toContain(endpoint.id);
      expect(await client.webhookEndpoints.get(endpoint.id)).not.toHaveProperty('secret');
      const updated = await client.webhookEndpoints.update(endpoint.id, { events: ['*'], description: null });
      expect(updated).toMatchObject({ events: ['*'], description: null, disabled: false });

      const test = await client.webhookEndpoints.test(endpoint.id);
      expect(test).toMatchObject({ event_type: 'webhook.test', endpoint_id: endpoint.id });
      const failed = await waitFor(async () => {
        const [delivery] = (await client.webhookEndpoints.deliveries(endpoint.id)).data.filter((found) => found.id === test.id);
        return delivery?.attempts.length === 1 ? delivery : null;
      }, 30_000, 'the first attempt');
      expect(failed).toMatchObject({ status: 'pending', attempts: [{ attempt: 1, status_code: 500 }] });
      expect(failed.next_retry_at).not.toBeNull();
      await client.webhookEndpoints.retryDelivery(endpoint.id, test.id);
      const delivered = await waitFor(async () => {
        const [delivery] = (await client.webhookEndpoints.deliveries(endpoint.id)).data.filter((found) => found.id === test.id);
        return delivery?.status === 'succeeded' ? delivery : null;
      }, 30_000, 'the retried delivery');
      expect(delivered.attempts.map((attempt) => attempt.status_code)).toEqual([500, 204]);
      await expect(client.webhookEndpoints.retryDelivery(endpoint.id, test.id)).rejects.toBeInstanceOf(InvalidStateError);

      const disabled = await client.webhookEndpoints.update(endpoint.id, { disabled: true });
      expect(disabled.disabled).toBe(true);
      await expect(client.webhookEndpoints.test(endpoint.id)).rejects.toBeInstanceOf(InvalidStateError);
      expect(await client.webhookEndpoints.delete(endpoint.id)).toEqual({ id: endpoint.id, deleted: true });
      await expect(client.webhookEndpoints.get(endpoint.id)).rejects.toBeInstanceOf(NotFoundError);

      const before = (await client.webhookSecret.get()).secret;
      const after = (await client.webhookSecret.rotate()).secret;
      expect(after).toMatch(/^whsec_/);
      expect(after).not.toBe(before);
      expect((await client.webhookSecret.get()).secret).toBe(after);
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it('events.list pages the log oldest first, each page after the last one\'s cursor', async () => {
    // The tests before this one ended several tasks; run alone, it ends its own.
    const have = (await client.events.list({ limit: 3, types: ['task.succeeded'] })).data.length;
    await Promise.all(Array.from({ length: 3 - have }, (_, n) => client.tasks.run({ model: 'sora-2', prompt: `listed ${n}` })));
    const page = await client.events.list({ limit: 2, types: ['task.succeeded'] });
    expect(page.data).toHaveLength(2);
    expect(page.has_more).toBe(true);
    expect(page.data.every((event) => event.type === 'task.succeeded')).toBe(true);
    const all: string[] = [];
    for await (const event of client.events.list({ limit: 2, types: ['task.succeeded'] })) all.push(event.id);
    expect(all.slice(0, 2)).toEqual(page.data.map((event) => event.id));
    expect([...all].sort()).toEqual(all);
    const after = await client.events.list({ after: all[0]!, types: ['task.succeeded'], limit: 100 });
    expect(after.data.map((event) => event.id)).toEqual(all.slice(1));
  });
});
