import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEventStreams, type EventStream, type EventStreamsConfig } from '../../src/http/event-streams.js';
import { openEventStream } from '../helpers/event-stream-reader.js';
import { waitFor } from '../helpers/wait-for.js';

/** A server whose `/stream` opens an event stream of `createEventStreams(config)` and hands it to the test. */
async function serve(config: Partial<EventStreamsConfig> = {}) {
  const shutdown = new AbortController();
  const streams = createEventStreams({
    heartbeatMs: 60_000, maxPerKey: 100, maxBufferedBytes: 256 * 1024, maxDurationMs: 3_600_000, retryMs: 1000, shutdown: shutdown.signal, ...config,
  });
  const opened: EventStream[] = [];
  const app: FastifyInstance = Fastify();
  app.get('/stream', async (_request, reply) => {
    const stream = streams.open(reply, 'key');
    opened.push(stream);
    return reply.send(stream.body);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { app, port, url: `http://127.0.0.1:${port}/stream`, streams, opened, shutdown };
}

const servers: FastifyInstance[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const app of servers.splice(0)) await app.close();
});

describe('event streams of a process', () => {
  it('drops a client that does not read once it leaves more than the bound unread', async () => {
    const server = await serve({ maxBufferedBytes: 64 * 1024 });
    servers.push(server.app);
    // A client that sends its request and never reads the answer.
    const socket = connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause();
    const stream = await waitFor(() => server.opened[0], 5000, 'the stream to open');
    let closed = false;
    stream.onClose(() => (closed = true));
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let written = 0;
    // The kernel's socket buffers take a few MB first; past them the stream's own bound holds.
    while (stream.write(chunk)) {
      written += chunk.length;
      expect(written).toBeLessThan(64 * 1024 * 1024);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(stream.open).toBe(false);
    await waitFor(() => closed, 5000, 'the stream to close');
    expect(server.streams.size()).toBe(0);
    socket.destroy();
  });

  it('keeps a client that reads, however much it is sent in all', async () => {
    const server = await serve();
    servers.push(server.app);
    const client = await openEventStream(server.url);
    const stream = await waitFor(() => server.opened[0], 5000, 'the stream to open');
    const frame = Buffer.from(`data: ${'b'.repeat(4 * 1024)}\n\n`);
    // 2 MB in all, eight times the bound, at a pace a reading client keeps up with.
    for (let i = 0; i < 500; i++) {
      expect(stream.write(frame)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await waitFor(() => client.frames.length === 501, 10_000, 'every frame');
    expect(stream.open).toBe(true);
    client.close();
  });

  it('beats every stream from one timer, and ends a stream past its age at a beat', async () => {
    const intervals = vi.spyOn(globalThis, 'setInterval');
    const server = await serve({ heartbeatMs: 50, maxDurationMs: 400 });
    servers.push(server.app);
    const clients = [await openEventStream(server.url), await openEventStream(server.url), await openEventStream(server.url)];
    for (const client of clients) expect(await client.next((frame) => frame.comment !== undefined, 2000)).toEqual({ comment: 'heartbeat' });
    expect(intervals).toHaveBeenCalledTimes(1);
    await Promise.all(clients.map((client) => client.ended));
    expect(clients.every((client) => client.done)).toBe(true);
    expect(server.streams.size()).toBe(0);
  });

  it('ends every stream at shutdown, and refuses a key its streams past the bound', async () => {
    const server = await serve({ maxPerKey: 2 });
    servers.push(server.app);
    const clients = [await openEventStream(server.url), await openEventStream(server.url)];
    const refused = await fetch(server.url);
    expect(refused.status).toBe(429);
    server.shutdown.abort();
    await Promise.all(clients.map((client) => client.ended));
    expect(server.streams.size()).toBe(0);
  });
});
