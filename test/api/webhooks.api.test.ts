import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvent, createEventLog } from '../../src/events/event-log.js';
import { systemResolver } from '../../src/webhooks/webhook-url.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/test-service.js';

/** Names this suite's DNS knows (documentation and test names); others go to the system resolver. */
const DNS: Record<string, string[]> = {
  'hooks.example.com': ['93.184.215.14'],
  'v6.example.com': ['2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'private.example.com': ['93.184.215.14', '10.0.0.7'],
};
const resolver = async (name: string) => DNS[name] ?? systemResolver(name);

const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;

describe.each(BACKENDS)('webhook endpoints API on $name', (backend) => {
  let service: TestService;
  let app: FastifyInstance;
  beforeAll(async () => {
    // No worker: deliveries are made and listed here, sent in the delivery suite.
    service = await startTestService(backend, { worker: false, webhooks: { webhookResolver: resolver } });
    app = service.runtime.app as FastifyInstance;
  });
  afterAll(async () => {
    await service?.close();
  });

  const call = (auth: Record<string, string>, method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: method as 'GET', url, headers: { ...auth, ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });

  it('creates, reads, lists, updates and deletes an endpoint; the secret is in the create answer only', async () => {
    const { auth } = await service.newAccount(0);
    const created = await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/rivya', description: 'orders' });
    expect(created.statusCode, created.body).toBe(201);
    const endpoint = created.json();
    expect(endpoint).toMatchObject({
      url: 'https://hooks.example.com/rivya', description: 'orders', disabled: false, disabled_reason: null, disabled_at: null,
      // The default: every status event, not the progress ones.
      events: ['task.queued', 'task.running', 'task.succeeded', 'task.failed', 'task.canceled'],
    });
    expect(endpoint.id).toMatch(/^we_[0-9A-Za-z]{22}$/);
    expect(endpoint.secret).toMatch(SECRET);
    expect(Buffer.from(endpoint.secret.slice(6), 'base64')).toHaveLength(32);
    expect(created.headers['location']).toBe(`/api/v1/webhook_endpoints/${endpoint.id}`);

    const read = await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}`);
    expect(read.statusCode).toBe(200);
    const { secret: _secret, ...withoutSecret } = endpoint;
    expect(read.json()).toEqual(withoutSecret);
    expect(read.body).not.toContain(endpoint.secret.slice(6));

    const second = (await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://v6.example.com/', events: ['*'] })).json();
    expect(second.events).toEqual(['*']);
    expect(second.description).toBeNull();
    const page = (await call(auth, 'GET', '/api/v1/webhook_endpoints?limit=1')).json();
    expect(page.data.map((e: { id: string }) => e.id)).toEqual([second.id]);
    expect(page.has_more).toBe(true);
    expect(page.data[0]).not.toHaveProperty('secret');
    const rest = (await call(auth, 'GET', `/api/v1/webhook_endpoints?limit=1&cursor=${page.next_cursor}`)).json();
    expect(rest).toMatchObject({ data: [{ id: endpoint.id }], has_more: false, next_cursor: null });

    const patched = await call(auth, 'PATCH', `/api/v1/webhook_endpoints/${endpoint.id}`, {
      url: 'https://v6.example.com/other', events: ['task.succeeded', 'task.progress', 'task.succeeded'], description: null, disabled: true,
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({
      url: 'https://v6.example.com/other', events: ['task.succeeded', 'task.progress'], description: null,
      disabled: true, disabled_reason: 'Disabled by the client.',
    });
    expect(patched.json().disabled_at).not.toBeNull();
    const enabled = (await call(auth, 'PATCH', `/api/v1/webhook_endpoints/${endpoint.id}`, { disabled: false })).json();
    expect(enabled).toMatchObject({ disabled: false, disabled_reason: null, disabled_at: null, url: 'https://v6.example.com/other' });

    const deleted = await call(auth, 'DELETE', `/api/v1/webhook_endpoints/${endpoint.id}`);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({ id: endpoint.id, deleted: true });
    expect((await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}`)).statusCode).toBe(404);
    expect((await call(auth, 'DELETE', `/api/v1/webhook_endpoints/${endpoint.id}`)).statusCode).toBe(404);
  });

  it('replays a create with the same Idempotency-Key without its secret, and makes one endpoint', async () => {
    const { auth } = await service.newAccount(0);
    const body = { url: 'https://hooks.example.com/once' };
    const first = await call(auth, 'POST', '/api/v1/webhook_endpoints', body, { 'idempotency-key': 'create-1' });
    const again = await call(auth, 'POST', '/api/v1/webhook_endpoints', body, { 'idempotency-key': 'create-1' });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(first.json().secret).toMatch(SECRET);
    expect(again.json()).toEqual({ ...first.json(), secret: null });
    expect((await call(auth, 'GET', '/api/v1/webhook_endpoints')).json().data).toHaveLength(1);
    const other = await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/two' }, { 'idempotency-key': 'create-1' });
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('idempotency_conflict');
  });

  it('rotates an endpoint\'s secret: a new one, shown in that answer only', async () => {
    const { auth, accountId } = await service.newAccount(0);
    const endpoint = (await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/r' })).json();
    const rotated = await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, undefined, { 'idempotency-key': 'rot-1' });
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json().secret).toMatch(SECRET);
    expect(rotated.json().secret).not.toBe(endpoint.secret);
    expect(rotated.json().id).toBe(endpoint.id);
    const replay = await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, undefined, { 'idempotency-key': 'rot-1' });
    expect(replay.json().secret).toBeNull();
    // The old secret is kept to sign beside the new one (the delivery suite checks both signatures).
    const stored = await service.runtime.webhooks.endpoints.get(accountId, endpoint.id);
    expect(stored?.secrets).toMatchObject({ secret: rotated.json().secret, previousSecret: endpoint.secret });
  });

  it('the account signing secret is made on first request, stays, and rotates', async () => {
    const { auth } = await service.newAccount(0);
    const first = await call(auth, 'GET', '/api/v1/webhook_secret');
    expect(first.statusCode).toBe(200);
    expect(first.json().secret).toMatch(SECRET);
    expect((await call(auth, 'GET', '/api/v1/webhook_secret')).json()).toEqual(first.json());
    const rotated = await call(auth, 'POST', '/api/v1/webhook_secret/rotate', undefined, { 'idempotency-key': 'k' });
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json().secret).toMatch(SECRET);
    expect(rotated.json().secret).not.toBe(first.json().secret);
    expect((await call(auth, 'GET', '/api/v1/webhook_secret')).json().secret).toBe(rotated.json().secret);
    expect((await call(auth, 'POST', '/api/v1/webhook_secret/rotate', undefined, { 'idempotency-key': 'k' })).json()).toEqual({ secret: null });
    // Each account has its own.
    const { auth: other } = await service.newAccount(0);
    expect((await call(other, 'GET', '/api/v1/webhook_secret')).json().secret).not.toBe(rotated.json().secret);
  });

  it('answers concurrent first requests for the account signing secret with one secret, never a 500', async () => {
    // On PostgreSQL the requests run on separate connections: a secret made by another first
    // request commits while this one is inserting its own.
    for (let round = 0; round < 10; round++) {
      const { auth } = await service.newAccount(0);
      const answers = await Promise.all([1, 2, 3, 4].map(() => call(auth, 'GET', '/api/v1/webhook_secret')));
      expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200, 200, 200]);
      expect(new Set(answers.map((answer) => answer.json().secret)).size).toBe(1);
    }
  });

  it('queues a webhook.test delivery for that endpoint, outside the account\'s event log', async () => {
    const { auth, accountId } = await service.newAccount(0);
    const endpoint = (await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/t' })).json();
    const sent = await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    expect(sent.statusCode, sent.body).toBe(202);
    const delivery = sent.json();
    expect(delivery).toMatchObject({ endpoint_id: endpoint.id, event_type: 'webhook.test', status: 'pending', attempts: [] });
    expect(delivery.id).toMatch(/^dlv_/);
    expect(delivery.event_id).toMatch(/^evt_0{12}[0-9A-Za-z]{10}$/);
    const listed = (await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`)).json();
    expect(listed).toMatchObject({ data: [{ id: delivery.id, event_id: delivery.event_id }], has_more: false, next_cursor: null });
    expect(await createEventLog(service.runtime.db).list(accountId, { afterSeq: 0, limit: 10 })).toEqual([]);
    // Ended deliveries are deleted 7 days after their last change; pending ones are kept.
    await service.runtime.db.query(`UPDATE webhook_deliveries SET updated_at = now() - interval '8 days' WHERE id = $1`, [delivery.id]);
    await service.runtime.webhooks.sweeper.sweepOnce();
    expect((await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`)).json().data).toHaveLength(1);
    await service.runtime.db.query(`UPDATE webhook_deliveries SET status = 'succeeded' WHERE id = $1`, [delivery.id]);
    await service.runtime.webhooks.sweeper.sweepOnce();
    expect((await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`)).json().data).toHaveLength(0);
    // A disabled endpoint is not tested.
    await call(auth, 'PATCH', `/api/v1/webhook_endpoints/${endpoint.id}`, { disabled: true });
    const refused = await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('invalid_state');
  });

  it('ends a delivery whose event was swept from the log before it was sent, without counting it against the endpoint', async () => {
    const { auth, accountId } = await service.newAccount(100);
    const endpoint = (await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/late', events: ['*'] })).json();
    const task = (await call(auth, 'POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'swept' })).json();
    const stored = (await service.runtime.tasks.read(accountId, task.id)).value;
    const event = await service.runtime.db.transaction(async (tx) => {
      const appended = await appendEvent(tx, { accountId, type: 'task.running', task: stored });
      expect(await service.runtime.webhooks.dispatchEvent(tx, appended)).toBe(1);
      return appended;
    });
    await service.runtime.db.query('DELETE FROM events WHERE id = $1', [event.id]);
    const [pending] = (await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`)).json().data;
    expect(pending).toMatchObject({ event_id: event.id, event_type: 'task.running', status: 'pending' });
    await service.runtime.webhooks.worker.handle({ deliveryId: pending.id, attempt: 1 });
    const [ended] = (await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`)).json().data;
    expect(ended).toMatchObject({
      status: 'failed', next_retry_at: null,
      attempts: [{ attempt: 1, status_code: null, error: 'The event is no longer kept in the log: nothing was sent.' }],
    });
    expect((await service.runtime.webhooks.endpoints.get(accountId, endpoint.id))?.failingSince).toBeNull();
    // Its job again (pg-boss delivers at least once) does nothing.
    await service.runtime.webhooks.worker.handle({ deliveryId: pending.id, attempt: 1 });
    expect((await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`)).json().data[0].attempts).toHaveLength(1);
  });

  it('retries a delivery by hand up to 25 attempts in all', async () => {
    const { auth } = await service.newAccount(0);
    const endpoint = (await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/many' })).json();
    const delivery = (await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`)).json();
    const retry = () => call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries/${delivery.id}/retry`);
    await service.runtime.db.query(`UPDATE webhook_deliveries SET status = 'failed', attempts = 24 WHERE id = $1`, [delivery.id]);
    const allowed = await retry();
    expect(allowed.statusCode, allowed.body).toBe(202);
    expect(allowed.json()).toMatchObject({ status: 'pending', next_retry_at: expect.any(String) });
    await service.runtime.db.query(`UPDATE webhook_deliveries SET status = 'failed', attempts = 25 WHERE id = $1`, [delivery.id]);
    const refused = await retry();
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'invalid_state', message: expect.stringMatching(/25 attempts/) });
  });

  it('another account\'s endpoints and deliveries are 404, and not listed', async () => {
    const owner = await service.newAccount(0);
    const stranger = await service.newAccount(0);
    const endpoint = (await call(owner.auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/mine' })).json();
    const delivery = (await call(owner.auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`)).json();
    const own = (await call(stranger.auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/theirs' })).json();
    const attempts: [string, string, unknown?][] = [
      ['GET', `/api/v1/webhook_endpoints/${endpoint.id}`],
      ['PATCH', `/api/v1/webhook_endpoints/${endpoint.id}`, { description: 'x' }],
      ['DELETE', `/api/v1/webhook_endpoints/${endpoint.id}`],
      ['POST', `/api/v1/webhook_endpoints/${endpoint.id}/rotate_secret`],
      ['POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`],
      ['GET', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`],
      ['POST', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries/${delivery.id}/retry`],
      // Their delivery under one's own endpoint is no better.
      ['POST', `/api/v1/webhook_endpoints/${own.id}/deliveries/${delivery.id}/retry`],
    ];
    for (const [method, url, payload] of attempts) {
      const response = await call(stranger.auth, method, url, payload);
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(response.json().error.code).toBe('not_found');
    }
    expect((await call(stranger.auth, 'GET', '/api/v1/webhook_endpoints')).json().data.map((e: { id: string }) => e.id)).toEqual([own.id]);
    // Untouched.
    expect((await call(owner.auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}`)).json().description).toBeNull();
  });

  const refusals: [string, RegExp][] = [
    ['http://hooks.example.com/', /https/],
    ['https://127.0.0.1/', /loopback/],
    ['https://10.1.2.3/hook', /private/],
    ['https://169.254.169.254/latest/meta-data', /link-local/],
    ['https://[::1]/', /loopback/],
    ['https://[::ffff:127.0.0.1]/', /loopback/],
    ['https://[fd00:ec2::254]/', /unique-local/],
    ['https://100.100.100.200/', /carrier-grade NAT/],
    ['https://0.0.0.0/', /unspecified/],
    // Other spellings of loopback, as URL parsers read them.
    ['https://2130706433/', /loopback/],
    ['https://0x7f.1/', /loopback/],
    ['https://[0:0:0:0:0:ffff:7f00:1]/', /loopback/],
    ['https://localhost/', /resolves to .*loopback/],
    ['https://private.example.com/', /resolves to 10\.0\.0\.7, a private address/],
    ['https://user:pass@hooks.example.com/', /credentials/],
    ['not a url', /absolute URL/],
    [`https://hooks.example.com/${'a'.repeat(2030)}`, /at most 2048/],
  ];
  it.each(refusals.map(([url, message]) => ({ url, message, label: url.length > 80 ? `${url.slice(0, 40)}… (${url.length} characters)` : url })))(
    'refuses $label as a webhook URL (validation_failed on url), at creation and on update', async ({ url, message }) => {
      const { auth } = await service.newAccount(0);
      const refused = await call(auth, 'POST', '/api/v1/webhook_endpoints', { url });
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json().error).toMatchObject({ code: 'validation_failed', details: [{ path: 'url' }] });
      expect(refused.json().error.details[0].message).toMatch(message);
      const endpoint = (await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/' })).json();
      const patch = await call(auth, 'PATCH', `/api/v1/webhook_endpoints/${endpoint.id}`, { url });
      expect(patch.statusCode).toBe(400);
      expect(patch.json().error.details[0].path).toBe('url');
      expect((await call(auth, 'GET', `/api/v1/webhook_endpoints/${endpoint.id}`)).json().url).toBe('https://hooks.example.com/');
      // A task's own webhook_url follows the same rules.
      const task = await call(auth, 'POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'hooked', webhook_url: url });
      expect(task.statusCode, task.body).toBe(400);
      expect(task.json().error.details.map((issue: { path: string }) => issue.path)).toEqual(['webhook_url']);
    },
  );

  it('takes a task\'s own webhook_url that passes the endpoint rules', async () => {
    const { auth } = await service.newAccount(100);
    const task = await call(auth, 'POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'hooked', webhook_url: 'https://hooks.example.com/task' });
    expect(task.statusCode, task.body).toBe(201);
  });

  it('validates the body: events, description, disabled, unknown fields', async () => {
    const { auth } = await service.newAccount(0);
    const bad = await call(auth, 'POST', '/api/v1/webhook_endpoints', {
      url: 'https://hooks.example.com/', events: ['task.succeeded', 'task.exploded', 7], description: '', extra: 1,
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.map((d: { path: string }) => d.path).sort()).toEqual(['description', 'events[1]', 'events[2]', 'extra']);
    for (const events of [[], ['*', 'task.failed'], 'task.failed', ['webhook.test']]) {
      const response = await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/', events });
      expect(response.statusCode, JSON.stringify(events)).toBe(400);
      expect(response.json().error.details[0].path).toMatch(/^events/);
    }
    expect((await call(auth, 'POST', '/api/v1/webhook_endpoints', {})).json().error.details).toEqual([{ path: 'url', message: 'Required.' }]);
    const endpoint = (await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/' })).json();
    const patch = await call(auth, 'PATCH', `/api/v1/webhook_endpoints/${endpoint.id}`, { disabled: 'yes' });
    expect(patch.json().error.details).toEqual([{ path: 'disabled', message: 'Must be true or false.' }]);
    expect((await call(auth, 'POST', `/api/v1/webhook_endpoints/${endpoint.id}/test`, { x: 1 })).statusCode).toBe(400);
  });

  it('keeps an endpoint\'s URL as it is called: spaces, tabs and newlines dropped, scheme and host lower-cased', async () => {
    const { auth } = await service.newAccount(0);
    const created = await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: ' HTTPS://Hooks.Example.COM/a\tb?x=1\n' });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().url).toBe('https://hooks.example.com/ab?x=1');
    const patched = await call(auth, 'PATCH', `/api/v1/webhook_endpoints/${created.json().id}`, { url: 'https://hooks.example.com:443/c ' });
    expect(patched.json().url).toBe('https://hooks.example.com/c');
    // A URL that percent-encoding makes longer than the limit is refused.
    const long = await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: `https://hooks.example.com/${' x'.repeat(700)}` });
    expect(long.statusCode).toBe(400);
    expect(long.json().error.details[0].path).toBe('url');
  });

  it('allows 16 endpoints per account; the 17th is invalid_state until one is deleted', async () => {
    const { auth } = await service.newAccount(0);
    const ids = [];
    for (let i = 0; i < 16; i++) {
      const created = await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: `https://hooks.example.com/${i}` });
      expect(created.statusCode).toBe(201);
      ids.push(created.json().id);
    }
    const refused = await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/17' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'invalid_state', details: { limit: 16 } });
    await call(auth, 'DELETE', `/api/v1/webhook_endpoints/${ids[0]}`);
    expect((await call(auth, 'POST', '/api/v1/webhook_endpoints', { url: 'https://hooks.example.com/17' })).statusCode).toBe(201);
  });
});
