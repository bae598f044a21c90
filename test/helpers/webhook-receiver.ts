import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got. */
export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** How the receiver answers a request: a status with headers and body, or never (the connection hangs). */
export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

/**
 * A webhook receiver on loopback, as a client would run one: it records every request and answers
 * with `answer(request)` (default 204). Hung requests are ended by `close()`.
 */
export async function startWebhookReceiver(answer: (request: ReceivedWebhook, index: number) => Answer = () => ({ status: 204 })) {
  const received: ReceivedWebhook[] = [];
  const hung = new Set<ServerResponse>();
  let connections = 0;
  const state = { answer };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const webhook = { path: request.url ?? '/', headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(webhook);
      const reply = state.answer(webhook, received.length - 1);
      if (reply === 'hang') {
        hung.add(response);
        return;
      }
      response.writeHead(reply.status, reply.headers ?? {});
      response.end(reply.body ?? '');
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    received,
    /** Connections accepted so far. */
    connections: () => connections,
    /** Changes how later requests are answered. */
    answerWith(next: (request: ReceivedWebhook, index: number) => Answer) {
      state.answer = next;
    },
    async close() {
      for (const response of hung) response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;
