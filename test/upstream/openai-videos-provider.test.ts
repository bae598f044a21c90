import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockOpenAiVideos, type MockOpenAiVideos } from '../helpers/mock-openai-videos.js';
import type { TestService } from '../helpers/test-service.js';
import {
  client, expectFailedAndReleased, expectSucceededAndCaptured, FAST, startUpstreamService,
} from './upstream-harness.js';

/**
 * The `openai-videos` provider against a mock of the `/v1/videos` contract, configured as a
 * gateway that accepts 10 s clips but not 15 s ones (the contract itself has 4, 8 and 12 s).
 */
describe('openai-videos provider', () => {
  let gateway: MockOpenAiVideos;
  let service: TestService;
  let api: ReturnType<typeof client>;
  let accountId: string;

  beforeAll(async () => {
    gateway = await startMockOpenAiVideos({ seconds: ['4', '8', '10', '12'] });
    ({ service } = await startUpstreamService(
      {
        ...FAST,
        accounts: {
          gateway: {
            kind: 'openai-videos', api_key_env: 'TEST_OPENAI_KEY', base_url: gateway.url, auth: 'api-key', seconds: ['10'],
            idempotency: true,
          },
        },
        routes: { 'sora-2': ['gateway'], 'sora-2-pro': ['gateway'] },
      },
      { TEST_OPENAI_KEY: 'openai-test-key' },
    ));
    const account = await service.newAccount(10_000);
    accountId = account.accountId;
    api = client(service.runtime.config.publicUrl, account.auth);
  });
  afterAll(async () => {
    await service?.close();
    await gateway?.close();
  });

  async function run(body: Record<string, unknown> = {}) {
    const before = gateway.createCount();
    const task = await api.settle((await api.create({ model: 'sora-2', prompt: 'a heron at dawn', ...body })).id);
    return { task, jobs: gateway.createCount() - before };
  }

  it('maps n_frames to seconds and the dimensions to size, then downloads /content', async () => {
    const { task, jobs } = await run({ model: 'sora-2-pro', params: { size: 'high', aspect_ratio: 'portrait' } });
    await expectSucceededAndCaptured(service, task);
    expect(jobs).toBe(1);
    expect(gateway.jobs.at(-1)).toMatchObject({ model: 'sora-2-pro', size: '1024x1792', body: expect.objectContaining({ seconds: '10' }) as unknown });
    expect(task.result!.media[0]).toMatchObject({ width: 1024, height: 1792, durationSeconds: 10 });
  });

  it('sends a reference image as input_reference, fitted to the output size', async () => {
    const url = await api.uploadImage();
    const { task } = await run({ params: { referenceMediaItems: [{ url, kind: 'image', name: 'reference.png', mimeType: 'image/png' }] } });
    await expectSucceededAndCaptured(service, task);
    expect(gateway.jobs.at(-1)!.inputReference).toMatchObject({ width: 1280, height: 720 });
  });

  it('refuses, before holding credits, params the endpoint cannot express', async () => {
    const before = (await api.call('GET', '/api/v1/account')).body;
    const response = await api.call('POST', '/api/v1/tasks', { model: 'sora-2', prompt: 'long', params: { n_frames: '15' } });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({
      error: { code: 'validation_failed', details: [{ path: 'params.n_frames', message: 'n_frames 15 is not offered for sora-2.' }] },
    });
    expect(JSON.stringify(response.body)).not.toContain('gateway');
    expect((await api.call('GET', '/api/v1/account')).body).toEqual(before);
    expect(accountId).toBeTruthy();
  });

  it('sends a create whose answer was lost again with the same Idempotency-Key: one job', async () => {
    gateway.inject('create', { kind: 'accept-then-reset' });
    let outcome = await run();
    await expectSucceededAndCaptured(service, outcome.task);
    expect(outcome.jobs).toBe(1);
    gateway.inject('create', { kind: 'hang' });
    outcome = await run();
    await expectSucceededAndCaptured(service, outcome.task);
    expect(outcome.jobs).toBe(1);
    const keys = gateway.jobs.map((job) => job.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('retries 429 (honouring Retry-After) and 5xx on create and status', async () => {
    gateway.inject('create', { kind: 'http', status: 429, headers: { 'retry-after': '1' } });
    gateway.inject('status', { kind: 'http', status: 503 }, 2);
    const started = Date.now();
    const { task, jobs } = await run();
    await expectSucceededAndCaptured(service, task);
    expect(jobs).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('passes the progress the upstream reports on to the event log: rising task.progress events, 500 ms apart or more', async () => {
    gateway.nextJobs({ outcome: 'success', durationMs: 3000 });
    const { task } = await run();
    await expectSucceededAndCaptured(service, task);
    const { rows } = await service.runtime.db.query<{ type: string; progress: number; at: Date }>(
      `SELECT type, (data->'task'->>'progress')::int AS progress, created_at AS at FROM events WHERE task_id = $1 ORDER BY seq`,
      [task.id],
    );
    const progress = rows.filter((row) => row.type === 'task.progress');
    // The upstream runs for about 2 s, polled every 0.5 s or so (a delayed job waits for the queue's next fetch).
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.length).toBeLessThanOrEqual(6);
    for (let index = 1; index < progress.length; index++) {
      expect(progress[index]!.progress).toBeGreaterThan(progress[index - 1]!.progress);
      expect(progress[index]!.at.getTime() - progress[index - 1]!.at.getTime()).toBeGreaterThanOrEqual(500);
    }
    expect(rows.map((row) => row.type).filter((type) => type !== 'task.progress')).toEqual(['task.queued', 'task.running', 'task.succeeded']);
    expect(rows.at(-1)!.type).toBe('task.succeeded');
  });

  it('maps a moderation failure to content_policy_violation and a broken result to upstream_error', async () => {
    gateway.nextJobs({ outcome: 'fail' });
    let { task } = await run();
    await expectFailedAndReleased(service, task, 'content_policy_violation');
    for (const result of ['missing', 'html'] as const) {
      gateway.nextJobs({ outcome: 'success', durationMs: 100, result });
      ({ task } = await run());
      await expectFailedAndReleased(service, task, 'upstream_error');
    }
  });

  it('cancels the upstream job (DELETE) when the client cancels', async () => {
    gateway.nextJobs({ outcome: 'stuck' });
    const created = await api.create({ model: 'sora-2', prompt: 'cancel me' });
    let upstreamId: string | undefined;
    const end = Date.now() + 10_000;
    while (!upstreamId && Date.now() < end) {
      const { rows } = await service.runtime.db.query<{ upstream_id: string | null }>('SELECT upstream_id FROM tasks WHERE id = $1', [created.id]);
      upstreamId = rows[0]?.upstream_id ?? undefined;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(upstreamId).toBeTruthy();
    const canceled = await api.call('POST', `/api/v1/tasks/${created.id}/cancel`);
    expect(canceled.body).toMatchObject({ status: 'canceled' });
    while (!gateway.deleted.includes(upstreamId!) && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(gateway.deleted).toContain(upstreamId);
    const { rows } = await service.runtime.db.query<{ type: string }>('SELECT type FROM ledger_entries WHERE task_id = $1 ORDER BY seq', [created.id]);
    expect(rows.map((row) => row.type)).toEqual(['hold', 'release']);
  });
});
