import pg from 'pg';
import { DependencyUnavailableError } from '../errors.js';
import type { ListenHooks } from './port.js';

export interface PostgresListenerConfig {
  connectionString: string;
  /** How long to wait for the connection; default 5000 ms. */
  connectTimeoutMs?: number | undefined;
  /** The wait before each attempt to reconnect a lost connection; default 1000 ms. */
  retryMs?: number | undefined;
  /**
   * How often the connection is asked whether it is still there; one that has not answered by the
   * next time is taken as lost. Default 5000 ms.
   */
  checkMs?: number | undefined;
}

interface Subscriber extends ListenHooks {
  onPayload: (payload: string) => void;
}

/**
 * LISTEN for the PostgreSQL backend: one dedicated connection per database (a pooled one would
 * stop listening when handed back), shared by every channel and subscriber. A lost connection is
 * made again every `retryMs` until it comes back; then every channel is listened on again and
 * every subscriber's `onReconnect` is called, since what was sent meanwhile is gone (each was told
 * `onLost` when the connection went). A connection can also go silent without closing (a peer gone
 * without a word: a dropped route, a NAT's idle timeout), and notifications simply stop: so it is
 * asked every `checkMs` whether it is there, and one that does not answer in time is a loss too.
 */
export function createPostgresListener(config: PostgresListenerConfig) {
  const channels = new Map<string, Set<Subscriber>>();
  const retryMs = config.retryMs ?? 1000;
  const checkMs = config.checkMs ?? 5000;
  let client: pg.Client | null = null;
  /** The channels `client` listens on. */
  let listening = new Set<string>();
  let connecting: Promise<pg.Client> | null = null;
  let retry: NodeJS.Timeout | null = null;
  let closed = false;
  /** A connection was lost: the next one made tells the subscribers. */
  let lost = false;

  const listenOn = async (target: pg.Client, channel: string) => {
    await target.query(`LISTEN ${target.escapeIdentifier(channel)}`);
    listening.add(channel);
  };

  const scheduleRetry = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect().catch(scheduleRetry);
    }, retryMs);
    retry.unref();
  };

  /** Asks `target` every `checkMs` whether it is there; calls `silent` if a question is still unanswered at the next. Returns the function that stops. */
  const watch = (target: pg.Client, silent: () => void): (() => void) => {
    let asking = false;
    const timer = setInterval(() => {
      if (asking) return silent();
      asking = true;
      target.query('SELECT 1').then(() => (asking = false), silent);
    }, checkMs);
    timer.unref();
    return () => clearInterval(timer);
  };

  const connect = (): Promise<pg.Client> => {
    if (client) return Promise.resolve(client);
    connecting ??= (async () => {
      const next = new pg.Client({
        connectionString: config.connectionString,
        connectionTimeoutMillis: config.connectTimeoutMs ?? 5000,
        keepAlive: true,
        application_name: 'rivya-listen',
      });
      let unwatch = () => {};
      const onLost = () => {
        unwatch();
        if (client === next) {
          client = null;
          lost = true;
          for (const set of channels.values()) for (const subscriber of set) subscriber.onLost?.();
          scheduleRetry();
        }
        void next.end().catch(() => {});
      };
      next.on('error', onLost);
      next.on('end', onLost);
      next.on('notification', (message) => {
        for (const subscriber of channels.get(message.channel) ?? []) subscriber.onPayload(message.payload ?? '');
      });
      try {
        await next.connect();
        listening = new Set();
        for (const channel of channels.keys()) await listenOn(next, channel);
        if (closed) throw new Error('Client was closed');
      } catch (error) {
        void next.end().catch(() => {});
        throw new DependencyUnavailableError('database', { cause: error });
      }
      client = next;
      // Silent: cut it, which ends it as any loss does (onLost).
      unwatch = watch(next, () => next.connection.stream.destroy());
      if (lost) {
        lost = false;
        for (const set of channels.values()) for (const subscriber of set) subscriber.onReconnect?.();
      }
      return next;
    })().finally(() => {
      connecting = null;
    });
    return connecting;
  };

  return {
    /** See `Database.listen`. */
    async listen(channel: string, onPayload: (payload: string) => void, hooks: ListenHooks = {}): Promise<() => Promise<void>> {
      if (closed) throw new DependencyUnavailableError('database', { cause: new Error('Client was closed') });
      const subscriber: Subscriber = { ...hooks, onPayload };
      let set = channels.get(channel);
      if (!set) channels.set(channel, (set = new Set()));
      set.add(subscriber);
      const unlisten = async () => {
        const current = channels.get(channel);
        current?.delete(subscriber);
        if (current?.size !== 0) return;
        channels.delete(channel);
        if (client && listening.delete(channel)) await client.query(`UNLISTEN ${client.escapeIdentifier(channel)}`).catch(() => {});
      };
      try {
        const listener = await connect();
        if (!listening.has(channel)) await listenOn(listener, channel);
      } catch (error) {
        await unlisten();
        throw error instanceof DependencyUnavailableError ? error : new DependencyUnavailableError('database', { cause: error });
      }
      return unlisten;
    },

    async close(): Promise<void> {
      closed = true;
      if (retry) clearTimeout(retry);
      retry = null;
      const current = client ?? (await connecting?.catch(() => null)) ?? null;
      client = null;
      await current?.end().catch(() => {});
    },
  };
}
