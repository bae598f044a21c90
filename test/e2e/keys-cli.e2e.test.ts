import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { runRivya as rivya } from '../helpers/serve-process.js';
import { startTestService, type TestService } from '../helpers/test-service.js';

describe('rivya keys', () => {
  let service: TestService;
  let env: Record<string, string>;

  beforeAll(async () => {
    service = await startTestService(BACKENDS[0]!, { listen: true, worker: false });
    env = { RIVYA_BASE_URL: service.runtime.config.publicUrl, RIVYA_API_KEY: (await service.newAccount(0)).key };
  });
  afterAll(async () => service?.close());

  it('creates a key shown once, lists keys without secrets, and revokes one (then refused)', async () => {
    const created = await rivya(['keys', 'create', '--name', 'ci', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; key: string; prefix: string; name: string };
    expect(key).toMatchObject({ id: expect.stringMatching(/^key_/), key: expect.stringMatching(/^rv_/), name: 'ci' });
    const human = await rivya(['keys', 'create'], env);
    expect(human.stdout).toMatch(/The key \(shown once, keep it safe\):\n\n {2}rv_[0-9A-Za-z]{40}\n/);

    // Used once, so its last use shows.
    expect((await rivya(['account'], { ...env, RIVYA_API_KEY: key.key })).code).toBe(0);
    const listed = await rivya(['keys', 'list'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/ID\s+PREFIX\s+NAME\s+CREATED\s+LAST USED/);
    expect(listed.stdout).toMatch(new RegExp(`${key.id}\\s+${key.prefix}\\s+ci\\s+\\S+\\s+\\d{4}-`));
    expect(listed.stdout).not.toContain(key.key);
    const json = JSON.parse((await rivya(['keys', 'list', '--limit', '1', '--json'], env)).stdout) as { data: unknown[]; has_more: boolean };
    expect(json.data).toHaveLength(1);
    expect(json.has_more).toBe(true);
    const all = JSON.parse((await rivya(['keys', 'list', '--all', '--json'], env)).stdout) as { data: { id: string }[] };
    expect(all.data).toHaveLength(3);

    const revoked = await rivya(['keys', 'revoke', key.id, '--json'], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({ id: key.id, revoked: true });
    expect((await rivya(['account'], { ...env, RIVYA_API_KEY: key.key })).code).toBe(3);
    const missing = await rivya(['keys', 'revoke', 'key_missing', '--json'], env);
    expect(missing.code).toBe(5);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'not_found' } });
  }, 60_000);

  it('refuses bad input before anything is sent (exit 2), with --help and examples', async () => {
    expect((await rivya(['keys', 'revoke'], env)).stderr).toMatch(/rivya keys revoke <key-id>/);
    expect((await rivya(['keys', 'frobnicate'], env)).code).toBe(2);
    expect((await rivya(['keys', 'create', '--label', 'x'], env)).code).toBe(2);
    const helped = await rivya(['keys', '--help'], {});
    expect(helped.code).toBe(0);
    expect(helped.stdout).toMatch(/Usage:[\s\S]*Examples:[\s\S]*rivya keys create --name ci/);
    expect((await rivya(['help', 'keys'], {})).stdout).toBe(helped.stdout);
    expect((await rivya(['--help'], {})).stdout).toMatch(/rivya keys list\|create\|revoke/);
  });
});
