import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach } from 'vitest';

export interface ScriptedServer {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Cuts every connection and stops listening (also done after each test). */
  close(): Promise<void>;
}

/**
 * HTTP servers on loopback whose answers the test writes: each request goes to the handler with
 * its index. Call at the top of a file or `describe`; every server started is closed after each test.
 */
export function useScriptedServers() {
  const started: ScriptedServer[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((server) => server.close()));
  });
  return async function scripted(
    handler: (request: IncomingMessage, response: ServerResponse, index: number) => void | Promise<void>,
  ): Promise<ScriptedServer> {
    let requests = 0;
    const sockets = new Set<Socket>();
    const server = createServer((request, response) => void handler(request, response, requests++));
    server.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const handle: ScriptedServer = {
      base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    };
    started.push(handle);
    return handle;
  };
}
