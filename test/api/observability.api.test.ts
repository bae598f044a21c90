import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, POSTGRES_AVAILABLE } from '../helpers/backends.js';
import { createGatedProvider } from '../helpers/gated-provider.js';
import { freePort } from '../helpers/serve-process.js';
import { ADMIN_TOKEN, startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

type LogLine = Record<string, unknown> & { msg: string; level: number };

const parse = (service: TestService): LogLine[] => service.logs.map((line) => JSON.parse(line) as LogLine);

/** The value of one series in a Prometheus text exposition, or undefined if absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.each(BACKENDS)('what an operator sees, on $name', (backend) => {
  const gated = createGatedProvider();
  let service: TestService;
  let app: FastifyInstance;
  let auth: Record<string, string>;
  let accountId: string;

  beforeAll(async () => {
    service = await startTestService(backend, { provider: gated.provider, captureLogs: 'info', env: { RIVYA_METRICS_TOKEN: 'scrape-token' } });
    app = service.runtime.app!;
    ({ auth, accountId } = await service.newAccount(1000));
  });
  afterAll(async () => {
    gated.releaseAll();
    await service?.close();
  });

  const create = async (prompt: string) => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt } });
    expect(response.statusCode).toBe(201);
    return response.json<{ id: string }>().id;
  };
  const scrape = async () => (await app.inject({ url: '/metrics', headers: { authorization: 'Bearer scrape-token' } })).body;
  const linesOf = (msg: string, taskId: string) => parse(service).filter((line) => line.msg === msg && line.task_id === taskId);

  it('logs every request once at info, 4xx included: the request_id of an error body finds its line', async () => {
    const answers = [
      await app.inject({ url: '/api/v1/account', headers: { authorization: 'Bearer rv_wrong' } }),
      await app.inject({ url: '/api/v1/tasks/task_missing', headers: auth }),
      await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'nope' } }),
      await app.inject({ url: '/no/such/route' }),
      // Refused by the router, before any route: an undecodable path, an over-long id.
      await app.inject({ url: '/api/v1/tasks/%zz', headers: auth }),
      await app.inject({ url: `/api/v1/tasks/task_${'x'.repeat(120)}`, headers: auth }),
    ];
    const expected = [
      { status: 401, route: '/api/v1/account', method: 'GET', account_id: null, key_id: null },
      { status: 404, route: '/api/v1/tasks/:id', method: 'GET', account_id: accountId },
      { status: 400, route: '/api/v1/tasks', method: 'POST', account_id: accountId },
      { status: 404, route: 'unmatched', method: 'GET', account_id: null },
      { status: 404, route: 'unmatched', method: 'GET', account_id: null },
      { status: 404, route: 'unmatched', method: 'GET', account_id: null },
    ];
    for (const [index, answer] of answers.entries()) {
      const requestId = answer.json<{ error: { request_id: string } }>().error.request_id;
      expect(answer.headers['x-request-id']).toBe(requestId);
      const lines = parse(service).filter((line) => line.request_id === requestId && line.msg === 'request');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 30, ...expected[index] });
      expect(typeof lines[0]!.duration_ms).toBe('number');
    }
    expect(service.logs.join('\n')).not.toContain('/no/such/route');
  });

  it('logs a long-poll that waits out its wait at info, not as a slow request', async () => {
    const id = await create('held for a long-poll');
    await waitFor(() => gated.waiting.has(id), 10_000, 'the task to start');
    const polled = await app.inject({ url: `/api/v1/tasks/${id}?wait=1`, headers: auth });
    expect(polled.json().status).toBe('running');
    const line = parse(service).find((candidate) => candidate.request_id === polled.headers['x-request-id'] && candidate.msg === 'request');
    expect(line).toMatchObject({ level: 30, route: '/api/v1/tasks/:id', status: 200, wait_s: 1 });
    expect(line!['duration_ms']).toBeGreaterThanOrEqual(900);
    expect(line).not.toHaveProperty('slow');
    gated.release(id);
  });

  it('logs and counts an event stream once, when it ends, at info: it lasts as long as its client follows it, never slow', async () => {
    const id = await create('followed over its event stream');
    await waitFor(() => gated.waiting.has(id), 10_000, 'the task to start');
    const series = 'rivya_http_requests_total{method="GET",route="/api/v1/tasks/:id/events",status="200"}';
    const before = sample(await scrape(), series) ?? 0;
    const streamed = app.inject({ url: `/api/v1/tasks/${id}/events`, headers: auth });
    await new Promise((resolve) => setTimeout(resolve, 1300));
    gated.release(id);
    const stream = await streamed;
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.body).toContain('event: task.succeeded');
    const lines = parse(service).filter((candidate) => candidate.request_id === stream.headers['x-request-id'] && candidate.msg === 'request');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, route: '/api/v1/tasks/:id/events', status: 200 });
    expect(lines[0]!['duration_ms']).toBeGreaterThanOrEqual(1200);
    expect(lines[0]).not.toHaveProperty('slow');
    expect(sample(await scrape(), series)).toBe(before + 1);
  });

  it('logs each task transition once: created (with its request), started (queue wait), ended (status, error, times, provider)', async () => {
    const succeeded = await create('to succeed');
    const failed = await create('to fail');
    const canceled = await create('to cancel');
    await waitFor(() => [succeeded, failed, canceled].every((id) => gated.waiting.has(id)), 10_000, 'the tasks to start');
    gated.release(succeeded);
    gated.release(failed, 'fail');
    const cancel = await app.inject({ method: 'POST', url: `/api/v1/tasks/${canceled}/cancel`, headers: auth });
    expect(cancel.statusCode).toBe(200);
    await waitFor(() => linesOf('task ended', succeeded).length + linesOf('task ended', failed).length === 2, 10_000, 'the tasks to end');

    for (const id of [succeeded, failed, canceled]) {
      expect(linesOf('task created', id)).toEqual([
        expect.objectContaining({ level: 30, account_id: accountId, model: 'sora-2', reserved_credits: 6, request_id: expect.stringMatching(/^req_/) }),
      ]);
      const [started] = linesOf('task started', id);
      expect(linesOf('task started', id)).toHaveLength(1);
      expect(started).toMatchObject({ account_id: accountId, model: 'sora-2' });
      expect(started!['queue_wait_ms']).toBeGreaterThanOrEqual(0);
      expect(linesOf('task ended', id)).toHaveLength(1);
    }
    const ended = (id: string) => linesOf('task ended', id)[0]!;
    expect(ended(succeeded)).toMatchObject({ status: 'succeeded', error_code: null, provider: 'gated', account_id: accountId, attempts: 1 });
    expect(ended(failed)).toMatchObject({ status: 'failed', error_code: 'upstream_error', provider: 'gated', reason: 'failed_upstream' });
    expect(ended(canceled)).toMatchObject({ status: 'canceled', error_code: 'canceled', request_id: cancel.headers['x-request-id'] });
    for (const id of [succeeded, failed, canceled]) {
      expect(ended(id)['queue_wait_ms']).toBeGreaterThanOrEqual(0);
      expect(ended(id)['run_ms']).toBeGreaterThanOrEqual(0);
    }
  });

  it('logs each admin action once, with ids and amounts and never the key', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const account = (await app.inject({ method: 'POST', url: '/admin/v1/accounts', headers: admin, payload: { name: 'Acme', credits: 10 } })).json<{ id: string }>();
    const keyHeaders = { ...admin, 'idempotency-key': 'obs-key' };
    const key = (await app.inject({ method: 'POST', url: `/admin/v1/accounts/${account.id}/keys`, headers: keyHeaders, payload: {} })).json<{ id: string; key: string }>();
    // A replay does nothing again, and is not logged as an action.
    await app.inject({ method: 'POST', url: `/admin/v1/accounts/${account.id}/keys`, headers: keyHeaders, payload: {} });
    await app.inject({ method: 'POST', url: `/admin/v1/accounts/${account.id}/credits`, headers: admin, payload: { amount: 25, reason: 'promo' } });
    await app.inject({ method: 'POST', url: `/admin/v1/accounts/${account.id}/credits`, headers: admin, payload: { amount: -5, reason: 'refund' } });
    await app.inject({ method: 'PATCH', url: `/admin/v1/accounts/${account.id}`, headers: admin, payload: { limits: { active_tasks: 3 } } });
    await app.inject({ method: 'DELETE', url: `/admin/v1/keys/${key.id}`, headers: admin });
    // Revoking it again changes nothing, and is not an action; nor is a refused request.
    expect((await app.inject({ method: 'DELETE', url: `/admin/v1/keys/${key.id}`, headers: admin })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: `/admin/v1/accounts/${account.id}/credits`, headers: admin, payload: { amount: -1000, reason: 'too much' } })).statusCode).toBeGreaterThanOrEqual(400);
    const actions = parse(service).filter((line) => line.msg === 'admin action' && (line.account_id === account.id || line.key_id === key.id));
    expect(actions).toEqual([
      expect.objectContaining({ admin_action: 'account_created', account_id: account.id, credits: 10 }),
      expect.objectContaining({ admin_action: 'key_created', account_id: account.id, key_id: key.id }),
      expect.objectContaining({ admin_action: 'credits_granted', account_id: account.id, amount: 25, balance_after: 35, reason: 'promo' }),
      expect.objectContaining({ admin_action: 'credits_adjusted', account_id: account.id, amount: -5, balance_after: 30, reason: 'refund' }),
      expect.objectContaining({ admin_action: 'limits_updated', account_id: account.id, limits: { active_tasks: 3 } }),
      expect.objectContaining({ admin_action: 'key_revoked', key_id: key.id }),
    ]);
    expect(actions.every((line) => typeof line.request_id === 'string')).toBe(true);
    expect(service.logs.join('\n')).not.toContain(key.key);
  });

  it('exports the process defaults, task histograms per model and outcome, and tasks per status', async () => {
    const text = await scrape();
    for (const series of ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'process_cpu_seconds_total']) {
      expect(sample(text, series), series).toBeGreaterThan(0);
    }
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
    // The previous tests ended one task of each outcome, and two more successes (the long-poll's and the stream's).
    expect(sample(text, 'rivya_task_run_seconds_count{model="sora-2",outcome="succeeded"}')).toBe(3);
    expect(sample(text, 'rivya_task_run_seconds_count{model="sora-2",outcome="upstream_error"}')).toBe(1);
    expect(sample(text, 'rivya_task_run_seconds_count{model="sora-2",outcome="canceled"}')).toBe(1);
    expect(sample(text, 'rivya_task_queue_wait_seconds_count{model="sora-2",outcome="succeeded"}')).toBe(3);
    expect(sample(text, 'rivya_task_queue_wait_seconds_bucket{le="+Inf",model="sora-2",outcome="canceled"}')).toBe(1);
    expect(sample(text, 'rivya_tasks{status="succeeded"}')).toBe(3);
    expect(sample(text, 'rivya_tasks{status="failed"}')).toBe(1);
    expect(sample(text, 'rivya_tasks{status="canceled"}')).toBe(1);
    expect(sample(text, 'rivya_tasks{status="queued"}')).toBe(0);
    expect(sample(text, 'rivya_tasks{status="running"}')).toBe(0);
  });

  it('serves /metrics only with RIVYA_METRICS_TOKEN as a Bearer token: 401 in the envelope otherwise', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'scrape-token' }]) {
      const refused = await app.inject({ url: '/metrics', headers });
      expect(refused.statusCode).toBe(401);
      expect(refused.json().error).toMatchObject({ code: 'unauthorized', request_id: refused.headers['x-request-id'] });
    }
    expect(await scrape()).toContain('rivya_tasks{status="queued"} 0');
  });

  it('labels HTTP series by route pattern: ids, signatures and unknown paths never become labels', async () => {
    for (const path of ['/nope-a', '/nope-b?sig=abc', '/api/v1/nope']) await app.inject({ url: path });
    const { auth: other } = await service.newAccount(10);
    await app.inject({ url: '/api/v1/tasks/task_x1', headers: other });
    await app.inject({ url: '/objects/s3/results/a.mp4?expires=1&sig=forged' });
    const text = await scrape();
    const routes = new Set([...text.matchAll(/^rivya_http_requests_total\{[^}]*route="([^"]*)"/gm)].map((match) => match[1]));
    expect(routes).toContain('unmatched');
    expect(routes).toContain('/api/v1/tasks/:id');
    expect(routes).toContain('/objects/:target/*');
    expect([...routes].every((route) => route === 'unmatched' || !/nope|task_|sig=|results/.test(route!))).toBe(true);
    expect(text).not.toMatch(/forged|nope|task_x1/);
  });
});

describe.each(BACKENDS)('a task whose first job was lost, on $name', (backend) => {
  it('is logged and counted as started when a requeued job first runs it', async () => {
    const service = await startTestService(backend, { captureLogs: 'info' });
    try {
      const { auth } = await service.newAccount(100);
      const app = service.runtime.app!;
      // No worker takes jobs: the test runs the one it means to.
      await service.runtime.queue.stop(1000);
      const { id } = (await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'stranded' } })).json<{ id: string }>();
      // A worker took the task's first job and died before claiming it: the sweeper gives the
      // still-queued task a new job, for its next hand-over.
      await service.runtime.db.query('UPDATE tasks SET hand_over_seq = hand_over_seq + 1 WHERE id = $1', [id]);
      await service.runtime.runner.handle({ taskId: id, seq: 1 });
      const lines = parse(service).filter((line) => line.task_id === id && line.msg.startsWith('task '));
      expect(lines.map((line) => line.msg)).toEqual(['task created', 'task started', 'task ended']);
      expect(lines[2]).toMatchObject({ status: 'succeeded', attempts: 1 });
      const text = (await app.inject({ url: '/metrics' })).body;
      expect(sample(text, 'rivya_task_transitions_total{model="sora-2",status="running"}')).toBe(1);
    } finally {
      await service.close();
    }
  });
});

describe('requests whose client goes away before the answer', () => {
  it('are logged and counted once, as 499 with aborted: true', async () => {
    const gated = createGatedProvider();
    const service = await startTestService(BACKENDS[0]!, { provider: gated.provider, captureLogs: 'info', listen: true });
    try {
      const base = service.runtime.config.publicUrl;
      const { auth, accountId } = await service.newAccount(100);
      const created = await fetch(`${base}/api/v1/tasks`, {
        method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sora-2', prompt: 'held' }),
      });
      const { id } = (await created.json()) as { id: string };
      await waitFor(() => gated.waiting.has(id), 10_000, 'the task to start');
      const requestLines = () => parse(service).filter((line) => line.msg === 'request');

      // A long-poll the client gives up on (its own timeout, a proxy's) after 200 ms of a 5 s wait.
      const before = requestLines().length;
      await fetch(`${base}/api/v1/tasks/${id}?wait=5`, { headers: auth, signal: AbortSignal.timeout(200) }).catch(() => null);
      await waitFor(() => requestLines().length > before, 5_000, 'the long-poll to be logged');
      // An upload cut in the middle of its body.
      const upload = new AbortController();
      let parts = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (parts++ === 5) upload.abort();
          await new Promise((resolve) => setTimeout(resolve, 20));
          controller.enqueue(new Uint8Array(1000).fill(65));
        },
      });
      await fetch(`${base}/api/v1/files`, {
        method: 'POST', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=b' }, body, duplex: 'half', signal: upload.signal,
      }).catch(() => null);
      await waitFor(() => requestLines().length > before + 1, 5_000, 'the upload to be logged');
      await new Promise((resolve) => setTimeout(resolve, 300));

      const lines = requestLines().slice(before);
      expect(lines).toEqual([
        expect.objectContaining({ level: 30, method: 'GET', route: '/api/v1/tasks/:id', status: 499, aborted: true, account_id: accountId, wait_s: 5 }),
        expect.objectContaining({ level: 30, method: 'POST', route: '/api/v1/files', status: 499, aborted: true, account_id: accountId }),
      ]);
      expect(lines[0]!['duration_ms']).toBeLessThan(4000);
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(sample(text, 'rivya_http_requests_total{method="GET",route="/api/v1/tasks/:id",status="499"}')).toBe(1);
      expect(sample(text, 'rivya_http_requests_total{method="POST",route="/api/v1/files",status="499"}')).toBe(1);
    } finally {
      gated.releaseAll();
      await service.close();
    }
  });
});

describe('/metrics on RIVYA_METRICS_PORT', () => {
  it('is served by a listener of its own (with its token) and not on the API port', async () => {
    const port = await freePort();
    const service = await startTestService(BACKENDS[0]!, { listen: true, env: { RIVYA_METRICS_PORT: String(port), RIVYA_METRICS_TOKEN: 'scrape-token' } });
    try {
      const api = service.runtime.config.publicUrl;
      expect((await fetch(`${api}/metrics`, { headers: { authorization: 'Bearer scrape-token' } })).status).toBe(404);
      expect((await fetch(`${api}/healthz`)).status).toBe(200);
      const refused = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      const scraped = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer scrape-token' } });
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toMatch(/^process_resident_memory_bytes \d+/m);
      const elsewhere = await fetch(`http://127.0.0.1:${port}/api/v1/models`);
      expect(elsewhere.status).toBe(404);
      expect(((await elsewhere.json()) as { error: { code: string } }).error.code).toBe('not_found');
    } finally {
      await service.close();
    }
    // Closed with the service.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it.runIf(POSTGRES_AVAILABLE)('lets a worker process, which has no API, be scraped', async () => {
    const port = await freePort();
    const service = await startTestService(BACKENDS[1]!, { env: { RIVYA_ROLE: 'worker', RIVYA_METRICS_PORT: String(port) } });
    try {
      expect(service.runtime.app).toBeNull();
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/^rivya_queue_depth\{queue="task.run",state="queued"\} \d+/m);
    } finally {
      await service.close();
    }
  });
});
