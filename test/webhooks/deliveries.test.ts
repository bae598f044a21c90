import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemResolver } from '../../src/webhooks/webhook-url.js';
import { BACKENDS, type TestBackend } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';
import { startWebhookReceiver, type Answer, type ReceivedWebhook, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/** The retry schedule, shortened: the same code paths in milliseconds instead of days. */
const FAST_SCHEDULE = [0, 50, 50, 50, 50];

/** A receiver's own check, by hand with node:crypto: some `v1,` signature of the header is the HMAC of id.timestamp.body. */
function verifiedByHand(webhook: ReceivedWebhook, secret: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const id = webhook.headers['webhook-id'] as string;
  const timestamp = webhook.headers['webhook-timestamp'] as string;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${webhook.body}`).digest();
  return (webhook.headers['webhook-signature'] as string).split(' ').some((signature) => {
    const [version, value] = signature.split(',');
    const given = Buffer.from(value ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** Verified by the Standard Webhooks reference library: its parsed payload, or null. */
function verifiedByLibrary(webhook: ReceivedWebhook, secret: string): unknown {
  try {
    return new Webhook(secret).verify(webhook.body, webhook.headers as Record<string, string>);
  } catch {
    return null;
  }
}

/** A service delivering webhooks for the enclosing describe, with a clock the tests can move and DNS they can change. */
function useDeliveringService(backend: TestBackend, env: Record<string, string> = {}) {
  const context = {
    service: undefined as unknown as TestService,
    app: undefined as unknown as FastifyInstance,
    clockOffsetMs: 0,
    dns: {} as Record<string, string[]>,
  };
  beforeAll(async () => {
    context.service = await startTestService(backend, {
      env: { RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true', RIVYA_WEBHOOK_TIMEOUT_MS: '500', ...env },
      webhooks: {
        webhookRetryDelaysMs: FAST_SCHEDULE,
        clock: () => new Date(Date.now() + context.clockOffsetMs),
        webhookResolver: async (name) => context.dns[name] ?? systemResolver(name),
      },
    });
    context.app = context.service.runtime.app as FastifyInstance;
  });
  afterAll(async () => {
    await context.service?.close();
  });
  return context;
}

describe.each(BACKENDS)('webhook deliveries on $name', (backend) => {
  const ctx = useDeliveringService(backend);
  const receivers: WebhookReceiver[] = [];
  afterEach(async () => {
    ctx.clockOffsetMs = 0;
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  });

  async function receiver(answer?: (request: ReceivedWebhook, index: number) => Answer) {
    const started = await startWebhookReceiver(answer);
    receivers.push(started);
    return started;
  }

  const call = (auth: Record<string, string>, method: string, url: string, payload?: unknown) =>
    ctx.app.inject({ method: method as 'GET', url, headers: auth, ...(payload !== undefined ? { payload: payload as object } : {}) });

  async function endpointAt(auth: Record<string, string>, url: string, events?: string[]) {
    const created = await call(auth, 'POST', '/api/v1/webhook_endpoints', { url, ...(events ? { events } : {}) });
    expect(created.statusCode, created.body).toBe(201);
    return created.json<{ id: string; secret: string }>();
  }

  async function deliveries(auth: Record<string, string>, endpointId: string) {
    return (await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpointId}/deliveries`)).json().data as {
      id: string; status: string; event_id: string; next_retry_at: string | null;
      attempts: { attempt: number; status_code: number | null; error: string | null; latency_ms: number; next_retry_at: string | null; response_body: string | null }[];
    }[];
  }

  it('signs a delivery as Standard Webhooks says: the reference library and a hand-written receiver both verify it', async () => {
    const hook = await receiver();
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, `${hook.url}/hooks?source=rivya`);
    const version = async () => (await ctx.service.runtime.db.query<{ v: string }>('SELECT xmin::text AS v FROM webhook_endpoints WHERE id = $1', [endpoint.id])).rows[0]?.v;
    const before = await version();
    const sent = (await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`)).json();
    await waitFor(() => hook.received.length === 1);
    const [webhook] = hook.received as [ReceivedWebhook];
    expect(webhook.path).toBe('/hooks?source=rivya');
    expect(webhook.headers['content-type']).toBe('application/json');
    expect(webhook.headers['user-agent']).toMatch(/^Rivya-Webhooks\/\d/);
    expect(webhook.headers['webhook-id']).toBe(sent.event_id);
    expect(Number(webhook.headers['webhook-timestamp'])).toBeCloseTo(Date.now() / 1000, -1);
    expect(webhook.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(verifiedByLibrary(webhook, endpoint.secret)).toEqual({ id: sent.event_id, type: 'webhook.test', created_at: expect.any(String), data: {} });
    expect(verifiedByHand(webhook, endpoint.secret)).toBe(true);
    // A tampered body, another secret: refused by both.
    const tampered = { ...webhook, body: webhook.body.replace('webhook.test', 'webhook.tesT') };
    expect(verifiedByLibrary(tampered, endpoint.secret)).toBeNull();
    expect(verifiedByHand(tampered, endpoint.secret)).toBe(false);
    const stranger = (await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: hook.url })).json();
    expect(verifiedByLibrary(webhook, stranger.secret)).toBeNull();
    expect(verifiedByHand(webhook, stranger.secret)).toBe(false);
    const [delivery] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return list[0]?.status === 'succeeded' ? list : null;
    });
    expect(delivery).toMatchObject({ status: 'succeeded', next_retry_at: null, attempts: [{ attempt: 1, status_code: 204, error: null, next_retry_at: null }] });
    // A delivery that succeeds leaves its endpoint's row as it was (no new row version per delivery).
    expect(await version()).toBe(before);
  });

  it('delivers a task\'s events as they happen: to each endpoint subscribed to their type, with the task as the API presents it, and the terminal one to the task\'s own webhook_url', async () => {
    const all = await receiver();
    const statuses = await receiver();
    const onlyFailed = await receiver();
    const own = await receiver();
    const ownAll = await receiver();
    const { auth } = await ctx.service.newAccount(100);
    const everything = await endpointAt(auth, all.url, ['*']);
    const byDefault = await endpointAt(auth, statuses.url);
    await endpointAt(auth, onlyFailed.url, ['task.failed']);
    const created = await call(auth, 'POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'A fox', webhook_url: `${own.url}/task` });
    expect(created.statusCode, created.body).toBe(201);
    const task = created.json();
    type Body = { id: string; type: string; data: { task: { id: string; status: string } } };
    const bodies = (hook: WebhookReceiver, secret: string) => hook.received.map((webhook) => {
      const body = verifiedByLibrary(webhook, secret) as Body;
      expect(webhook.headers['webhook-id']).toBe(body.id);
      return body;
    });
    const succeeded = (hook: WebhookReceiver) => hook.received.some((webhook) => (JSON.parse(webhook.body) as Body).type === 'task.succeeded');
    await waitFor(() => succeeded(all) && succeeded(statuses) && own.received.length === 1);
    const api = (await call(auth, 'GET', `/api/v1/tasks/${task.id}`)).json();
    const everyEvent = bodies(all, everything.secret);
    expect(everyEvent.map((body) => body.type)).toEqual(expect.arrayContaining(['task.queued', 'task.running', 'task.succeeded']));
    expect(everyEvent.find((body) => body.type === 'task.succeeded')!.data.task).toEqual(api);
    expect(everyEvent.find((body) => body.type === 'task.queued')!.data.task).toMatchObject({ id: task.id, status: 'queued' });
    // The default leaves task.progress out.
    const statusEvents = bodies(statuses, byDefault.secret).map((body) => body.type);
    expect(statusEvents.sort()).toEqual(['task.queued', 'task.running', 'task.succeeded']);
    // The task's own URL gets its terminal event only, signed with the account's default secret.
    const secret = (await call(auth, 'GET', '/api/v1/webhook_secret')).json().secret;
    expect(own.received[0]!.path).toBe('/task');
    expect(bodies(own, secret).map((body) => body.type)).toEqual(['task.succeeded']);
    expect(verifiedByLibrary(own.received[0]!, everything.secret)).toBeNull();
    // With webhook_events ["all"], every event of the task goes there.
    await call(auth, 'POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'A fox', webhook_url: ownAll.url, webhook_events: ['all'] });
    await waitFor(() => succeeded(ownAll));
    expect(bodies(ownAll, secret).map((body) => body.type)).toEqual(expect.arrayContaining(['task.queued', 'task.running', 'task.succeeded']));
    expect(onlyFailed.received).toHaveLength(0);
  });

  it('retries a 500 with the same webhook-id until it is delivered, recording each attempt', async () => {
    const hook = await receiver((_request, index) => (index < 2 ? { status: 500, body: 'down for maintenance' } : { status: 200, body: 'ok' }));
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    const sent = (await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`)).json();
    await waitFor(() => hook.received.length === 3);
    expect(new Set(hook.received.map((webhook) => webhook.headers['webhook-id']))).toEqual(new Set([sent.event_id]));
    for (const webhook of hook.received) expect(verifiedByLibrary(webhook, endpoint.secret)).not.toBeNull();
    const [delivery] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return list[0]?.status === 'succeeded' ? list : null;
    });
    expect(delivery!.attempts.map((attempt) => [attempt.attempt, attempt.status_code, attempt.error])).toEqual([
      [1, 500, 'HTTP 500.'], [2, 500, 'HTTP 500.'], [3, 200, null],
    ]);
    expect(delivery!.attempts[0]!.response_body).toBe('down for maintenance');
    const metrics = (await ctx.app.inject({ url: '/metrics' })).body;
    expect(Number(/^rivya_webhook_attempts_total\{outcome="retry"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
    expect(Number(/^rivya_webhook_attempts_total\{outcome="succeeded"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/^rivya_webhook_attempt_seconds_count (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    expect(delivery!.attempts[0]!.next_retry_at).not.toBeNull();
    expect(delivery!.attempts[2]!.next_retry_at).toBeNull();
  });

  it('gives up after the schedule, and a manual retry makes one more attempt now', async () => {
    const hook = await receiver(() => ({ status: 502 }));
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    const [failed] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return list[0]?.status === 'failed' ? list : null;
    }, 20_000);
    expect(failed!.attempts).toHaveLength(FAST_SCHEDULE.length);
    expect(failed!.next_retry_at).toBeNull();
    hook.answerWith(() => ({ status: 200 }));
    const retried = await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries/${failed!.id}/retry`);
    expect(retried.statusCode, retried.body).toBe(202);
    expect(retried.json()).toMatchObject({ id: failed!.id, status: 'pending' });
    const [done] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return list[0]?.status === 'succeeded' ? list : null;
    });
    expect(done!.attempts.map((attempt) => attempt.status_code)).toEqual([502, 502, 502, 502, 502, 200]);
    const again = await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries/${failed!.id}/retry`);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('invalid_state');
  });

  it('fails an attempt that gets no answer in time', async () => {
    const hook = await receiver((_request, index) => (index === 0 ? 'hang' : { status: 200 }));
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    const [delivery] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return list[0]?.status === 'succeeded' ? list : null;
    });
    expect(delivery!.attempts[0]).toMatchObject({ attempt: 1, status_code: null, error: 'Timed out after 500 ms without a response.' });
    expect(delivery!.attempts[0]!.latency_ms).toBeGreaterThanOrEqual(450);
    expect(delivery!.attempts[1]).toMatchObject({ attempt: 2, status_code: 200 });
  });

  it('disables the endpoint on 410 Gone: no more attempts, nothing new', async () => {
    const hook = await receiver(() => ({ status: 410 }));
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    const disabled = await waitFor(async () => {
      const read = (await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}`)).json();
      return read.disabled ? read : null;
    });
    expect(disabled.disabled_reason).toBe('The endpoint answered 410 Gone.');
    const [delivery] = await deliveries(auth, endpoint.id);
    expect(delivery).toMatchObject({ status: 'failed', next_retry_at: null, attempts: [{ status_code: 410 }] });
    const task = (await call(auth, 'POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'after the 410' })).json();
    await waitFor(async () => (await call(auth, 'GET', `/api/v1/tasks/${task.id}`)).json().status === 'succeeded');
    expect(await deliveries(auth, endpoint.id)).toHaveLength(1);
    expect(hook.received).toHaveLength(1);
  });

  it('does not follow a redirect: a 3xx is a failed attempt', async () => {
    const hook = await receiver((request) => (request.path === '/moved' ? { status: 200 } : { status: 302, headers: { location: '/moved' } }));
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, `${hook.url}/old`);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    const [delivery] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return (list[0]?.attempts.length ?? 0) >= 2 ? list : null;
    });
    expect(delivery!.attempts[0]).toMatchObject({ status_code: 302, error: 'HTTP 302: redirects are not followed; register the final URL.' });
    expect(hook.received.map((webhook) => webhook.path)).not.toContain('/moved');
  });

  it('honours Retry-After on 429 and 503: the next attempt waits that long, not the schedule\'s 50 ms', async () => {
    const hook = await receiver((_request, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '2' } }
        : index === 1 ? { status: 503, headers: { 'retry-after': new Date(Date.now() + 2000).toUTCString() } }
          : { status: 200 });
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    await waitFor(() => hook.received.length === 3, 20_000);
    const [first, second, third] = hook.received as [ReceivedWebhook, ReceivedWebhook, ReceivedWebhook];
    expect(second.at - first.at).toBeGreaterThanOrEqual(1900);
    // An HTTP date has a resolution of one second.
    expect(third.at - second.at).toBeGreaterThanOrEqual(900);
  });

  it('signs with both secrets for 24 h after a rotation, then with the new one only', async () => {
    const hook = await receiver();
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    const rotated = (await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/rotate_secret`)).json();
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    await waitFor(() => hook.received.length === 1);
    const during = hook.received[0]!;
    expect((during.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    expect(verifiedByLibrary(during, endpoint.secret)).not.toBeNull();
    expect(verifiedByLibrary(during, rotated.secret)).not.toBeNull();
    expect(verifiedByHand(during, endpoint.secret)).toBe(true);
    expect(verifiedByHand(during, rotated.secret)).toBe(true);
    ctx.clockOffsetMs = 24 * 3600 * 1000 + 1000;
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    await waitFor(() => hook.received.length === 2);
    const after = hook.received[1]!;
    expect((after.headers['webhook-signature'] as string).split(' ')).toHaveLength(1);
    expect(verifiedByLibrary(after, rotated.secret)).not.toBeNull();
    expect(verifiedByLibrary(after, endpoint.secret)).toBeNull();
    expect(verifiedByHand(after, endpoint.secret)).toBe(false);
  });

  it('a second rotation within the day keeps the first secret signing until its own 24 h end', async () => {
    const hook = await receiver();
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    const hour = 3600 * 1000;
    const second = (await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/rotate_secret`)).json().secret as string;
    ctx.clockOffsetMs = 12 * hour;
    const third = (await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/rotate_secret`)).json().secret as string;
    const testAt = async (offsetMs: number) => {
      ctx.clockOffsetMs = offsetMs;
      const count = hook.received.length;
      await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
      await waitFor(() => hook.received.length === count + 1);
      return hook.received[count]!;
    };
    // 13 h after the first rotation: a receiver that has not yet moved off the first secret still verifies.
    const early = await testAt(13 * hour);
    expect((early.headers['webhook-signature'] as string).split(' ')).toHaveLength(3);
    for (const secret of [endpoint.secret, second, third]) expect(verifiedByLibrary(early, secret)).not.toBeNull();
    // 25 h after the first rotation the first secret's day is over; the second's is not.
    const later = await testAt(25 * hour);
    expect(verifiedByLibrary(later, endpoint.secret)).toBeNull();
    expect(verifiedByLibrary(later, second)).not.toBeNull();
    expect(verifiedByLibrary(later, third)).not.toBeNull();
    const last = await testAt(37 * hour);
    expect((last.headers['webhook-signature'] as string).split(' ')).toHaveLength(1);
    expect(verifiedByLibrary(last, third)).not.toBeNull();
  });

  it('a second rotation of the account secret within the day keeps the first one signing tasks\' webhooks', async () => {
    const hook = await receiver();
    const { auth } = await ctx.service.newAccount(100);
    const first = (await call(auth, 'GET', '/api/v1/webhook_secret')).json().secret as string;
    await call(auth, 'POST', '/api/v1/webhook_secret/rotate');
    ctx.clockOffsetMs = 12 * 3600 * 1000;
    const third = (await call(auth, 'POST', '/api/v1/webhook_secret/rotate')).json().secret as string;
    await call(auth, 'POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'rotated twice', webhook_url: hook.url });
    await waitFor(() => hook.received.length === 1);
    expect(verifiedByLibrary(hook.received[0]!, first)).toMatchObject({ type: 'task.succeeded' });
    expect(verifiedByLibrary(hook.received[0]!, third)).toMatchObject({ type: 'task.succeeded' });
  });

  it('signs a task\'s own webhook with both account secrets for 24 h after the account\'s rotates', async () => {
    const hook = await receiver();
    const { auth } = await ctx.service.newAccount(100);
    const before = (await call(auth, 'GET', '/api/v1/webhook_secret')).json().secret;
    const after = (await call(auth, 'POST', '/api/v1/webhook_secret/rotate')).json().secret;
    await call(auth, 'POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'rotated', webhook_url: hook.url });
    await waitFor(() => hook.received.length === 1);
    expect((hook.received[0]!.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    expect(verifiedByLibrary(hook.received[0]!, before)).toMatchObject({ type: 'task.succeeded' });
    expect(verifiedByLibrary(hook.received[0]!, after)).toMatchObject({ type: 'task.succeeded' });
    ctx.clockOffsetMs = 24 * 3600 * 1000 + 1000;
    await call(auth, 'POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'a day later', webhook_url: hook.url });
    await waitFor(() => hook.received.length === 2);
    expect(verifiedByLibrary(hook.received[1]!, after)).not.toBeNull();
    expect(verifiedByLibrary(hook.received[1]!, before)).toBeNull();
  });

  it('disables an endpoint whose every attempt failed for 3 days', async () => {
    // Each attempt fails a day and an hour after the one before (the clock moves while the receiver answers).
    const hook = await receiver(() => {
      ctx.clockOffsetMs += 25 * 3600 * 1000;
      return { status: 500 };
    });
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    const disabled = await waitFor(async () => {
      const read = (await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}`)).json();
      return read.disabled ? read : null;
    });
    expect(disabled.disabled_reason).toBe('Every delivery attempt failed for 3 days.');
    const [delivery] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return list[0]?.status === 'failed' ? list : null;
    });
    // Recorded at +25 h, +50 h, +75 h, +100 h: the streak began at the first and reached 3 days at the fourth.
    const made = delivery!.attempts.length;
    expect(made).toBe(4);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect((await deliveries(auth, endpoint.id))[0]!.attempts).toHaveLength(made);
  });

  it('does not disable an endpoint for one failure after a quiet week: the old streak ended with its last attempt', async () => {
    const hook = await receiver(() => ({ status: 500 }));
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    await waitFor(async () => (await deliveries(auth, endpoint.id))[0]?.status === 'failed');
    ctx.clockOffsetMs = 7 * 24 * 3600 * 1000;
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    const [latest] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return list.length === 2 && list[0]!.status === 'failed' ? list : null;
    });
    // Its whole schedule was tried (the first attempt did not disable the endpoint), and it stays enabled.
    expect(latest!.attempts).toHaveLength(FAST_SCHEDULE.length);
    expect((await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}`)).json()).toMatchObject({ disabled: false });
  });

  it('stops an endpoint\'s pending deliveries when it is disabled', async () => {
    const hook = await receiver(() => ({ status: 503, headers: { 'retry-after': '3600' } }));
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, hook.url);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    const [waiting] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return list[0]?.attempts.length === 1 ? list : null;
    });
    expect(waiting).toMatchObject({ status: 'pending' });
    expect(Date.parse(waiting!.next_retry_at as string) - Date.now()).toBeGreaterThan(3000_000);
    await call(auth, 'PATCH', `/api/v1/webhook_endpoints/${endpoint.id}`, { disabled: true });
    expect((await deliveries(auth, endpoint.id))[0]).toMatchObject({ status: 'canceled', next_retry_at: null });
    const retried = await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries/${waiting!.id}/retry`);
    expect(retried.statusCode).toBe(409);
  });

  it('connects to the address its resolver checked, keeping the URL\'s name in the Host header', async () => {
    const hook = await receiver();
    ctx.dns['hooks.rivya.test'] = ['127.0.0.1'];
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, `http://hooks.rivya.test:${hook.port}/h`);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    await waitFor(() => hook.received.length === 1);
    expect(hook.received[0]!.headers.host).toBe(`hooks.rivya.test:${hook.port}`);
  });

  it('reaches a receiver on the next address of its name when the first one does not answer', async () => {
    const hook = await receiver();
    // The receiver listens on 127.0.0.1 only: ::1 and 127.0.0.2 refuse (or cannot be reached).
    ctx.dns['dual.rivya.test'] = ['::1', '127.0.0.2', '127.0.0.1'];
    const { auth } = await ctx.service.newAccount(100);
    const endpoint = await endpointAt(auth, `http://dual.rivya.test:${hook.port}/h`);
    await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    await waitFor(() => hook.received.length === 1);
    // The attempt is recorded just after the receiver answered.
    const [delivery] = await waitFor(async () => {
      const list = await deliveries(auth, endpoint.id);
      return list[0]?.status === 'pending' ? null : list;
    });
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: [{ attempt: 1, status_code: 204 }] });
  });
});

describe.each(BACKENDS)('webhook deliveries without RIVYA_WEBHOOKS_ALLOW_INSECURE on $name', (backend) => {
  const ctx = useDeliveringService(backend, { RIVYA_WEBHOOKS_ALLOW_INSECURE: 'false' });

  it('refuses at connect time a name that resolved to a public address at registration and to loopback now (DNS rebinding)', async () => {
    // A TCP server where the webhook would land: it must never see a connection.
    const sockets: Socket[] = [];
    const trap = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    const port = (trap.address() as AddressInfo).port;
    try {
      ctx.dns['rebind.example.com'] = ['93.184.215.14'];
      const { auth } = await ctx.service.newAccount(100);
      const created = await ctx.app.inject({ method: 'POST', url: '/api/v1/webhook_endpoints', headers: auth, payload: { url: `https://rebind.example.com:${port}/` } });
      expect(created.statusCode, created.body).toBe(201);
      ctx.dns['rebind.example.com'] = ['127.0.0.1'];
      const endpoint = created.json();
      await ctx.app.inject({ method: 'POST', url: `/api/v1/webhook_endpoints/${endpoint.id}/test`, headers: auth });
      const delivery = await waitFor(async () => {
        const list = (await ctx.app.inject({ url: `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`, headers: auth })).json().data;
        return list[0]?.attempts.length > 0 ? list[0] : null;
      });
      expect(delivery.attempts[0]).toMatchObject({
        status_code: null,
        error: 'Refused: rebind.example.com resolves to 127.0.0.1, a loopback address: webhooks are sent only to public addresses.',
      });
      expect(sockets).toHaveLength(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => trap.close(resolve));
    }
  });
});
