import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvent } from '../../src/events/event-log.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/test-service.js';

// Two transactions at once need a server: the embedded database runs one at a time.
const postgres = BACKENDS.filter((backend) => backend.name === 'postgres');

describe.skipIf(postgres.length === 0)('webhook deliveries racing an endpoint\'s deletion on postgres', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService(postgres[0]!, { worker: false, env: { RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true' } });
  });
  afterAll(async () => {
    await service?.close();
  });

  /** Runs `during` while another connection holds an uncommitted DELETE of the endpoint, then commits it. */
  async function whileDeleting<T>(endpointId: string, during: () => Promise<T>): Promise<T> {
    const other = new pg.Client({ connectionString: service.runtime.config.databaseUrl as string });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('DELETE FROM webhook_endpoints WHERE id = $1', [endpointId]);
      const running = during();
      // Rejections are awaited below, after the commit.
      running.catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 300));
      await other.query('COMMIT');
      return await running;
    } finally {
      await other.end();
    }
  }

  it('an event dispatched while its endpoint is being deleted commits, without a delivery to it', async () => {
    const { auth, accountId } = await service.newAccount(100);
    const app = service.runtime.app!;
    const endpoint = (await app.inject({ method: 'POST', url: '/api/v1/webhook_endpoints', headers: auth, payload: { url: 'http://127.0.0.1:9/', events: ['*'] } })).json();
    const task = (await app.inject({ method: 'POST', url: '/api/v1/tasks', headers: auth, payload: { model: 'sora-2', prompt: 'race' } })).json();
    const stored = (await service.runtime.tasks.read(accountId, task.id)).value;
    const made = await whileDeleting(endpoint.id, () => service.runtime.db.transaction(async (tx) =>
      service.runtime.webhooks.dispatchEvent(tx, await appendEvent(tx, { accountId, type: 'task.running', task: stored }))));
    expect(made).toBe(0);
    const { rows } = await service.runtime.db.query('SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1', [endpoint.id]);
    expect(rows).toHaveLength(0);
  });

  it('a test sent while the endpoint is being deleted is not_found, not a 500', async () => {
    const { auth } = await service.newAccount(100);
    const app = service.runtime.app!;
    const endpoint = (await app.inject({ method: 'POST', url: '/api/v1/webhook_endpoints', headers: auth, payload: { url: 'http://127.0.0.1:9/' } })).json();
    const response = await whileDeleting(endpoint.id, () => app.inject({ method: 'POST', url: `/api/v1/webhook_endpoints/${endpoint.id}/test`, headers: auth }));
    expect(response.statusCode, response.body).toBe(404);
  });
});
