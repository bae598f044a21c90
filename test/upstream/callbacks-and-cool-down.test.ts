import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockKie, type MockKie } from '../helpers/mock-kie.js';
import type { TestService } from '../helpers/test-service.js';
import { alterSignature } from '../helpers/wait-for.js';
import { client, expectSucceededAndCaptured, FAST, startUpstreamService } from './upstream-harness.js';

describe('kie callbacks', () => {
  let kie: MockKie;
  let service: TestService;
  let api: ReturnType<typeof client>;
  let base: string;

  beforeAll(async () => {
    kie = await startMockKie();
    // Polls a minute apart: only a callback can make a task end within seconds.
    ({ service, base } = await startUpstreamService(
      {
        ...FAST,
        poll: { min_seconds: 60, max_seconds: 60 },
        // One status fetch slower than FAST's 1 s on a loaded machine would leave the task to the next poll, past its deadline.
        request_timeout_seconds: 5,
        accounts: { kie: { kind: 'kie', api_key_env: 'TEST_KIE_KEY', base_url: kie.url } },
        routes: { 'sora-2': ['kie'], 'sora-2-pro': ['kie'] },
      },
      { TEST_KIE_KEY: 'kie-test-key' },
    ));
    const { auth } = await service.newAccount(1000);
    api = client(base, auth);
  });
  afterAll(async () => {
    await service?.close();
    await kie?.close();
  });

  it('wakes the task at once: the callback makes us fetch the status, and the task ends', async () => {
    const started = Date.now();
    const task = await api.settle((await api.create({ model: 'sora-2', prompt: 'called back' })).id, 20);
    await expectSucceededAndCaptured(service, task);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(kie.callbacks.at(-1)).toMatchObject({ status: 200 });
  });

  it('never trusts the body: a forged "success" for a job still running changes nothing', async () => {
    kie.nextJobs({ outcome: 'success', durationMs: 8000 });
    const created = await api.create({ model: 'sora-2', prompt: 'forged' });
    const job = await waitForJob(kie, created.id);
    const url = String((job.body as { callBackUrl: string }).callBackUrl);
    const forged = {
      code: 200, msg: 'success',
      data: { taskId: job.id, state: 'success', resultJson: JSON.stringify({ resultUrls: ['https://evil.example/x.mp4'] }) },
    };
    const statusBefore = kie.requests.filter((request) => request.route === 'status').length;
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(forged) });
    expect(response.status).toBe(200);
    // The callback led to a status fetch from Kie, which says the job is still generating.
    await waitFor(() => kie.requests.filter((request) => request.route === 'status').length > statusBefore);
    const now = (await api.call('GET', `/api/v1/tasks/${created.id}`)).body;
    expect(now['status']).toBe('running');
    const task = await api.settle(created.id, 30);
    await expectSucceededAndCaptured(service, task);
    expect(JSON.stringify(task)).not.toContain('evil.example');
  });

  it('answers 404 to a callback with a bad signature, for an unknown task, or malformed', async () => {
    const created = await api.create({ model: 'sora-2', prompt: 'signed' });
    const job = await waitForJob(kie, created.id);
    const url = String((job.body as { callBackUrl: string }).callBackUrl);
    const tampered = alterSignature(url);
    expect((await fetch(tampered, { method: 'POST', body: '{}' })).status).toBe(404);
    const otherTask = url.replace(created.id, 'task_doesnotexist');
    expect((await fetch(otherTask, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(`${base}/api/v1/provider-callbacks/${created.id}`, { method: 'POST' })).status).toBe(404);
    // A valid URL with a body that is not JSON at all is still just a wake-up.
    expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":' })).status).toBe(200);
    await expectSucceededAndCaptured(service, await api.settle(created.id, 20));
  });
});

describe('cool-down', () => {
  let flaky: MockKie;
  let steady: MockKie;
  let service: TestService;
  let api: ReturnType<typeof client>;
  let base: string;

  beforeAll(async () => {
    [flaky, steady] = await Promise.all([startMockKie(), startMockKie()]);
    ({ service, base } = await startUpstreamService(
      {
        ...FAST,
        cool_down: { failures: 2, seconds: 3 },
        accounts: {
          flaky: { kind: 'kie', api_key_env: 'TEST_KIE_KEY', base_url: flaky.url },
          steady: { kind: 'kie', api_key_env: 'TEST_KIE_KEY', base_url: steady.url },
        },
        routes: { 'sora-2': ['flaky', 'steady'], 'sora-2-pro': ['steady'] },
      },
      { TEST_KIE_KEY: 'kie-test-key' },
    ));
    const { auth } = await service.newAccount(1000);
    api = client(base, auth);
  });
  afterAll(async () => {
    await service?.close();
    await Promise.all([flaky?.close(), steady?.close()]);
  });

  it('takes an account that keeps failing out of rotation, shows it in metrics, and brings it back', async () => {
    flaky.inject('create', { kind: 'http', status: 502 }, 2);
    for (let i = 0; i < 2; i++) await expectSucceededAndCaptured(service, await api.settle((await api.create({ model: 'sora-2', prompt: `f${i}` })).id));
    const createsBefore = flaky.requests.filter((request) => request.route === 'create').length;
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/rivya_provider_available\{account="flaky"\} 0/);
    // While it cools down, tasks go straight to the next account: the flaky one is not even asked.
    await expectSucceededAndCaptured(service, await api.settle((await api.create({ model: 'sora-2', prompt: 'cooling' })).id));
    expect(flaky.requests.filter((request) => request.route === 'create').length).toBe(createsBefore);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/rivya_provider_cool_downs_total\{account="flaky"\} 1/);
    await new Promise((resolve) => setTimeout(resolve, 3100));
    await expectSucceededAndCaptured(service, await api.settle((await api.create({ model: 'sora-2', prompt: 'back' })).id));
    expect(flaky.createCount()).toBe(1);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/rivya_provider_available\{account="flaky"\} 1/);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitForJob(kie: MockKie, taskId: string) {
  let job: MockKie['jobs'][number] | undefined;
  await waitFor(() => Boolean((job = kie.jobs.find((candidate) => String((candidate.body as { callBackUrl?: string }).callBackUrl).includes(taskId)))));
  return job!;
}
