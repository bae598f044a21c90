import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { useScriptedServers } from '../helpers/scripted-server.js';
import { NotFoundError, Rivya, type Task } from '../../packages/sdk/src/index.js';

/**
 * Read-your-writes across API processes: a client sends back, as `Rivya-Position`, the largest
 * position it has received, from an answer's header or an event's id. Checked against a scripted
 * server on loopback that records each request and answers what the test says.
 */

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

const serve = useScriptedServers();

/** A server whose answers the test writes; `received` lists every request, in order. */
async function scripted(answer: (response: ServerResponse, request: Received, index: number) => void) {
  const received: Received[] = [];
  const server = await serve((request, response, index) => {
    const seen = { method: request.method ?? '', url: request.url ?? '', headers: request.headers };
    received.push(seen);
    request.resume();
    request.on('end', () => answer(response, seen, index));
  });
  return {
    client: new Rivya({ apiKey: 'rv_test', baseUrl: server.base, maxRetries: 0 }),
    received,
    /** The `Rivya-Position` each request carried (undefined: none). */
    sent: () => received.map(({ headers }) => headers['rivya-position']),
    close: server.close,
  };
}

const at = (seq: number) => `evt_${String(seq).padStart(12, '0')}abcdefghij`;

function task(status: Task['status']): Task {
  return {
    id: 'task_1', status, model: 'sora-2', prompt: 'p', params: {}, client_request_id: null, reserved_credits: 6, final_credits: 0, progress: 0,
    created_at: '', updated_at: '', started_at: null, completed_at: null, result: null, error: null,
  };
}

function json(response: ServerResponse, status: number, body: unknown, position?: string): void {
  response.writeHead(status, { 'content-type': 'application/json', ...(position === undefined ? {} : { 'rivya-position': position }) });
  response.end(JSON.stringify(body));
}

function frame(seq: number, status: Task['status']): string {
  const type = `task.${status}`;
  return `id: ${at(seq)}\nevent: ${type}\ndata: ${JSON.stringify({ id: at(seq), type, created_at: '', data: { task: task(status) } })}\n\n`;
}

function openStream(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  response.flushHeaders();
}

describe('SDK Rivya-Position', () => {
  it('sends none until it has one, then the largest received: a smaller or malformed one later does not lower it', async () => {
    // What each answer carries, in order: an error answer's position counts too.
    const positions = ['5', '9', '3', undefined, '12x', '99999999999999999', '12', undefined];
    const server = await scripted((response, { url }, index) => {
      if (url.startsWith('/api/v1/tasks/task_gone')) json(response, 404, { error: { code: 'not_found', message: 'No such task.' } }, positions[index]);
      else json(response, 200, url.startsWith('/api/v1/account') ? { id: 'acc_1' } : task('running'), positions[index]);
    });
    const { client } = server;
    await client.account.get();
    await client.tasks.get('task_1');
    await client.tasks.get('task_1');
    await client.tasks.create({ model: 'sora-2', prompt: 'p' });
    await client.account.get();
    await client.account.get();
    await expect(client.tasks.get('task_gone')).rejects.toBeInstanceOf(NotFoundError);
    await client.tasks.list();
    expect(server.sent()).toEqual([undefined, '5', '9', '9', '9', '9', '9', '12']);
  });

  it('takes positions from the ids of streamed events, and from an id a frame without data marks', async () => {
    const server = await scripted((response, { url }, index) => {
      if (url.startsWith('/api/v1/tasks/task_1/events')) {
        openStream(response);
        if (index === 0) {
          // An event, then a position passed without an event (id only), then the connection is cut.
          response.write(`retry: 10\n${frame(20, 'queued')}id: ${at(25)}\n\n`);
          setTimeout(() => response.socket?.destroy(), 30);
        } else {
          response.end(frame(26, 'succeeded'));
        }
        return;
      }
      json(response, 200, { id: 'acc_1' });
    });
    const events: string[] = [];
    for await (const event of server.client.tasks.stream('task_1')) events.push(event.id);
    await server.client.account.get();
    expect(events).toEqual([at(20), at(26)]);
    // The resume carries the mark as Last-Event-ID and as position; the next request the last event's.
    expect(server.received.map(({ headers }) => [headers['rivya-position'], headers['last-event-id']])).toEqual([
      [undefined, undefined], ['25', at(25)], ['26', undefined],
    ]);
  });

  it('tasks.run carries the create\'s position into its stream, and the stream\'s last event into later requests', async () => {
    const server = await scripted((response, { method, url }) => {
      if (method === 'POST') json(response, 201, task('queued'), '7');
      else if (url.startsWith('/api/v1/tasks/task_1/events')) {
        openStream(response);
        response.end(`${frame(8, 'running')}${frame(11, 'succeeded')}`);
      } else json(response, 200, task('succeeded'), '4');
    });
    const { client } = server;
    expect((await client.tasks.run({ model: 'sora-2', prompt: 'p' })).status).toBe('succeeded');
    await client.tasks.get('task_1');
    await client.tasks.wait('task_1');
    expect(server.received.map(({ method, url }) => `${method} ${url}`)).toEqual([
      'POST /api/v1/tasks', 'GET /api/v1/tasks/task_1/events', 'GET /api/v1/tasks/task_1', 'GET /api/v1/tasks/task_1?wait=20',
    ]);
    expect(server.sent()).toEqual([undefined, '7', '11', '11']);
  });

  it('each client keeps its own position', async () => {
    const server = await scripted((response) => json(response, 200, { id: 'acc_1' }, '30'));
    const other = new Rivya({ apiKey: 'rv_other', baseUrl: server.client.baseUrl });
    await server.client.account.get();
    await other.account.get();
    await server.client.account.get();
    expect(server.sent()).toEqual([undefined, undefined, '30']);
  });
});
