import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type TestBackend } from '../helpers/backends.js';
import { makeMedia } from '../helpers/media.js';
import { ADMIN_TOKEN, startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLIENT_SCRIPT = join(ROOT, 'test/fixtures/openapi-client/create-wait-download.ts');
const REDOCLY = join(ROOT, 'node_modules/@redocly/cli/bin/cli.js');
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
// Not localhost: redocly warns of a server URL that points to one.
const PUBLIC_URL = 'https://api.rivya.test';

type Document = Record<string, unknown> & { components: { schemas: Record<string, Record<string, unknown>> } };

/** `redocly lint` (the CLI, with the project's redocly.yaml) of a document: its totals and problems. */
async function lint(document: object): Promise<{ totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string }[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'rivya-openapi-lint-'));
  try {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(document, null, 1));
    const stdout = await new Promise<string>((resolve) => {
      execFile(
        process.execPath, [REDOCLY, 'lint', file, '--format=json', `--config=${join(ROOT, 'redocly.yaml')}`],
        { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }, cwd: dir },
        // It exits 1 when it finds errors: the report is on stdout either way.
        (_error, out) => resolve(out),
      );
    });
    return JSON.parse(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Generates types from `document` with openapi-typescript, as a user would, and type-checks the
 * client script (create → poll → download, on openapi-fetch) against them, with the project's
 * strict options. Returns the compiler's messages (none: it compiles).
 */
let previous: ts.Program | undefined;
async function typeCheckClient(document: object): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'rivya-openapi-client-'));
  try {
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await writeFile(join(dir, 'package.json'), '{"type": "module"}');
    await writeFile(join(dir, 'api.ts'), astToString(await openapiTS(document as Parameters<typeof openapiTS>[0])));
    await copyFile(CLIENT_SCRIPT, join(dir, 'create-wait-download.ts'));
    const { options, errors } = ts.convertCompilerOptionsFromJson({
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023'], types: ['node'],
      strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, noEmit: true, skipLibCheck: true,
    }, dir);
    expect(errors).toEqual([]);
    // The previous program lends its parsed library files (node_modules, seen through the link).
    const program = ts.createProgram({ rootNames: [join(dir, 'create-wait-download.ts')], options, ...(previous ? { oldProgram: previous } : {}) });
    previous = program;
    return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? `${d.file.fileName.slice(dir.length + 1)}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A multipart body with one part `file`. */
function multipart(filename: string, bytes: Buffer) {
  const boundary = '----rivyaOpenApiTest';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n`;
  return {
    payload: Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

/** The document with every object schema closed: a field the server sends but the document does not declare fails. */
function closed(document: Document): Document {
  const copy = structuredClone(document);
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const schema = node as Record<string, unknown>;
    if (schema['properties'] && !('additionalProperties' in schema)) schema['additionalProperties'] = false;
    Object.values(schema).forEach(visit);
  };
  visit(copy.components);
  visit(copy['paths']);
  return copy;
}

/** A service on `backend` for the enclosing `describe` (read `app` inside tests), and its documents as served. */
function useService(backend: TestBackend, options: { worker?: boolean } = {}) {
  const context = { service: undefined as unknown as TestService, app: undefined as unknown as FastifyInstance };
  beforeAll(async () => {
    // Webhooks go to a closed port on loopback: their attempts fail at once, and are listed.
    context.service = await startTestService(backend, { env: { RIVYA_PUBLIC_URL: PUBLIC_URL, RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true' }, ...options });
    context.app = context.service.runtime.app as FastifyInstance;
  });
  afterAll(async () => {
    await context.service?.close();
  });
  const served = async (url: string, headers: Record<string, string> = {}) => {
    const response = await context.app.inject({ url, headers });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<Document>();
  };
  return { context, served };
}

// The documents do not depend on the database: they are linted and compiled against once, on the embedded default.
describe('the OpenAPI documents served', () => {
  const { context, served } = useService(BACKENDS[0]!, { worker: false });

  it('pass redocly lint with no errors and no warnings (public and admin)', async () => {
    const [publicReport, adminReport] = await Promise.all([
      lint(await served('/api/v1/openapi.json')),
      lint(await served('/admin/v1/openapi.json', ADMIN)),
    ]);
    expect(publicReport.problems).toEqual([]);
    expect(publicReport.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(adminReport.problems).toEqual([]);
    expect(adminReport.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('serve the admin document only with the admin token, and keep admin routes out of the public one', async () => {
    expect((await context.app.inject({ url: '/admin/v1/openapi.json' })).statusCode).toBe(401);
    const document = await served('/api/v1/openapi.json');
    expect(Object.keys(document['paths'] as object).filter((path) => path.startsWith('/admin'))).toEqual([]);
    const admin = await served('/admin/v1/openapi.json', ADMIN);
    // Every route under /admin/v1 is described, and every described operation is a route.
    const described = Object.entries(admin['paths'] as Record<string, Record<string, unknown>>)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`));
    for (const operation of described) {
      const [method, url] = operation.split(' ') as [string, string];
      expect(context.app.hasRoute({ method, url }), operation).toBe(true);
    }
    expect(described.sort()).toEqual([
      'DELETE /admin/v1/keys/:id', 'GET /admin/v1/accounts/:id', 'GET /admin/v1/openapi.json', 'PATCH /admin/v1/accounts/:id',
      'POST /admin/v1/accounts', 'POST /admin/v1/accounts/:id/credits', 'POST /admin/v1/accounts/:id/keys',
    ]);
  });

  it('generate (openapi-typescript) a client whose create → poll → download script type-checks, with required fields typed as present', async () => {
    const document = await served('/api/v1/openapi.json');
    expect(await typeCheckClient(document)).toEqual([]);
    // The same script does not compile against a document whose Task declares nothing required:
    // the check can fail.
    const loose = structuredClone(document);
    delete loose.components.schemas['Task']!['required'];
    const messages = await typeCheckClient(loose);
    expect(messages.join('\n')).toMatch(/create-wait-download\.ts: Type '.*undefined' is not assignable to type '(string|number)'/);
  }, 60_000);
});

describe.each(BACKENDS)('the OpenAPI documents served on $name', (backend) => {
  const { context } = useService(backend);

  it('answers a create → wait → download flow, the account, files and admin routes as their documents say', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajvFormats.default(ajv);
    const publicDoc = closed((await context.app.inject({ url: '/api/v1/openapi.json' })).json());
    const adminDoc = closed((await context.app.inject({ url: '/admin/v1/openapi.json', headers: ADMIN })).json());
    ajv.addSchema({ ...publicDoc, $id: 'public' }).addSchema({ ...adminDoc, $id: 'admin' });
    const pointer = (...parts: string[]) => parts.map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
    let checked = 0;
    const call = async (method: string, path: string, url: string, options: { headers?: Record<string, string>; payload?: unknown } = {}) => {
      const response = await context.app.inject({ method: method as 'GET', url, ...(options.headers ? { headers: options.headers } : {}), ...(options.payload !== undefined ? { payload: options.payload as object } : {}) });
      const id = path.startsWith('/admin') ? 'admin' : 'public';
      const status = String(response.statusCode);
      type Documented = { headers?: Record<string, { required?: boolean }> };
      const responses = ((id === 'admin' ? adminDoc : publicDoc)['paths'] as Record<string, Record<string, { responses: Record<string, Documented> }>>)[path]?.[method.toLowerCase()]?.responses;
      expect(responses, `${method} ${path} is described`).toBeDefined();
      const documented = status in responses! ? status : `${status[0]}XX`;
      expect(responses, `${method} ${path} documents ${status}`).toHaveProperty([documented]);
      for (const [name, header] of Object.entries(responses![documented]?.headers ?? {})) {
        if (header.required) expect(response.headers[name.toLowerCase()], `${method} ${url} ${status} sends ${name}`).toMatch(/^\d+$/);
      }
      const validate = ajv.getSchema(`${id}#/${pointer('paths', path, method.toLowerCase(), 'responses', documented, 'content', 'application/json', 'schema')}`)!;
      expect(validate(response.json()), `${method} ${url} ${status}: ${ajv.errorsText(validate.errors)}\n${response.body}`).toBe(true);
      checked++;
      return response.json();
    };

    const { key } = await context.service.newAccount(1000);
    const auth = { authorization: `Bearer ${key}` };
    await call('GET', '/', '/');
    await call('GET', '/api/v1/models', '/api/v1/models');
    await call('GET', '/api/v1/models/{id}', '/api/v1/models/sora-2-pro');
    await call('GET', '/api/v1/models/{id}', '/api/v1/models/sora-3');
    const image = await readFile(await makeMedia(join(await mkdtemp(join(tmpdir(), 'rivya-openapi-')), 'ref.png'), 'image'));
    const upload = multipart('ref.png', image);
    const file = await call('POST', '/api/v1/files', '/api/v1/files', { headers: { ...auth, ...upload.headers }, payload: upload.payload });
    await call('GET', '/api/v1/files/{id}', `/api/v1/files/${file.id}`, { headers: auth });
    await call('GET', '/api/v1/files', '/api/v1/files', { headers: auth });
    const task = await call('POST', '/api/v1/tasks', '/api/v1/tasks', {
      headers: auth, payload: { model: 'sora-2', prompt: 'A fox', params: { referenceMediaItems: [{ file_id: file.id }] }, client_request_id: 'c-1' },
    });
    const done = await waitFor(async () => {
      const polled = await call('GET', '/api/v1/tasks/{id}', `/api/v1/tasks/${task.id}?wait=5`, { headers: auth });
      return polled.status === 'succeeded' ? polled : null;
    });
    expect((await context.app.inject({ url: new URL(done.result.media[0].url).pathname + new URL(done.result.media[0].url).search })).statusCode).toBe(200);
    await call('POST', '/api/v1/tasks/{id}/cancel', `/api/v1/tasks/${task.id}/cancel`, { headers: auth });
    const queued = await call('POST', '/api/v1/tasks', '/api/v1/tasks', { headers: auth, payload: { model: 'sora-2-pro', prompt: 'A boat', params: { size: 'high' }, webhook_url: 'https://example.com/hook', webhook_events: ['all'] } });
    await call('POST', '/api/v1/tasks/{id}/cancel', `/api/v1/tasks/${queued.id}/cancel`, { headers: auth });
    // The stream of an ended task ends at once: its frames' data are Events as the document says.
    const stream = await context.app.inject({ url: `/api/v1/tasks/${queued.id}/events`, headers: auth });
    expect(stream.statusCode).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    const paths = publicDoc['paths'] as Record<string, Record<string, { responses: Record<string, { content: Record<string, unknown> }> }>>;
    expect(Object.keys(paths['/api/v1/tasks/{id}/events']?.['get']?.responses['200']?.content ?? {})).toEqual(['text/event-stream']);
    expect(Object.keys(paths['/api/v1/events']?.['get']?.responses['200']?.content ?? {})).toEqual(['application/json', 'text/event-stream']);
    const frames = stream.body.split('\n\n').flatMap((frame) => frame.split('\n').filter((line) => line.startsWith('data: ')).map((line) => JSON.parse(line.slice(6)) as unknown));
    expect(frames).toHaveLength(1);
    const validateEvent = ajv.getSchema('public#/components/schemas/Event')!;
    for (const frame of frames) expect(validateEvent(frame), `${ajv.errorsText(validateEvent.errors)}\n${stream.body}`).toBe(true);
    await call('POST', '/api/v1/tasks', '/api/v1/tasks', { headers: auth, payload: { model: 'sora-2', prompt: 'x', n_frames: '15' } });
    await call('GET', '/api/v1/tasks', '/api/v1/tasks?limit=1', { headers: auth });
    const log = await call('GET', '/api/v1/events', '/api/v1/events?limit=3', { headers: auth });
    expect(log.has_more).toBe(true);
    await call('GET', '/api/v1/events', `/api/v1/events?after=${log.next_cursor}&types=task.succeeded,task.canceled`, { headers: auth });
    await call('GET', '/api/v1/events', '/api/v1/events?types=task.done', { headers: auth });
    const position = (await context.app.inject({ url: '/api/v1/account', headers: auth })).headers['rivya-position'] as string;
    await call('GET', '/api/v1/account', '/api/v1/account', { headers: { ...auth, 'rivya-position': position } });
    await call('GET', '/api/v1/account', '/api/v1/account', { headers: { ...auth, 'rivya-position': '-1' } });
    await call('GET', '/api/v1/account/ledger', '/api/v1/account/ledger', { headers: auth });
    await call('GET', '/api/v1/account', '/api/v1/account');
    await call('DELETE', '/api/v1/files/{id}', `/api/v1/files/${file.id}`, { headers: auth });

    const endpoint = await call('POST', '/api/v1/webhook_endpoints', '/api/v1/webhook_endpoints', { headers: auth, payload: { url: 'http://127.0.0.1:9/hook', description: 'ci' } });
    await call('POST', '/api/v1/webhook_endpoints', '/api/v1/webhook_endpoints', { headers: auth, payload: { url: 'ftp://127.0.0.1/' } });
    await call('GET', '/api/v1/webhook_endpoints', '/api/v1/webhook_endpoints?limit=1', { headers: auth });
    await call('GET', '/api/v1/webhook_endpoints/{id}', `/api/v1/webhook_endpoints/${endpoint.id}`, { headers: auth });
    await call('PATCH', '/api/v1/webhook_endpoints/{id}', `/api/v1/webhook_endpoints/${endpoint.id}`, { headers: auth, payload: { events: ['*'], description: null } });
    await call('POST', '/api/v1/webhook_endpoints/{id}/rotate_secret', `/api/v1/webhook_endpoints/${endpoint.id}/rotate_secret`, { headers: auth });
    const delivery = await call('POST', '/api/v1/webhook_endpoints/{id}/test', `/api/v1/webhook_endpoints/${endpoint.id}/test`, { headers: auth });
    await waitFor(async () =>
      (await context.app.inject({ url: `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`, headers: auth })).json().data[0].attempts.length > 0);
    await call('GET', '/api/v1/webhook_endpoints/{id}/deliveries', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries`, { headers: auth });
    await call('POST', '/api/v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry', `/api/v1/webhook_endpoints/${endpoint.id}/deliveries/${delivery.id}/retry`, { headers: auth });
    await call('GET', '/api/v1/webhook_secret', '/api/v1/webhook_secret', { headers: auth });
    await call('POST', '/api/v1/webhook_secret/rotate', '/api/v1/webhook_secret/rotate', { headers: auth });
    await call('DELETE', '/api/v1/webhook_endpoints/{id}', `/api/v1/webhook_endpoints/${endpoint.id}`, { headers: auth });
    await call('GET', '/api/v1/webhook_endpoints/{id}', `/api/v1/webhook_endpoints/${endpoint.id}`, { headers: auth });

    const account = await call('POST', '/admin/v1/accounts', '/admin/v1/accounts', { headers: ADMIN, payload: { name: 'Acme', credits: 10, limits: { active_tasks: 5 } } });
    await call('GET', '/admin/v1/accounts/{id}', `/admin/v1/accounts/${account.id}`, { headers: ADMIN });
    await call('PATCH', '/admin/v1/accounts/{id}', `/admin/v1/accounts/${account.id}`, { headers: ADMIN, payload: { limits: { creates_per_minute: 5 } } });
    const created = await call('POST', '/admin/v1/accounts/{id}/keys', `/admin/v1/accounts/${account.id}/keys`, { headers: ADMIN, payload: { name: 'ci' } });
    await call('DELETE', '/admin/v1/keys/{id}', `/admin/v1/keys/${created.id}`, { headers: ADMIN });
    await call('POST', '/admin/v1/accounts/{id}/credits', `/admin/v1/accounts/${account.id}/credits`, { headers: ADMIN, payload: { amount: -4, reason: 'refund' } });
    await call('POST', '/admin/v1/accounts/{id}/credits', `/admin/v1/accounts/${account.id}/credits`, { headers: ADMIN, payload: { amount: -400, reason: 'too much' } });
    await call('GET', '/admin/v1/accounts/{id}', '/admin/v1/accounts/acct_nope', { headers: ADMIN });
    expect(checked).toBe(43);
  });
});
