import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { BACKENDS } from '../helpers/backends.js';
import { makeMedia } from '../helpers/media.js';
import { ADMIN_TOKEN, useGatedService } from '../helpers/test-service.js';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** The answer is the contract's envelope with `code`, its status, and the request id in header and body. */
function expectEnvelope(response: LightMyRequestResponse, code: keyof typeof ERROR_CODES) {
  expect(response.statusCode, response.body).toBe(ERROR_CODES[code].status);
  const body = response.json();
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'details', 'message', 'request_id']);
  expect(body.error).toMatchObject({ code, message: expect.any(String), request_id: expect.stringMatching(/^req_/) });
  expect(response.headers['x-request-id']).toBe(body.error.request_id);
  return body.error as { code: string; message: string; details: unknown };
}

/** A PNG's multipart part, without the closing boundary (`close` adds it). */
function filePart(boundary: string, bytes: Buffer, newline = '\r\n') {
  return Buffer.concat([
    Buffer.from(`--${boundary}${newline}Content-Disposition: form-data; name="file"; filename="a.png"${newline}Content-Type: image/png${newline}${newline}`),
    bytes,
  ]);
}

let png: Buffer;
beforeAll(async () => {
  png = await readFile(await makeMedia(join(await mkdtemp(join(tmpdir(), 'rivya-malformed-')), 'a.png'), 'image'));
});

describe.each(BACKENDS)('malformed input on $name: never a 5xx, a hang, or an answer outside the envelope', (backend) => {
  const ctx = useGatedService(backend);
  const upload = (auth: Record<string, string>, contentType: string, payload: Buffer | string, headers: Record<string, string> = {}) =>
    ctx.app.inject({ method: 'POST', url: '/api/v1/files', headers: { ...auth, ...headers, 'content-type': contentType }, payload });

  it('a NUL in a path id is 404 not_found on every route with an id', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const routes: [string, string, Record<string, string>][] = [
      ['GET', '/api/v1/tasks/%00', auth],
      ['GET', '/api/v1/tasks/task_%00?wait=1', auth],
      ['POST', '/api/v1/tasks/%00/cancel', auth],
      ['GET', '/api/v1/files/%00', auth],
      ['DELETE', '/api/v1/files/file_%00', auth],
      ['GET', '/api/v1/models/%00', {}],
      ['GET', '/admin/v1/accounts/%00', admin],
      ['PATCH', '/admin/v1/accounts/%00', admin],
      ['POST', '/admin/v1/accounts/%00/keys', admin],
      ['POST', '/admin/v1/accounts/%00/credits', admin],
      ['DELETE', '/admin/v1/keys/%00', admin],
    ];
    for (const [method, url, headers] of routes) {
      const response = await ctx.app.inject({ method: method as 'GET', url, headers });
      expectEnvelope(response, 'not_found');
    }
  });

  it('a JSON body nested 5,000 levels deep is 400 validation_failed, with or without an Idempotency-Key', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    const body = `{"model":"sora-2","prompt":${deep}}`;
    const headers = { 'content-type': 'application/json' };
    for (const extra of [{}, auth, { ...auth, 'idempotency-key': 'deep-1' }, { ...admin, 'idempotency-key': 'deep-2' }]) {
      const url = 'authorization' in extra && extra.authorization === admin.authorization ? '/admin/v1/accounts' : '/api/v1/tasks';
      const error = expectEnvelope(await ctx.app.inject({ method: 'POST', url, headers: { ...headers, ...extra }, payload: body }), 'validation_failed');
      expect(error.message).toMatch(/nest/);
    }
    // A megabyte of brackets is refused as cheaply.
    const brackets = '['.repeat(500_000) + ']'.repeat(500_000);
    const started = Date.now();
    expectEnvelope(await ctx.create(auth, brackets, { 'content-type': 'application/json' }), 'validation_failed');
    expect(Date.now() - started).toBeLessThan(2000);
    // Nesting a real body needs is fine.
    expect((await ctx.create(auth, { model: 'sora-2', prompt: 'fine', params: { n_frames: '10' } })).statusCode).toBe(201);
  });

  it('malformed multipart on POST /api/v1/files is 400: no boundary, one absent from the body, no closing boundary, LF-only', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const cases: [string, string, Buffer | string][] = [
      ['no boundary', 'multipart/form-data', filePart('b', png)],
      ['boundary absent from the body', 'multipart/form-data; boundary=elsewhere', Buffer.concat([filePart('b', png), Buffer.from('\r\n--b--\r\n')])],
      ['no closing boundary', 'multipart/form-data; boundary=b', filePart('b', png)],
      ['LF-only line breaks', 'multipart/form-data; boundary=b', Buffer.concat([filePart('b', png, '\n'), Buffer.from('\n--b--\n')])],
      ['an empty body', 'multipart/form-data; boundary=b', ''],
    ];
    for (const [name, contentType, payload] of cases) {
      const response = await upload(auth, contentType, payload);
      expect(response.statusCode, `${name}: ${response.body}`).toBe(400);
      expectEnvelope(response, 'validation_failed');
    }
    const files = await ctx.app.inject({ url: '/api/v1/files', headers: auth });
    expect(files.json().data).toEqual([]);
  });

  it('an upload with no closing boundary and an Idempotency-Key is answered 400 at once, and the key is free again', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const key = { 'idempotency-key': 'cut-short' };
    const started = Date.now();
    const cut = await Promise.race([
      upload(auth, 'multipart/form-data; boundary=b', filePart('b', png), key),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000)),
    ]);
    expect(cut, 'no answer within 5 s').not.toBeNull();
    expectEnvelope(cut!, 'validation_failed');
    expect(Date.now() - started).toBeLessThan(5000);
    const whole = await upload(auth, 'multipart/form-data; boundary=b', Buffer.concat([filePart('b', png), Buffer.from('\r\n--b--\r\n')]), key);
    expect(whole.statusCode, whole.body).toBe(201);
  });

  it('a lone surrogate in any JSON string is 400 naming the field (jsonb cannot store it)', async () => {
    const { auth, accountId } = await ctx.service.newAccount(100);
    const multipart = Buffer.concat([filePart('b', png), Buffer.from('\r\n--b--\r\n')]);
    const file = (await upload(auth, 'multipart/form-data; boundary=b', multipart)).json();
    const item = `{"url":${JSON.stringify(file.url)},"kind":"image","name":"\\ud800","mimeType":"image/png"}`;
    const task = await ctx.create(auth, `{"model":"sora-2","prompt":"go","params":{"referenceMediaItems":[${item}]}}`, {
      'content-type': 'application/json', 'idempotency-key': 'surrogate-task',
    });
    expect(expectEnvelope(task, 'validation_failed').details).toEqual([
      { path: 'params.referenceMediaItems[0].name', message: expect.stringContaining('surrogate') },
    ]);
    const key = await ctx.app.inject({
      method: 'POST', url: `/admin/v1/accounts/${accountId}/keys`,
      headers: { ...admin, 'content-type': 'application/json', 'idempotency-key': 'surrogate-key' }, payload: '{"name":"\\ud800"}',
    });
    expect(expectEnvelope(key, 'validation_failed').details).toEqual([{ path: 'name', message: expect.stringContaining('surrogate') }]);
    // In a key too, and in a prompt (which text would have stored as U+FFFD, silently changed).
    const inKey = await ctx.create(auth, '{"model":"sora-2","prompt":"go","params":{"\\udfff":1}}', { 'content-type': 'application/json' });
    expect(expectEnvelope(inKey, 'validation_failed').details).toEqual([{ path: 'params.\udfff', message: expect.stringContaining('surrogate') }]);
    expectEnvelope(await ctx.create(auth, '{"model":"sora-2","prompt":"a\\ud800b"}', { 'content-type': 'application/json' }), 'validation_failed');
    // A well-formed pair is text like any other.
    expect((await ctx.create(auth, '{"model":"sora-2","prompt":"\\ud83e\\udd8a"}', { 'content-type': 'application/json' })).statusCode).toBe(201);
  });

  it('a long file name is cut between characters, never inside one (half a surrogate pair is not text)', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const name = `${'n'.repeat(254)}\u{1F98A}.png`;
    const head = `--b\r\nContent-Disposition: form-data; name="file"; filename*=utf-8''${encodeURIComponent(name)}\r\nContent-Type: image/png\r\n\r\n`;
    const payload = Buffer.concat([Buffer.from(head), png, Buffer.from('\r\n--b--\r\n')]);
    const response = await upload(auth, 'multipart/form-data; boundary=b', payload, { 'idempotency-key': 'long-name' });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json().name).toBe(`${'n'.repeat(254)}\u{1F98A}`);
  });

  it("the router's own errors answer in the envelope with a request id: an undecodable path, an over-long id", async () => {
    const { auth } = await ctx.service.newAccount(100);
    expectEnvelope(await ctx.app.inject({ url: '/api/v1/tasks/%zz', headers: auth }), 'not_found');
    expectEnvelope(await ctx.app.inject({ url: '/api/v1/tasks/%zz' }), 'not_found');
    expectEnvelope(await ctx.app.inject({ url: `/api/v1/tasks/task_${'a'.repeat(120)}`, headers: auth }), 'not_found');
    expectEnvelope(await ctx.app.inject({ method: 'DELETE', url: `/admin/v1/keys/${'k'.repeat(101)}`, headers: admin }), 'not_found');
    expectEnvelope(await ctx.app.inject({ method: 'PROPFIND' as 'GET', url: '/api/v1/tasks', headers: auth }), 'not_found');
  });
});
