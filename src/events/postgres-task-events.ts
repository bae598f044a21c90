import pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import { createMemoryTaskEvents } from './memory-task-events.js';
import type { TaskEvents } from './port.js';

const CHANNEL = 'rivya_task_events';

export interface PostgresTaskEventsConfig {
  connectionString: string;
  logger: FastifyBaseLogger;
}

/**
 * Task events across processes through PostgreSQL LISTEN/NOTIFY: a worker's `publish` wakes
 * long-polls and running attempts in every process. Waiters in this process are woken at once;
 * the listening connection reconnects by itself (waiters re-read the task every 2 s meanwhile).
 */
export function createPostgresTaskEvents(config: PostgresTaskEventsConfig): TaskEvents {
  const local = createMemoryTaskEvents();
  const notifier = new pg.Pool({ connectionString: config.connectionString, max: 2, connectionTimeoutMillis: 2000, application_name: 'rivya-events' });
  notifier.on('error', () => {});
  let listener: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;

  const connect = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: config.connectionString, connectionTimeoutMillis: 2000, application_name: 'rivya-events' });
    const reconnect = () => {
      if (listener === client) listener = null;
      void client.end().catch(() => {});
      if (!closed && !retry) retry = setTimeout(() => ((retry = null), void connect()), 1000);
    };
    client.on('error', reconnect);
    client.on('end', reconnect);
    client.on('notification', (message) => {
      if (message.channel === CHANNEL && message.payload) local.publish(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (closed) {
        await client.end().catch(() => {});
        return;
      }
      listener = client;
    } catch (error) {
      config.logger.warn({ err: error }, 'task events: cannot listen; retrying');
      reconnect();
    }
  };
  void connect();

  return {
    publish(taskId) {
      local.publish(taskId);
      notifier.query('SELECT pg_notify($1, $2)', [CHANNEL, taskId]).catch(() => {});
    },
    next: (taskId, timeoutMs, signal) => local.next(taskId, timeoutMs, signal),
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await local.close();
      await listener?.end().catch(() => {});
      await notifier.end().catch(() => {});
    },
  };
}
