import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockKie, type MockKie } from '../helpers/mock-kie.js';
import type { TestService } from '../helpers/test-service.js';
import { client, expectSucceededAndCaptured, FAST, startUpstreamService } from './upstream-harness.js';

/**
 * A host that never completes a connection: a listener in a stopped process whose accept queue
 * is full, so the kernel drops further connection attempts and they time out. Nothing is sent,
 * so a create there may go to the next account.
 */
async function startStalledHost(): Promise<{ url: string; close: () => void }> {
  const child: ChildProcess = spawn(process.execPath, [
    '-e',
    `require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port); })`,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the listener exited (${code})`)));
  });
  child.kill('SIGSTOP');
  // Fill the accept queue (backlog + 1 on Linux, with room to spare): later connections get no answer.
  const fillers: Socket[] = [];
  for (let i = 0; i < 4; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => {}));
  await new Promise((resolve) => setTimeout(resolve, 200));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
    },
  };
}

describe('kie provider: a connection that never completes', () => {
  let stalled: Awaited<ReturnType<typeof startStalledHost>>;
  let spare: MockKie;
  let service: TestService;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    [stalled, spare] = await Promise.all([startStalledHost(), startMockKie()]);
    ({ service } = await startUpstreamService(
      {
        // The connection gives up after 10 s, well before the request's own 20 s timeout.
        ...FAST,
        request_timeout_seconds: 20,
        accounts: {
          stalled: { kind: 'kie', api_key_env: 'TEST_KIE_KEY', base_url: stalled.url },
          spare: { kind: 'kie', api_key_env: 'TEST_KIE_KEY', base_url: spare.url },
        },
        routes: { 'sora-2': ['stalled', 'spare'], 'sora-2-pro': ['stalled', 'spare'] },
      },
      { TEST_KIE_KEY: 'kie-test-key', RIVYA_TASK_TIMEOUT_SECONDS: '60' },
    ));
    const { auth } = await service.newAccount(1000);
    api = client(service.runtime.config.publicUrl, auth);
  });
  afterAll(async () => {
    await service?.close();
    await spare?.close();
    stalled?.close();
  });

  it('fails over on a connect timeout: nothing was sent, so the next account makes the one job', async () => {
    const started = Date.now();
    const task = await api.settle((await api.create({ model: 'sora-2', prompt: 'a lighthouse in fog' })).id, 45);
    await expectSucceededAndCaptured(service, task);
    expect(spare.createCount()).toBe(1);
    // It waited for the connection to give up, not for the request timeout nor the resend delay.
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);
});
