import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { makeMedia } from '../helpers/media.js';
import { startTestService, type TestService } from '../helpers/test-service.js';

/** Writes a RIVYA_CONFIG file and starts a listening service (embedded store) that uses it. */
export async function startUpstreamService(
  providerConfig: Record<string, unknown>,
  env: Record<string, string> = {},
  options: { captureLogs?: 'trace' | 'debug' | 'info' } = {},
): Promise<{ service: TestService; base: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'rivya-upstream-'));
  const path = join(dir, 'providers.json');
  await writeFile(path, JSON.stringify(providerConfig));
  const service = await startTestService(BACKENDS[0]!, {
    listen: true,
    env: { RIVYA_CONFIG: path, RIVYA_TASK_TIMEOUT_SECONDS: '20', ...env },
    ...options,
  });
  return { service, base: service.runtime.config.publicUrl };
}

/** Fast timings for tests: polls every 0.1–0.3 s, calls time out after 1 s. */
export const FAST = {
  poll: { min_seconds: 0.1, max_seconds: 0.3 },
  request_timeout_seconds: 1,
  download_timeout_seconds: 5,
  max_result_bytes: 8 * 1024 * 1024,
  submit_rounds: 3,
  cool_down: { failures: 1000, seconds: 1 },
};

export interface TaskBody {
  id: string;
  status: string;
  provider?: string;
  error: { code: string; message: string } | null;
  result: { media: { url: string; width: number; height: number; durationSeconds: number; sizeBytes: number }[] } | null;
  params: Record<string, string>;
}

/** A client of the listening service for one account. */
export function client(base: string, auth: Record<string, string>) {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  return {
    call,
    async create(body: Record<string, unknown>): Promise<TaskBody> {
      const response = await call('POST', '/api/v1/tasks', body);
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return response.body as unknown as TaskBody;
    },
    /** Long-polls until the task ends (or `seconds` pass). */
    async settle(id: string, seconds = 30): Promise<TaskBody> {
      const deadline = Date.now() + seconds * 1000;
      for (;;) {
        const response = await call('GET', `/api/v1/tasks/${id}?wait=${Math.min(20, seconds)}`);
        const task = response.body as unknown as TaskBody;
        if (['succeeded', 'failed', 'canceled'].includes(task.status) || Date.now() > deadline) return task;
      }
    },
    async uploadImage(): Promise<string> {
      const path = await makeMedia(join(await mkdtemp(join(tmpdir(), 'rivya-ref-')), 'reference.png'), 'image');
      const form = new FormData();
      form.set('file', new Blob([await readFile(path)], { type: 'image/png' }), 'reference.png');
      const response = await fetch(`${base}/api/v1/files`, { method: 'POST', headers: auth, body: form });
      expect(response.status).toBe(201);
      return ((await response.json()) as { url: string }).url;
    },
  };
}

/** The ledger entries of a task, oldest first: exactly one hold and then one capture or one release. */
export async function ledgerOf(service: TestService, taskId: string): Promise<string[]> {
  const { rows } = await service.runtime.db.query<{ type: string }>(
    'SELECT type FROM ledger_entries WHERE task_id = $1 ORDER BY seq',
    [taskId],
  );
  return rows.map((row) => row.type);
}

/** Asserts the task failed with `code` and its hold was released exactly once, nothing captured. */
export async function expectFailedAndReleased(service: TestService, task: TaskBody, code: string): Promise<void> {
  expect(task.status, JSON.stringify(task.error)).toBe('failed');
  expect(task.error?.code).toBe(code);
  expect(await ledgerOf(service, task.id)).toEqual(['hold', 'release']);
}

export async function expectSucceededAndCaptured(service: TestService, task: TaskBody): Promise<void> {
  expect(task.status, JSON.stringify(task.error)).toBe('succeeded');
  expect(await ledgerOf(service, task.id)).toEqual(['hold', 'capture']);
}
