import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath } from '../helpers/media.js';
import { startMockKie, type MockKie } from '../helpers/mock-kie.js';
import { freePort } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';
import type { TestService } from '../helpers/test-service.js';
import {
  client, expectFailedAndReleased, expectSucceededAndCaptured, FAST, startUpstreamService,
} from './upstream-harness.js';

/**
 * The `kie` provider against two Kie.ai mocks (`primary`, `spare`) and an address nothing
 * listens on (`down`). Routes: sora-2 → primary, then spare; sora-2-pro → down, then primary.
 * Each fault: the task's end state, one hold settled once, and how many upstream jobs were made.
 */
describe('kie provider: faults', () => {
  let primary: MockKie;
  let spare: MockKie;
  let service: TestService;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    [primary, spare] = await Promise.all([startMockKie(), startMockKie()]);
    const down = `http://127.0.0.1:${await freePort()}`;
    ({ service } = await startUpstreamService(
      {
        ...FAST,
        accounts: {
          primary: { kind: 'kie', api_key_env: 'TEST_KIE_PRIMARY', base_url: primary.url, resend_after_seconds: 3 },
          spare: { kind: 'kie', api_key_env: 'TEST_KIE_SPARE', base_url: spare.url },
          down: { kind: 'kie', api_key_env: 'TEST_KIE_PRIMARY', base_url: down },
        },
        routes: { 'sora-2': ['primary', 'spare'], 'sora-2-pro': ['down', 'primary'] },
      },
      { TEST_KIE_PRIMARY: 'kie-test-key', TEST_KIE_SPARE: 'kie-test-key' },
    ));
    const { auth } = await service.newAccount(10_000);
    api = client(service.runtime.config.publicUrl, auth);
  });
  afterAll(async () => {
    await service?.close();
    await Promise.all([primary?.close(), spare?.close()]);
  });

  /** Creates a sora-2 task and waits for its end, counting the jobs each mock made meanwhile. */
  async function run(body: Record<string, unknown> = {}) {
    const before = { primary: primary.createCount(), spare: spare.createCount() };
    const task = await api.settle((await api.create({ model: 'sora-2', prompt: 'a fox in the snow', ...body })).id);
    return { task, jobs: { primary: primary.createCount() - before.primary, spare: spare.createCount() - before.spare } };
  }

  it('maps the params to a text-to-video job, stores the result on our target and captures once', async () => {
    const { task, jobs } = await run({ params: { n_frames: '15', aspect_ratio: 'portrait', remove_watermark: 'true' } });
    await expectSucceededAndCaptured(service, task);
    expect(jobs).toEqual({ primary: 1, spare: 0 });
    const job = primary.jobs.at(-1)!;
    expect(job.body).toMatchObject({
      model: 'sora-2-text-to-video',
      input: { prompt: 'a fox in the snow', aspect_ratio: 'portrait', n_frames: '15', remove_watermark: true },
    });
    // Kie was told where to call back: this service, signed for this task.
    expect(String((job.body as { callBackUrl: string }).callBackUrl)).toMatch(
      new RegExp(`^${service.runtime.config.publicUrl}/api/v1/provider-callbacks/${task.id}\\?expires=\\d+&sig=`),
    );
    const media = task.result!.media[0]!;
    expect(media.url.startsWith(service.runtime.config.publicUrl)).toBe(true);
    expect(media.url).not.toContain(new URL(primary.url).host);
    expect(media).toMatchObject({ width: 720, height: 1280, durationSeconds: 15 });
    const video = Buffer.from(await (await fetch(media.url)).arrayBuffer());
    expect(video.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(video.length).toBe(media.sizeBytes);
  });

  it('sends an uploaded reference as a signed URL Kie can fetch (image-to-video)', async () => {
    const url = await api.uploadImage();
    const { task } = await run({ params: { referenceMediaItems: [{ url, kind: 'image', name: 'reference.png', mimeType: 'image/png' }] } });
    await expectSucceededAndCaptured(service, task);
    const job = primary.jobs.at(-1)!;
    expect(job.model).toBe('sora-2-image-to-video');
    expect(job.imageFetches).toEqual([expect.objectContaining({ status: 200 })]);
  });

  it('fails over to the next account on a 500, a 429 with Retry-After, or Kie code 402 and 455', async () => {
    for (const fault of [
      { kind: 'http', status: 500, body: '<html>oops</html>' },
      { kind: 'http', status: 429, headers: { 'retry-after': '1' } },
      { kind: 'code', code: 402, msg: 'Credits insufficient' },
      { kind: 'code', code: 455, msg: 'Service unavailable' },
    ] as const) {
      primary.inject('create', fault);
      const { task, jobs } = await run();
      await expectSucceededAndCaptured(service, task);
      expect(jobs, fault.kind).toEqual({ primary: 0, spare: 1 });
    }
  });

  it('fails over when the first account refuses connections', async () => {
    const before = primary.createCount();
    const task = await api.settle((await api.create({ model: 'sora-2-pro', prompt: 'pro', params: { size: 'high' } })).id);
    await expectSucceededAndCaptured(service, task);
    expect(primary.createCount() - before).toBe(1);
    expect(task.result!.media[0]).toMatchObject({ width: 1792, height: 1024 });
  });

  it('does not fail over when an answer is lost after sending, and sends again only after the resend delay', async () => {
    // A hung create and a malformed 200 (no job made either time): the same account is asked again
    // once its callback had time to come (3 s here), never the spare one.
    for (const fault of [{ kind: 'hang' }, { kind: 'malformed' }] as const) {
      primary.inject('create', fault);
      const started = Date.now();
      const outcome = await run();
      await expectSucceededAndCaptured(service, outcome.task);
      expect(outcome.jobs, fault.kind).toEqual({ primary: 1, spare: 0 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    }
  });

  it('adopts the job of a create whose answer was lost when its callback names it: one job, not two', async () => {
    // Kie has no idempotency key. The job is made but its answer is lost (a reset; a reply slower
    // than our 1 s timeout); Kie's callback names the job, Kie's own record confirms it is this task's.
    const started = async () => {
      const metrics = await (await fetch(`${service.runtime.config.publicUrl}/metrics`)).text();
      return Number(/rivya_task_transitions_total\{model="sora-2",status="running"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    };
    for (const fault of [{ kind: 'accept-then-reset' }, { kind: 'delay', ms: 1500 }] as const) {
      primary.inject('create', fault);
      const before = await started();
      const outcome = await run();
      await expectSucceededAndCaptured(service, outcome.task);
      expect(outcome.jobs, fault.kind).toEqual({ primary: 1, spare: 0 });
      // Waiting for the callback and resuming is not a second start.
      expect(await started(), fault.kind).toBe(before + 1);
    }
  });

  it('keeps the job a callback named even when it comes mid-attempt or its check fails once', async () => {
    // A job done in 20 ms calls back while the attempt that lost its answer still holds the task.
    primary.nextJobs({ outcome: 'success', durationMs: 20 });
    primary.inject('create', { kind: 'accept-then-reset' });
    let outcome = await run();
    await expectSucceededAndCaptured(service, outcome.task);
    expect(outcome.jobs).toEqual({ primary: 1, spare: 0 });

    // Kie's record cannot be read at first (500): the task checks again instead of sending a second job.
    primary.inject('create', { kind: 'accept-then-reset' });
    primary.inject('status', { kind: 'http', status: 500 });
    outcome = await run();
    await expectSucceededAndCaptured(service, outcome.task);
    expect(outcome.jobs).toEqual({ primary: 1, spare: 0 });
  });

  it('fails over on a 4xx page that is not JSON (a wrong path or a proxy): nothing was accepted', async () => {
    primary.inject('create', { kind: 'http', status: 404, headers: { 'content-type': 'text/html' }, body: '<h1>Not Found</h1>' });
    const { task, jobs } = await run();
    await expectSucceededAndCaptured(service, task);
    expect(jobs).toEqual({ primary: 0, spare: 1 });
  });

  it('keeps polling a job whose reference file was deleted after Kie took it', async () => {
    const url = await api.uploadImage();
    primary.nextJobs({ outcome: 'success', durationMs: 1500 });
    const created = await api.create({
      model: 'sora-2', prompt: 'reference then deleted',
      params: { referenceMediaItems: [{ url, kind: 'image', name: 'reference.png', mimeType: 'image/png' }] },
    });
    await waitForUpstreamId(service, created.id);
    const files = (await api.call('GET', '/api/v1/files')).body['data'] as { id: string }[];
    for (const file of files) expect((await api.call('DELETE', `/api/v1/files/${file.id}`)).status).toBe(200);
    await expectSucceededAndCaptured(service, await api.settle(created.id));
  });

  it('fails the task without failover when Kie refuses the request itself (code 422)', async () => {
    primary.inject('create', { kind: 'code', code: 422, msg: 'input.prompt is invalid' });
    const { task, jobs } = await run();
    await expectFailedAndReleased(service, task, 'upstream_error');
    expect(jobs).toEqual({ primary: 0, spare: 0 });
    expect(task.error!.message).not.toContain('input.prompt');
  });

  it('labels a refusal by a body code no HTTP-like range holds as code_other: the upstream cannot add metric series at will', async () => {
    primary.inject('create', { kind: 'code', code: 987_654_321, msg: 'something new' });
    const { task } = await run();
    await expectFailedAndReleased(service, task, 'upstream_error');
    const text = await (await fetch(`${service.runtime.config.publicUrl}/metrics`)).text();
    expect(text).toMatch(/^rivya_provider_calls_total\{account="primary",operation="submit",outcome="code_other"\} 1$/m);
    expect(text).not.toContain('987654321');
  });

  it('fails with upstream_error after every account failed for the configured rounds', async () => {
    primary.inject('create', { kind: 'http', status: 503 }, 3);
    spare.inject('create', { kind: 'http', status: 500 }, 3);
    const { task, jobs } = await run();
    await expectFailedAndReleased(service, task, 'upstream_error');
    expect(jobs).toEqual({ primary: 0, spare: 0 });
  });

  it('maps a failed job: content policy, a reference Kie could not use, anything else', async () => {
    primary.nextJobs({ outcome: 'fail', failCode: '400', failMsg: 'Your prompt violates our content policy (sk-secret-value-123456)' });
    let { task } = await run();
    await expectFailedAndReleased(service, task, 'content_policy_violation');
    expect(task.error!.message).not.toContain('sk-secret');

    const url = await api.uploadImage();
    const reference = { referenceMediaItems: [{ url, kind: 'image', name: 'reference.png', mimeType: 'image/png' }] };
    primary.nextJobs({ outcome: 'fail', failCode: '422', failMsg: 'image could not be downloaded' });
    ({ task } = await run({ params: reference }));
    await expectFailedAndReleased(service, task, 'invalid_reference');

    // The same words for a task without a reference cannot mean a bad reference.
    primary.nextJobs({ outcome: 'fail', failCode: '422', failMsg: 'image could not be downloaded' });
    ({ task } = await run());
    await expectFailedAndReleased(service, task, 'upstream_error');
  });

  it('keeps polling through status 500s, timeouts and malformed answers, then delivers', async () => {
    primary.nextJobs({ outcome: 'success', durationMs: 1500 });
    primary.inject('status', { kind: 'http', status: 500 }, 2);
    primary.inject('status', { kind: 'hang' });
    primary.inject('status', { kind: 'malformed' });
    const { task, jobs } = await run();
    await expectSucceededAndCaptured(service, task);
    expect(jobs).toEqual({ primary: 1, spare: 0 });
  });

  it('fails a result that 404s, is HTML instead of MP4, or exceeds the size cap', async () => {
    for (const result of ['missing', 'html', 'huge'] as const) {
      primary.nextJobs({ outcome: 'success', durationMs: 100, result });
      const { task, jobs } = await run();
      await expectFailedAndReleased(service, task, 'upstream_error');
      expect(jobs, result).toEqual({ primary: 1, spare: 0 });
    }
  });

  it('fails a job that never finishes with timeout at its deadline, releasing the hold once', async () => {
    primary.nextJobs({ outcome: 'stuck' });
    const before = { jobs: primary.createCount(), polls: primary.requests.filter((request) => request.route === 'status').length };
    const created = await api.create({ model: 'sora-2', prompt: 'stuck' });
    const task = await api.settle(created.id, 40);
    await expectFailedAndReleased(service, task, 'timeout');
    expect(primary.createCount() - before.jobs).toBe(1);
    // Polled with backoff between 0.1 and 0.3 s for the 20 s until the deadline: no more than that allows.
    const polls = primary.requests.filter((request) => request.route === 'status').length - before.polls;
    expect(polls).toBeGreaterThan(20);
    expect(polls).toBeLessThan(20 / 0.08);
  }, 60_000);

  it('counts calls per account and outcome in /metrics', async () => {
    primary.inject('create', { kind: 'http', status: 500 });
    await expectSucceededAndCaptured(service, (await run()).task);
    const metrics = await (await fetch(`${service.runtime.config.publicUrl}/metrics`)).text();
    expect(metrics).toMatch(/rivya_provider_calls_total\{account="primary",operation="submit",outcome="http_500"\} \d+/);
    expect(metrics).toMatch(/rivya_provider_failovers_total\{model="sora-2",from="primary"\} \d+/);
    expect(metrics).toMatch(/rivya_provider_available\{account="spare"\} 1/);
  });

  it('checks the delivered file with ffprobe', async () => {
    const { task } = await run();
    const video = Buffer.from(await (await fetch(task.result!.media[0]!.url)).arrayBuffer());
    const { writeFile, mkdtemp } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const path = join(await mkdtemp(join(tmpdir(), 'rivya-probe-')), 'v.mp4');
    await writeFile(path, video);
    const { stderr } = await promisify(execFile)(ffmpegPath, ['-hide_banner', '-i', path]).catch((error: { stderr: string }) => error);
    expect(stderr).toMatch(/Video: h264/);
  });
});

async function waitForUpstreamId(service: TestService, taskId: string): Promise<string> {
  return waitFor(async () => {
    const { rows } = await service.runtime.db.query<{ upstream_id: string | null }>('SELECT upstream_id FROM tasks WHERE id = $1', [taskId]);
    return rows[0]?.upstream_id ?? null;
  }, 10_000, 'the upstream id');
}
