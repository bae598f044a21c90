import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from './serve-process.js';

/**
 * A loopback TCP proxy to a dependency (PostgreSQL, Redis, S3), that a test can take down — every
 * connection cut, new ones refused — and bring back on the same port, or whose connections it can
 * silence without closing them (a peer gone without a word: a dropped route, a NAT's idle timeout).
 */
export async function startTcpProxy(targetPort: number) {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let server: Server | null = null;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        sockets.add(client).add(upstream);
        const pair: [Socket, Socket] = [client, upstream];
        pairs.add(pair);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
          pairs.delete(pair);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  await listen();
  return {
    port,
    /** Cuts every connection and refuses new ones. */
    async down() {
      const closing = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closing;
      server = null;
    },
    /** Stops carrying the connections open now, either way, and leaves them open: neither end hears of it. New ones work. */
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream).pause();
        upstream.unpipe(client).pause();
      }
      pairs.clear();
    },
    /** Accepts connections again, on the same port. */
    async up() {
      await listen();
    },
    async close() {
      await this.down();
    },
  };
}
