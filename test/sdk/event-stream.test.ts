import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useScriptedServers } from '../helpers/scripted-server.js';
import {
  AuthenticationError, ConnectionError, NotFoundError, Rivya, type RivyaEvent, type Task, type TaskEvent,
} from '../../packages/sdk/src/index.js';

/**
 * The SDK's streams against a scripted SSE server on loopback: each connection is handed to the
 * test's handler, which writes frames, cuts the connection, or answers an error, so resuming can
 * be checked exactly (which Last-Event-ID came back, what was yielded). The streams against the
 * real service are in sdk-events.test.ts.
 */

interface Connection {
  request: IncomingMessage;
  response: ServerResponse;
  socket: Socket;
}

const serve = useScriptedServers();

/** A scripted SSE server: each connection goes to `handler`; `connections` lists them in order. */
async function scripted(handler: (connection: Connection, index: number) => void | Promise<void>) {
  const connections: Connection[] = [];
  const server = await serve((request, response, index) => {
    const connection = { request, response, socket: request.socket };
    connections.push(connection);
    return handler(connection, index);
  });
  return { ...server, connections };
}

function open(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  response.flushHeaders();
}

const at = (seq: number) => `evt_${String(seq).padStart(12, '0')}abcdefghij`;

function task(status: Task['status'], progress = 0): Task {
  return {
    id: 'task_1', status, model: 'sora-2', prompt: 'p', params: {}, client_request_id: null, reserved_credits: 6, final_credits: 0, progress,
    created_at: '', updated_at: '', started_at: null, completed_at: null, result: null, error: null,
  };
}

function frame(seq: number, type: TaskEvent['type'], status: Task['status'], progress = 0): string {
  const event = { id: at(seq), type, created_at: '2026-05-11T00:00:00.000Z', data: { task: task(status, progress) } };
  return `id: ${event.id}\nevent: ${type}\ndata: ${JSON.stringify(event)}\n\n`;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('SDK streams (scripted server)', () => {
  it('resumes a cut stream with Last-Event-ID, honours retry:, and ends after the terminal event', async () => {
    const server = await scripted(({ response, socket }, index) => {
      open(response);
      if (index === 0) {
        response.write(`retry: 1000\n${frame(1, 'task.queued', 'queued')}${frame(2, 'task.running', 'running')}`);
        // Half of the next frame, then the connection is cut.
        response.write(frame(3, 'task.progress', 'running', 40).slice(0, 30));
        setTimeout(() => socket.destroy(), 50);
        return;
      }
      response.write(`: heartbeat\n\n${frame(3, 'task.progress', 'running', 40)}${frame(4, 'task.succeeded', 'succeeded', 100)}`);
      // The server keeps the connection open: the client ends by itself after the terminal event.
    });
    const client = new Rivya({ apiKey: 'rv_test', baseUrl: server.base });
    const started = Date.now();
    let connects = 0;
    const events = await collect(client.tasks.stream('task_1', { onConnect: () => connects++ }));
    expect(connects).toBe(2);
    expect(events.map((event) => [event.id, event.type, event.data.task.progress])).toEqual([
      [at(1), 'task.queued', 0], [at(2), 'task.running', 0], [at(3), 'task.progress', 40], [at(4), 'task.succeeded', 100],
    ]);
    expect(server.connections.map(({ request }) => [request.url, request.headers['accept'], request.headers['last-event-id']])).toEqual([
      ['/api/v1/tasks/task_1/events', 'text/event-stream', undefined],
      ['/api/v1/tasks/task_1/events', 'text/event-stream', at(2)],
    ]);
    // The server asked for 1 s before a reconnect (more than the first backoff, at most 625 ms).
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('does not yield again what a resumed connection repeats (the current state sent anew)', async () => {
    const server = await scripted(({ response, socket }, index) => {
      open(response);
      if (index === 0) {
        response.write(`retry: 10\n${frame(5, 'task.running', 'running')}${frame(6, 'task.progress', 'running', 20)}`);
        setTimeout(() => socket.destroy(), 30);
      } else {
        response.end(`${frame(6, 'task.progress', 'running', 20)}${frame(7, 'task.failed', 'failed')}`);
      }
    });
    const events = await collect(new Rivya({ apiKey: 'rv_test', baseUrl: server.base }).tasks.stream('task_1'));
    expect(events.map((event) => event.id)).toEqual([at(5), at(6), at(7)]);
  });

  it('reconnects a connection that stays silent longer than timeout, and one the server ended early', async () => {
    const server = await scripted(({ response }, index) => {
      open(response);
      if (index === 0) response.write(`retry: 10\n${frame(1, 'task.running', 'running')}`); // then silence
      else if (index === 1) response.end(frame(2, 'task.progress', 'running', 50)); // ended before the terminal event
      else response.end(frame(3, 'task.canceled', 'canceled'));
    });
    const events = await collect(new Rivya({ apiKey: 'rv_test', baseUrl: server.base }).tasks.stream('task_1', { timeout: 300 }));
    expect(events.map((event) => event.type)).toEqual(['task.running', 'task.progress', 'task.canceled']);
    expect(server.connections.map((connection) => connection.request.headers['last-event-id'])).toEqual([undefined, at(1), at(2)]);
  });

  it('waits out 503s (Retry-After) and refused connections, then gives up after maxRetries; 401 and 404 end it at once', async () => {
    const server = await scripted(({ response }, index) => {
      if (index === 0) {
        response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
        response.end(JSON.stringify({ error: { code: 'service_unavailable', message: 'restarting', details: null, request_id: 'r' } }));
        return;
      }
      open(response);
      response.end(frame(1, 'task.succeeded', 'succeeded'));
    });
    expect((await collect(new Rivya({ apiKey: 'rv_test', baseUrl: server.base }).tasks.stream('task_1'))).map((event) => event.type)).toEqual(['task.succeeded']);
    expect(server.connections).toHaveLength(2);

    const refused = await scripted(({ socket }) => void socket.destroy());
    await refused.close();
    const down = new Rivya({ apiKey: 'rv_test', baseUrl: refused.base });
    await expect(collect(down.tasks.stream('task_1', { maxRetries: 1 }))).rejects.toBeInstanceOf(ConnectionError);

    for (const [status, code, Class] of [[401, 'unauthorized', AuthenticationError], [404, 'not_found', NotFoundError]] as const) {
      const answering = await scripted(({ response }) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { code, message: code, details: null, request_id: 'r' } }));
      });
      await expect(collect(new Rivya({ apiKey: 'rv_test', baseUrl: answering.base }).tasks.stream('task_1'))).rejects.toBeInstanceOf(Class);
      expect(answering.connections).toHaveLength(1);
    }
  });

  it('closes the connection when the loop breaks or the signal aborts', async () => {
    const closed: number[] = [];
    const server = await scripted(({ response, socket }, index) => {
      socket.on('close', () => closed.push(index));
      open(response);
      response.write(frame(1, 'task.running', 'running'));
    });
    const client = new Rivya({ apiKey: 'rv_test', baseUrl: server.base });
    for await (const event of client.tasks.stream('task_1')) {
      expect(event.type).toBe('task.running');
      break;
    }
    await expect.poll(() => closed).toEqual([0]);

    const stop = new AbortController();
    const reason = new Error('enough');
    const seen: string[] = [];
    const iteration = (async () => {
      for await (const event of client.tasks.stream('task_1', { signal: stop.signal })) {
        seen.push(event.type);
        stop.abort(reason);
      }
    })();
    await expect(iteration).rejects.toBe(reason);
    expect(seen).toEqual(['task.running']);
    await expect.poll(() => closed).toEqual([0, 1]);
  });

  it('streams the account\'s events from `after`, with the types asked, typed by them', async () => {
    const server = await scripted(({ response }) => {
      open(response);
      response.write(frame(8, 'task.succeeded', 'succeeded'));
    });
    const client = new Rivya({ apiKey: 'rv_test', baseUrl: server.base });
    const stream = client.events.stream({ types: ['task.succeeded', 'task.failed'], after: at(7) });
    const first = await stream.next();
    await stream.return();
    const event = first.value as Extract<RivyaEvent, { type: 'task.succeeded' | 'task.failed' }>;
    expect(event.data.task.status).toBe('succeeded');
    const url = new URL(server.connections[0]!.request.url!, server.base);
    expect(url.pathname).toBe('/api/v1/events');
    expect(url.searchParams.get('types')).toBe('task.succeeded,task.failed');
    expect(server.connections[0]!.request.headers['last-event-id']).toBe(at(7));
  });

  it('resumes from a position the server marked without an event, and ends quietly on 204', async () => {
    const server = await scripted(({ response, socket }, index) => {
      if (index === 2) {
        response.writeHead(204);
        response.end();
        return;
      }
      open(response);
      // A live stream's first frame: where it starts, with no event yet.
      if (index === 0) response.write(`retry: 10\nid: ${at(41)}\n\n`);
      else response.write(frame(42, 'task.running', 'running'));
      setTimeout(() => socket.destroy(), 30);
    });
    const client = new Rivya({ apiKey: 'rv_test', baseUrl: server.base });
    expect((await collect(client.events.stream())).map((event) => event.id)).toEqual([at(42)]);
    expect(server.connections.map((connection) => connection.request.headers['last-event-id'])).toEqual([undefined, at(41), at(42)]);
  });

  it('wait({ stream: true }) reports each state from the stream, and polls where there is no stream', async () => {
    const server = await scripted(({ request, response }) => {
      if (request.url === '/api/v1/tasks/task_1/events') {
        open(response);
        response.end(`${frame(1, 'task.running', 'running', 10)}${frame(2, 'task.progress', 'running', 60)}${frame(3, 'task.succeeded', 'succeeded', 100)}`);
        return;
      }
      // An older server: no stream route; the long-poll answers the ended task.
      if (request.url?.startsWith('/api/v1/tasks/task_2/events')) {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { code: 'not_found', message: 'Route not found', details: null, request_id: 'r' } }));
        return;
      }
      // A proxy that answers the stream request with JSON.
      if (request.url?.startsWith('/api/v1/tasks/task_3/events')) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ...task('succeeded', 100), id: /task_\d/.exec(request.url ?? '')?.[0] }));
    });
    const client = new Rivya({ apiKey: 'rv_test', baseUrl: server.base });
    const progress: number[] = [];
    const ended = await client.tasks.wait('task_1', { stream: true, onProgress: (update) => progress.push(update.progress) });
    expect(ended.status).toBe('succeeded');
    expect(progress).toEqual([10, 60, 100]);
    for (const id of ['task_2', 'task_3']) {
      expect((await client.tasks.wait(id, { stream: true })).id).toBe(id);
      expect(server.connections.at(-1)!.request.url).toBe(`/api/v1/tasks/${id}?wait=20`);
    }
  });

  it('wait({ stream: true }) long-polls when no event comes through within 5 s (a proxy that buffers the stream)', async () => {
    const server = await scripted(({ request, response }) => {
      if (request.url === '/api/v1/tasks/task_4/events') {
        // Headers, then nothing: the task's state, sent at once, is held back somewhere on the way.
        open(response);
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ...task('succeeded', 100), id: 'task_4' }));
    });
    const started = Date.now();
    const ended = await new Rivya({ apiKey: 'rv_test', baseUrl: server.base }).tasks.wait('task_4', { stream: true });
    expect(ended.status).toBe('succeeded');
    expect(Date.now() - started).toBeGreaterThanOrEqual(5000);
    expect(server.connections.map((connection) => connection.request.url)).toEqual(['/api/v1/tasks/task_4/events', '/api/v1/tasks/task_4?wait=20']);
  });
});
