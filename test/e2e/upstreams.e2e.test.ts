import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ffmpegPath } from '../helpers/media.js';
import { startMockKie, type MockKie } from '../helpers/mock-kie.js';
import { startMockOpenAiVideos, type MockOpenAiVideos } from '../helpers/mock-openai-videos.js';
import { apiClient, devKey, startServe, type ServeProcess } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';

interface Task {
  id: string;
  status: string;
  error: { code: string } | null;
  result: { media: { url: string; width: number; height: number }[] } | null;
}
interface LedgerPage { data: { type: string; task_id: string | null }[] }

/**
 * `rivya serve` as an operator runs it, with RIVYA_CONFIG routing sora-2 to a Kie.ai mock and
 * sora-2-pro to an OpenAI-style gateway mock: tasks through both, Kie calling back to the real
 * listening port, and a worker killed with kill -9 while its create was on the wire.
 */
describe('rivya serve with upstream providers', () => {
  let dataDir: string;
  let kie: MockKie;
  let gateway: MockOpenAiVideos;
  const processes: ServeProcess[] = [];

  afterAll(async () => {
    for (const serve of processes) serve.process.kill('SIGKILL');
    await Promise.all([kie?.close(), gateway?.close()]);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('runs tasks through both upstreams, and a kill -9 mid-create makes no second upstream job', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-upstreams-'));
    [kie, gateway] = await Promise.all([startMockKie(), startMockOpenAiVideos({ seconds: ['10', '15'] })]);
    const configPath = join(dataDir, 'providers.json');
    await writeFile(configPath, JSON.stringify({
      accounts: {
        kie: { kind: 'kie', api_key_env: 'E2E_KIE_KEY', base_url: kie.url },
        gateway: { kind: 'openai-videos', api_key_env: 'E2E_GATEWAY_KEY', base_url: gateway.url, seconds: ['10', '15'], idempotency: true },
      },
      routes: { 'sora-2': ['kie'], 'sora-2-pro': ['gateway'] },
      poll: { min_seconds: 0.2, max_seconds: 1 },
      request_timeout_seconds: 10,
    }));
    const env = {
      RIVYA_DATA_DIR: dataDir, RIVYA_CONFIG: configPath, E2E_KIE_KEY: 'kie-test-key', E2E_GATEWAY_KEY: 'openai-test-key',
      RIVYA_LEASE_SECONDS: '3', RIVYA_SWEEP_INTERVAL_MS: '300',
    };
    const first = await startServe(env);
    processes.push(first);
    const api = apiClient(first.url, await devKey(dataDir));

    // Kie: created, called back on the real port, downloaded and stored here.
    const viaKie = await api<Task>('/api/v1/tasks', { method: 'POST', body: { model: 'sora-2', prompt: 'via kie', params: { aspect_ratio: 'portrait' } } });
    expect(viaKie.status).toBe(201);
    const kieDone = await waitFor(async () => {
      const task = (await api<Task>(`/api/v1/tasks/${viaKie.body.id}?wait=10`)).body;
      return task.status === 'running' || task.status === 'queued' ? null : task;
    }, 30_000, 'the Kie task');
    expect(kieDone.status, JSON.stringify(kieDone.error)).toBe('succeeded');
    expect(kie.callbacks.at(-1)?.status).toBe(200);
    const file = join(dataDir, 'kie.mp4');
    await writeFile(file, Buffer.from(await (await fetch(kieDone.result!.media[0]!.url)).arrayBuffer()));
    const probe = await promisify(execFile)(ffmpegPath, ['-hide_banner', '-i', file]).catch((error: { stderr: string }) => error);
    expect(probe.stderr).toMatch(/Video: h264.* 720x1280/);

    // The gateway answers the create only after 3 s; the job exists upstream from then on.
    gateway.inject('create', { kind: 'delay', ms: 3000 });
    const viaGateway = await api<Task>('/api/v1/tasks', { method: 'POST', body: { model: 'sora-2-pro', prompt: 'via gateway', params: { size: 'high' } } });
    expect(viaGateway.status).toBe(201);
    await waitFor(() => gateway.requests.some((request) => request.route === 'create'), 15_000, 'the create to reach the gateway');
    first.process.kill('SIGKILL');
    await first.exited;
    await waitFor(() => gateway.createCount() === 1, 10_000, 'the gateway to create the job');

    const second = await startServe(env);
    processes.push(second);
    const api2 = apiClient(second.url, await devKey(dataDir));
    const gatewayDone = await waitFor(async () => {
      const task = (await api2<Task>(`/api/v1/tasks/${viaGateway.body.id}?wait=10`)).body;
      return task.status === 'running' || task.status === 'queued' ? null : task;
    }, 60_000, 'the gateway task after restart');
    expect(gatewayDone.status, JSON.stringify(gatewayDone.error)).toBe('succeeded');
    expect(gatewayDone.result!.media[0]).toMatchObject({ width: 1792, height: 1024 });
    // Sent again with the same Idempotency-Key: still one paid job upstream.
    expect(gateway.createCount()).toBe(1);
    expect(gateway.requests.filter((request) => request.route === 'create').length).toBeGreaterThanOrEqual(2);

    const ledger = (await api2<LedgerPage>('/api/v1/account/ledger?limit=100')).body.data;
    for (const id of [viaKie.body.id, viaGateway.body.id]) {
      expect(ledger.filter((entry) => entry.task_id === id).map((entry) => entry.type).sort()).toEqual(['capture', 'hold']);
    }
  }, 150_000);
});
