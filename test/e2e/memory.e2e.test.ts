import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiClient, devKey, startServe, type ServeProcess } from '../helpers/serve-process.js';
import { waitFor } from '../helpers/wait-for.js';

// What a small VPS can hold: the README promises the embedded default stays under this.
const LIMIT_MB = 300;

/** The process's resident set now and its peak (VmRSS, VmHWM), in MB. */
async function residentMb(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string) => Math.round(Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) / 1024);
  return { rss: mb('VmRSS'), peak: mb('VmHWM') };
}

// The 100,000-task growth check is `npm run bench:memory` (filling the database takes too long for the suite).
describe.skipIf(!existsSync('/proc/self/status'))('the memory of rivya serve on the embedded default', () => {
  let dataDir: string;
  const processes: ServeProcess[] = [];

  afterAll(async () => {
    for (const serve of processes) serve.process.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(`never holds more than ${LIMIT_MB} MB: first start, requests, restart`, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-memory-'));
    const env = { RIVYA_DATA_DIR: dataDir, RIVYA_PROVIDER: 'instant' };
    const first = await startServe(env);
    processes.push(first);
    const afterFirstStart = await residentMb(first.process.pid!);

    const api = apiClient(first.url, await devKey(dataDir));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const created = await api<{ id: string }>('/api/v1/tasks', {
        method: 'POST', body: { model: 'sora-2', prompt: `A paper boat ${i}`, params: { n_frames: 10 } },
      });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    for (const id of ids) {
      await waitFor(async () => (await api<{ status: string }>(`/api/v1/tasks/${id}?wait=5`)).body.status === 'succeeded', 30_000, `task ${id}`);
    }
    expect((await api('/api/v1/tasks?limit=100')).status).toBe(200);
    expect((await api('/api/v1/account/ledger')).status).toBe(200);
    const afterRequests = await residentMb(first.process.pid!);
    first.process.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await startServe(env);
    processes.push(second);
    expect((await apiClient(second.url, await devKey(dataDir))('/api/v1/tasks?limit=100')).status).toBe(200);
    const afterRestart = await residentMb(second.process.pid!);

    // The peak too: memory a process needed once is memory the machine must have.
    const readings = { afterFirstStart, afterRequests, afterRestart };
    const over = Object.entries(readings).filter(([, reading]) => reading.peak > LIMIT_MB || reading.rss > LIMIT_MB);
    expect(over, JSON.stringify(readings)).toEqual([]);
  });
});
