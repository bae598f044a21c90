import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import type { AppRoute } from '../../src/http/app.js';
import { callbackUrl } from '../../src/http/routes/provider-callbacks.js';
import { BACKENDS } from '../helpers/backends.js';
import { makeMedia } from '../helpers/media.js';
import { ADMIN_TOKEN, startTestService, type TestService } from '../helpers/test-service.js';
import { sendRaw, RAW_REQUESTS, rawRequest } from './raw-http.js';
import { positionValues, requestFor, type Fixtures, type FuzzRequest } from './request-arbitraries.js';
import { ROUTE_SPECS, specOf } from './route-specs.js';

/**
 * Property-based fuzzing of every route the app registers: malformed paths, query strings,
 * headers, JSON and multipart bodies, with and without valid credentials. Every answer must be
 * below 500, in the contract's envelope when not 2xx (its code's status, the X-Request-Id in the
 * body), and come in time; no credits move but by the creates and grants that succeeded; the
 * service stays healthy. Fixed seed and runs, overridable: RIVYA_FUZZ_SEED, RIVYA_FUZZ_RUNS.
 */
const SEED = Number(process.env['RIVYA_FUZZ_SEED'] ?? 20_260_511);
const RUNS = Number(process.env['RIVYA_FUZZ_RUNS'] ?? 100);
/** An answer slower than this is a hang. */
const ANSWER_TIMEOUT_MS = 10_000;

async function answerOf(app: FastifyInstance, request: FuzzRequest): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms (a hang)`)), ANSWER_TIMEOUT_MS);
  });
  try {
    return await Promise.race([app.inject({ ...request, method: request.method as 'GET' }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The contract's promises for any answer: below 500, a request id, and the envelope on every non-2xx.
 * A page route's answers are pages (its errors a 404 page, never the envelope), under the pages' CSP;
 * a request to it that the router answers itself (`/docs/%2e%2e` resolved to `/`, a segment longer
 * than any id) has the API's promises instead.
 */
export function checkAnswer(method: string, status: number, headers: Record<string, unknown>, body: string, options: { page?: boolean; console?: boolean } = {}): void {
  expect(status, body).toBeLessThan(500);
  const requestId = headers['x-request-id'];
  expect(requestId, 'X-Request-Id').toMatch(/^req_\w+$/);
  if (options.page && String(headers['content-security-policy']).startsWith("default-src 'self'")) {
    if (options.console && status === 303) expect(String(headers['location'])).toMatch(/^(\/bn)?\/console(\/sign-in)?$/);
    else if (options.console && status >= 400 && status < 500) expect(headers['content-type']).toBe('text/html; charset=utf-8');
    else if (status >= 300) expect({ status, type: headers['content-type'] }).toEqual({ status: 404, type: 'text/html; charset=utf-8' });
    return;
  }
  if (status < 300 || method === 'HEAD') return;
  let parsed: unknown;
  expect(() => (parsed = JSON.parse(body)), `a JSON body: ${body.slice(0, 200)}`).not.toThrow();
  const envelope = parsed as { error?: Record<string, unknown> };
  expect(Object.keys(envelope)).toEqual(['error']);
  const error = envelope.error ?? {};
  expect(Object.keys(error).sort()).toEqual(['code', 'details', 'message', 'request_id']);
  expect(Object.keys(ERROR_CODES)).toContain(error['code']);
  expect(status, `status of ${String(error['code'])}`).toBe(ERROR_CODES[error['code'] as keyof typeof ERROR_CODES].status);
  expect(typeof error['message']).toBe('string');
  expect(error['request_id']).toBe(requestId);
}

/** The token an `Authorization` header carries as the API reads it (null: none). */
function bearer(headers: Record<string, string>): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(headers['authorization'] ?? '')?.[1] ?? null;
}

let png: Buffer;
beforeAll(async () => {
  png = await readFile(await makeMedia(join(await mkdtemp(join(tmpdir(), 'rivya-fuzz-')), 'a.png'), 'image'));
});

describe.each(BACKENDS)('fuzzing every route on $name', (backend) => {
  const routes: AppRoute[] = [];
  let service: TestService;
  let app: FastifyInstance;
  let fixtures: Fixtures;
  const accounts = { fuzzed: '', other: '', target: '' };

  beforeAll(async () => {
    // No worker: a task created stays queued with its hold, so every credit movement is exact to check.
    // Event streams end at once (they would otherwise last for as long as the client stays).
    const env = { RIVYA_SSE_HEARTBEAT_MS: '50', RIVYA_SSE_MAX_DURATION_MS: '100' };
    service = await startTestService(backend, { worker: false, listen: true, env, onRoute: (route) => routes.push(route) });
    app = service.runtime.app as FastifyInstance;
    const unlimited = { creates_per_minute: 1_000_000, requests_per_minute: 1_000_000, active_tasks: 1_000_000 };
    const fuzzed = await service.newAccount(1000, unlimited);
    const other = await service.newAccount(1000, unlimited);
    const target = await service.runtime.accounts.createAccount('admin target', 500, {});
    const targetKey = await service.runtime.accounts.createApiKey(target.id, 'to be revoked');
    Object.assign(accounts, { fuzzed: fuzzed.accountId, other: other.accountId, target: target.id });
    // An ended task and an uploaded file of each account: ids that exist, owned or not.
    const endedTask = async (auth: Record<string, string>) => {
      const created = await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'fixture' } });
      const id = created.json<{ id: string }>().id;
      expect((await app.inject({ method: 'POST', url: `/api/v1/tasks/${id}/cancel`, headers: auth })).statusCode).toBe(200);
      return id;
    };
    const uploaded = async (auth: Record<string, string>) => {
      const payload = Buffer.concat([
        Buffer.from('--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'), png, Buffer.from('\r\n--b--\r\n'),
      ]);
      const response = await app.inject({ method: 'POST', url: '/api/v1/files', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=b' }, payload });
      expect(response.statusCode, response.body).toBe(201);
      return response.json<{ id: string; url: string }>();
    };
    const ownFile = await uploaded(fuzzed.auth);
    const otherFile = await uploaded(other.auth);
    const fileUrl = new URL(ownFile.url);
    const ownTask = await endedTask(fuzzed.auth);
    // A webhook endpoint of each account, with a delivery (nothing is sent: no worker runs).
    const endpointWithDelivery = async (auth: Record<string, string>) => {
      const endpoint = await app.inject({ method: 'POST', url: '/api/v1/webhook_endpoints', headers: auth, payload: { url: 'https://93.184.215.14/fixture' } });
      expect(endpoint.statusCode, endpoint.body).toBe(201);
      const id = endpoint.json<{ id: string }>().id;
      const delivery = await app.inject({ method: 'POST', url: `/api/v1/webhook_endpoints/${id}/test`, headers: auth });
      expect(delivery.statusCode, delivery.body).toBe(202);
      return { endpoint: id, delivery: delivery.json<{ id: string }>().id };
    };
    const ownHook = await endpointWithDelivery(fuzzed.auth);
    const otherHook = await endpointWithDelivery(other.auth);
    const callback = new URL(callbackUrl(service.runtime.config.publicUrl, service.runtime.signer, ownTask, new Date(Date.now() + 3_600_000)));
    fixtures = {
      key: fuzzed.key, otherKey: other.key, adminToken: ADMIN_TOKEN,
      ids: {
        task: [ownTask, await endedTask(other.auth)],
        file: [ownFile.id, otherFile.id],
        model: ['sora-2', 'sora-2-pro'],
        account: [target.id],
        key: [targetKey.id],
        target: ['s3', 'oss'],
        'object-key': [fileUrl.pathname.replace(/^\/objects\/s3\//, '')],
        'webhook-endpoint': [ownHook.endpoint, otherHook.endpoint],
        'webhook-delivery': [ownHook.delivery, otherHook.delivery],
        unknown: [],
      },
      signedQuery: { object: fileUrl.search.slice(1), callback: callback.search.slice(1) },
      fileUrl: ownFile.url,
      png,
    };
  });
  afterAll(async () => {
    await service?.close();
  });

  it('has a generator for every route the app registers, and a spec for no route it lacks', () => {
    expect(routes.length).toBeGreaterThan(0);
    expect(routes.filter((route) => !specOf(route.method, route.url)).map((route) => `${route.method} ${route.url}`), 'routes without a generator').toEqual([]);
    const served = new Set(routes.map((route) => `${route.method} ${route.url}`));
    expect(Object.keys(ROUTE_SPECS).filter((route) => !served.has(route)), 'specs of routes the app no longer has').toEqual([]);
    // A route without a spec is fuzzed from what its URL says; a spec makes the requests sharper.
    const unlisted = routes.filter((route) => specOf(route.method, route.url)?.listed === false);
    if (unlisted.length > 0) console.warn(`[fuzz] routes without a spec (fuzzed from their URL): ${unlisted.map((r) => `${r.method} ${r.url}`).join(', ')}`);
  });

  it(`answers every malformed request to every route below 500, in the envelope, in time, moving no credits (seed ${SEED}, ${RUNS} runs a route)`, async () => {
    const before = {
      fuzzed: await service.runtime.accounts.getAccount(accounts.fuzzed),
      other: await service.runtime.accounts.getAccount(accounts.other),
      target: await service.runtime.accounts.getAccount(accounts.target),
    };
    const ledgerSize = async (accountId: string) => (await service.runtime.db.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_entries WHERE account_id = $1', [accountId])).rows[0]?.n ?? 0;
    const ledgerBefore = { fuzzed: await ledgerSize(accounts.fuzzed), other: await ledgerSize(accounts.other), target: await ledgerSize(accounts.target) };
    /** What succeeded and may move credits: holds of tasks created, per key; grants to the target. */
    const moved = { heldBy: new Map<string, number>(), creates: new Map<string, number>(), granted: 0, grants: 0 };
    const figures: { route: string; requests: number; ms: number; statuses: Record<number, number> }[] = [];
    const failures: string[] = [];
    const started = performance.now();

    // Deletes last: until then the fixtures they may delete (the fuzzed account's file) serve the other routes.
    const ordered = [...routes].sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
    for (const route of ordered) {
      const found = specOf(route.method, route.url);
      if (!found) throw new Error(`No generator for ${route.method} ${route.url}: give it an entry in test/fuzz/route-specs.ts.`);
      const { spec } = found;
      const name = `${route.method} ${route.url}`;
      const figure = { route: name, requests: 0, ms: 0, statuses: {} as Record<number, number> };
      const routeStarted = performance.now();
      const property = fc.asyncProperty(requestFor(route.method, route.url, spec, fixtures), async (request) => {
        figure.requests++;
        const response = await answerOf(app, request);
        figure.statuses[response.statusCode] = (figure.statuses[response.statusCode] ?? 0) + 1;
        checkAnswer(request.method, response.statusCode, response.headers, response.body, { page: spec.page === true, console: spec.console === true });
        if (response.statusCode !== 201 || response.headers['idempotent-replayed'] === 'true') return;
        if (name === 'POST /api/v1/tasks') {
          const token = bearer(request.headers) ?? '';
          moved.heldBy.set(token, (moved.heldBy.get(token) ?? 0) + response.json<{ reserved_credits: number }>().reserved_credits);
          moved.creates.set(token, (moved.creates.get(token) ?? 0) + 1);
        } else if (name === 'POST /admin/v1/accounts/:id/credits' && request.url.startsWith(`/admin/v1/accounts/${accounts.target}/`)) {
          moved.granted += (JSON.parse(String(request.payload)) as { amount: number }).amount;
          moved.grants++;
        }
      });
      // Every route is fuzzed even after one fails: the report names all that did.
      const details = await fc.check(property, { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 120_000, markInterruptAsFailure: true, includeErrorInReport: true });
      if (details.failed) failures.push(`${name}:\n${fc.defaultReportMessage(details)}`);
      figure.ms = Math.round(performance.now() - routeStarted);
      figures.push(figure);
    }
    const total = figures.reduce((sum, figure) => sum + figure.requests, 0);
    console.log(
      `[fuzz ${backend.name}] seed ${SEED}, ${RUNS} runs a route: ${total} requests to ${figures.length} routes in ${Math.round(performance.now() - started)} ms\n` +
        figures.map((f) => `  ${f.route.padEnd(45)} ${String(f.requests).padStart(4)} requests ${String(f.ms).padStart(6)} ms  ${JSON.stringify(f.statuses)}`).join('\n'),
    );
    if (failures.length > 0) {
      throw new Error(`Fuzzing failed on ${failures.length} route(s); rerun with RIVYA_FUZZ_SEED=${SEED} RIVYA_FUZZ_RUNS=${RUNS}.\n\n${failures.join('\n\n')}`);
    }
    expect(figures.every((figure) => figure.requests >= RUNS)).toBe(true);
    // At the default runs some creates and grants succeed, so the accounting below checks real movements.
    if (RUNS >= 100) expect({ creates: [...moved.creates.values()].reduce((a, b) => a + b, 0) > 0, grants: moved.grants > 0 }).toEqual({ creates: true, grants: true });

    // No credits moved but by the creates and grants that succeeded, and the ledger says exactly that.
    const after = {
      fuzzed: await service.runtime.accounts.getAccount(accounts.fuzzed),
      other: await service.runtime.accounts.getAccount(accounts.other),
      target: await service.runtime.accounts.getAccount(accounts.target),
    };
    for (const [who, token] of [['fuzzed', fixtures.key], ['other', fixtures.otherKey]] as const) {
      expect(after[who]?.balance, `${who} balance`).toBe(before[who]?.balance);
      expect(after[who]?.held, `${who} held`).toBe((before[who]?.held ?? 0) + (moved.heldBy.get(token) ?? 0));
      expect(await ledgerSize(accounts[who]), `${who} ledger`).toBe(ledgerBefore[who] + (moved.creates.get(token) ?? 0));
    }
    expect(after.target?.balance).toBe((before.target?.balance ?? 0) + moved.granted);
    expect(after.target?.held).toBe(before.target?.held);
    expect(await ledgerSize(accounts.target)).toBe(ledgerBefore.target + moved.grants);

    // Still healthy: alive, ready, and a normal create works.
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const create = await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: { authorization: `Bearer ${fixtures.key}` }, payload: { model: 'sora-2', prompt: 'after the storm' } });
    expect(create.statusCode, create.body).toBe(201);
  });

  it('answers task and account reads for any Rivya-Position: one it takes at or past it, any other 400 at Rivya-Position', async () => {
    const auth = { authorization: `Bearer ${fixtures.key}` };
    const reads = fc.constantFrom('/api/v1/account', `/api/v1/tasks/${fixtures.ids.task[0]}`);
    const details = await fc.check(
      fc.asyncProperty(positionValues, reads, async (value, url) => {
        const response = await answerOf(app, { method: 'GET', url, headers: { ...auth, 'rivya-position': value } });
        checkAnswer('GET', response.statusCode, response.headers, response.body);
        if (/^\d{1,16}$/.test(value) && Number(value) <= Number.MAX_SAFE_INTEGER) {
          expect(response.statusCode, response.body).toBe(200);
          expect(Number(response.headers['rivya-position'])).toBeGreaterThanOrEqual(Number(value));
        } else {
          expect(response.statusCode, value).toBe(400);
          expect(response.json()).toMatchObject({ error: { code: 'validation_failed', details: [{ path: 'Rivya-Position' }] } });
        }
      }),
      { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
    );
    if (details.failed) throw new Error(`Rivya-Position fuzzing failed; rerun with RIVYA_FUZZ_SEED=${SEED} RIVYA_FUZZ_RUNS=${RUNS}.\n${fc.defaultReportMessage(details)}`);
    // Sent twice over a real port (Node joins the two values): refused too.
    const twice = `GET /api/v1/account HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${fixtures.key}\r\nRivya-Position: 5\r\nRivya-Position: 5\r\nConnection: close\r\n\r\n`;
    const answer = await sendRaw(service.runtime.config.port, Buffer.from(twice));
    expect(answer?.status, answer?.body).toBe(400);
  });

  it("answers what Node's HTTP parser refuses (an unknown method, a head over 16 KiB, a malformed line) in the envelope, with a request id", async () => {
    const port = service.runtime.config.port;
    for (const raw of RAW_REQUESTS) {
      const answer = await sendRaw(port, raw.bytes);
      expect(answer, `${raw.name}: no answer`).not.toBeNull();
      expect(answer!.status, `${raw.name}: ${answer!.body}`).toBe(raw.status);
      checkAnswer(raw.method, answer!.status, answer!.headers, answer!.body);
    }
  });

  it('answers any malformed request head over a real port below 500, in the envelope, with a request id', async () => {
    const port = service.runtime.config.port;
    const details = await fc.check(
      fc.asyncProperty(rawRequest, async (bytes) => {
        // Every request gets an answer: a connection closed without one is a failure too.
        const answer = await sendRaw(port, bytes);
        expect(answer, 'an answer').not.toBeNull();
        checkAnswer('GET', answer!.status, answer!.headers, answer!.body);
      }),
      { seed: SEED, numRuns: Math.ceil(RUNS / 4), includeErrorInReport: true },
    );
    if (details.failed) throw new Error(`Raw fuzzing failed; rerun with RIVYA_FUZZ_SEED=${SEED} RIVYA_FUZZ_RUNS=${RUNS}.\n${fc.defaultReportMessage(details)}`);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });
});
