import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { freePort, runRivya as rivya } from '../helpers/serve-process.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

const BIN = fileURLToPath(new URL('../../bin/rivya.js', import.meta.url));

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A local webhook receiver, as a developer would run one: records requests, answers `status(index)`. */
async function startReceiver(status: (index: number) => number = () => 204) {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(status(received.length - 1)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Checks a delivery by hand, as the Standard Webhooks specification says (node:crypto, independent of the SDK). */
function signatureValid(secret: string, delivery: Received): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = `${String(delivery.headers['webhook-id'])}.${String(delivery.headers['webhook-timestamp'])}.${delivery.body}`;
  const expected = `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
  return String(delivery.headers['webhook-signature']).split(' ').includes(expected);
}

/** `rivya webhooks listen …` as a running process, its stdout read line by line. */
function startListen(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, 'webhooks', 'listen', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    lines: () => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('rivya webhooks', () => {
  let service: TestService;
  let env: Record<string, string>;

  beforeAll(async () => {
    service = await startTestService(BACKENDS[0]!, { listen: true, env: { RIVYA_PROVIDER: 'local', RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true' } });
    env = { RIVYA_BASE_URL: service.runtime.config.publicUrl, RIVYA_API_KEY: (await service.newAccount(1000)).key };
  });
  afterAll(async () => service?.close());

  it('listen forwards each event of a task created meanwhile to a local receiver, signed with the secret it printed; Ctrl-C exits 0', async () => {
    // The first delivery is refused by the receiver: listen reports it and goes on.
    const receiver = await startReceiver((index) => (index === 0 ? 500 : 204));
    const listen = startListen(['--forward-to', receiver.url, '--events', 'task.queued,task.running,task.succeeded', '--json'], env);
    try {
      await waitFor(() => listen.lines().some((line) => line['connected'] === true), 30_000, 'listen to connect');
      const secret = String(listen.lines()[0]!['secret']);
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{40,}={0,2}$/);
      const generated = await rivya(['generate', 'forwarded to a local receiver', '--no-download', '--json'], env);
      expect(generated.code, generated.stderr).toBe(0);
      const taskId = (JSON.parse(generated.stdout) as { id: string }).id;
      await waitFor(() => receiver.received.length >= 3, 30_000, 'three deliveries');
      const events = receiver.received.map((delivery) => JSON.parse(delivery.body) as { id: string; type: string; data: { task: { id: string } } });
      expect(events.map((event) => [event.type, event.data.task.id])).toEqual([
        ['task.queued', taskId], ['task.running', taskId], ['task.succeeded', taskId],
      ]);
      for (const [index, delivery] of receiver.received.entries()) {
        expect(delivery.headers['webhook-id']).toBe(events[index]!.id);
        expect(Math.abs(Number(delivery.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
        expect(delivery.headers['content-type']).toBe('application/json');
        expect(signatureValid(secret, delivery)).toBe(true);
        // The specification's own library agrees.
        expect(new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>)).toEqual(events[index]);
        // A receiver keyed with another secret refuses it.
        expect(signatureValid(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, delivery)).toBe(false);
      }
      // One line per forwarded event, with the receiver's answer: the 500 printed, not fatal.
      await waitFor(() => listen.lines().filter((line) => 'event_id' in line).length >= 3, 10_000, 'three forwarded lines');
      const forwarded = listen.lines().filter((line) => 'event_id' in line);
      expect(forwarded.map((line) => [line['type'], line['status']])).toEqual([['task.queued', 500], ['task.running', 204], ['task.succeeded', 204]]);
      listen.child.kill('SIGINT');
      expect(await listen.exited).toBe(0);
    } finally {
      listen.child.kill('SIGKILL');
      await receiver.close();
    }
  }, 90_000);

  it('listen prints a line per event for people, and a receiver that is down is reported, not fatal', async () => {
    // A port nothing listens on: the receiver is not running.
    const listen = startListen(['--forward-to', `http://127.0.0.1:${await freePort()}/hook`, '--events', 'task.queued'], env);
    try {
      await waitFor(() => listen.stdout().includes('Ready'), 30_000, 'listen to connect');
      expect(listen.stdout()).toMatch(/Webhook signing secret: whsec_/);
      const created = await rivya(['generate', 'nobody listens', '--no-download', '--json'], env);
      const taskId = (JSON.parse(created.stdout) as { id: string }).id;
      await waitFor(() => listen.stdout().includes(taskId), 30_000, 'the forwarded line');
      expect(listen.stdout()).toMatch(new RegExp(`task\\.queued\\s+evt_\\w+ ${taskId} queued\\s+-> failed: ECONNREFUSED`));
      listen.child.kill('SIGINT');
      expect(await listen.exited).toBe(0);
    } finally {
      listen.child.kill('SIGKILL');
    }
  }, 60_000);

  it('creates, lists, tests and deletes endpoints, with the secret shown once', async () => {
    const receiver = await startReceiver();
    try {
      const created = await rivya(['webhooks', 'create', receiver.url, '--events', 'task.succeeded,task.failed', '--description', 'cli', '--json'], env);
      expect(created.code, created.stderr).toBe(0);
      const endpoint = JSON.parse(created.stdout) as { id: string; secret: string; events: string[] };
      expect(endpoint.secret).toMatch(/^whsec_/);
      expect(endpoint.events).toEqual(['task.succeeded', 'task.failed']);
      const listed = await rivya(['webhooks', 'list'], env);
      expect(listed.stdout).toMatch(new RegExp(`${endpoint.id}\\s+enabled\\s+task.succeeded,task.failed\\s+${receiver.url}`));
      expect(listed.stdout).not.toContain('whsec_');

      const tested = await rivya(['webhooks', 'test', endpoint.id], env);
      expect(tested.code, tested.stderr).toBe(0);
      await waitFor(() => receiver.received.length === 1, 30_000, 'the test delivery');
      expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({ type: 'webhook.test' });
      expect(signatureValid(endpoint.secret, receiver.received[0]!)).toBe(true);
      await waitFor(async () => (await rivya(['webhooks', 'deliveries', endpoint.id], env)).stdout.includes('succeeded'), 30_000, 'the delivery recorded');

      const rotated = JSON.parse((await rivya(['webhooks', 'rotate-secret', endpoint.id, '--json'], env)).stdout) as { secret: string };
      expect(rotated.secret).toMatch(/^whsec_/);
      expect(rotated.secret).not.toBe(endpoint.secret);

      expect((await rivya(['webhooks', 'delete', endpoint.id], env)).code).toBe(0);
      const gone = await rivya(['webhooks', 'test', endpoint.id, '--json'], env);
      expect(gone.code).toBe(5);
      expect(JSON.parse(gone.stdout)).toMatchObject({ error: { code: 'not_found' } });
    } finally {
      await receiver.close();
    }
  }, 90_000);

  it('refuses bad input before anything is sent (exit 2), with --help and examples', async () => {
    const badUrl = await rivya(['webhooks', 'listen', '--forward-to', 'localhost:3000'], env);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/--forward-to must be an http or https URL/);
    const badEvents = await rivya(['webhooks', 'listen', '--events', 'task.done', '--json'], env);
    expect(badEvents.code).toBe(2);
    expect(JSON.parse(badEvents.stdout)).toMatchObject({ error: { code: 'usage', message: expect.stringMatching(/unknown: task\.done/) } });
    expect((await rivya(['webhooks', 'create'], env)).stderr).toMatch(/rivya webhooks create <url>/);
    expect((await rivya(['webhooks', 'frobnicate'], env)).code).toBe(2);
    expect((await rivya(['webhooks', 'listen', '--secret', 'nope'], env)).code).toBe(2);
    const helped = await rivya(['webhooks', '--help'], {});
    expect(helped.code).toBe(0);
    expect(helped.stdout).toMatch(/Usage:[\s\S]*Examples:[\s\S]*rivya webhooks listen --forward-to/);
    expect((await rivya(['help', 'webhooks'], {})).stdout).toBe(helped.stdout);
    expect((await rivya(['--help'], {})).stdout).toMatch(/rivya webhooks/);
  });
});
