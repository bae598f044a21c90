import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockKie, type MockKie } from '../helpers/mock-kie.js';
import { ADMIN_TOKEN, type TestService } from '../helpers/test-service.js';
import { client, expectSucceededAndCaptured, FAST, startUpstreamService } from './upstream-harness.js';

const KIE_KEY = 'kie-live-4f8a1c9e2b7d6035';

/** The `sig` of a signed URL (ours or S3's), which must never reach the logs. */
function signatureOf(url: string): string {
  const params = new URL(url).searchParams;
  const sig = params.get('sig') ?? params.get('X-Amz-Signature');
  expect(sig, url).toBeTruthy();
  return sig!;
}

describe('the logs of a run with keys, an admin token, signed URLs and provider callbacks', () => {
  let kie: MockKie;
  let service: TestService;
  let base: string;

  beforeAll(async () => {
    kie = await startMockKie({ apiKey: KIE_KEY });
    ({ service, base } = await startUpstreamService(
      {
        ...FAST,
        accounts: {
          primary: { kind: 'kie', api_key_env: 'TEST_KIE_KEY', base_url: kie.url },
          spare: { kind: 'kie', api_key_env: 'TEST_KIE_KEY', base_url: kie.url },
        },
        routes: { 'sora-2': [{ account: 'primary', priority: 0 }, { account: 'spare', priority: 1 }], 'sora-2-pro': ['primary'] },
      },
      { TEST_KIE_KEY: KIE_KEY },
      { captureLogs: 'trace' },
    ));
  });
  afterAll(async () => {
    await service?.close();
    await kie?.close();
  });

  it('carry what an operator needs and never a key, a token or a signature', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const account = (await (await fetch(`${base}/admin/v1/accounts`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'secrets', credits: 100 }) })).json()) as { id: string };
    const { key } = (await (await fetch(`${base}/admin/v1/accounts/${account.id}/keys`, { method: 'POST', headers: admin, body: '{}' })).json()) as { key: string };
    const api = client(base, { authorization: `Bearer ${key}` });
    expect((await api.call('GET', '/api/v1/account')).status).toBe(200);
    expect((await client(base, { authorization: `Bearer ${key}x` }).call('GET', '/api/v1/account')).status).toBe(401);

    // The first account answers 500 with text that quotes its key: the task fails over to the spare.
    kie.inject('create', { kind: 'http', status: 500, body: `upstream broke for Bearer ${KIE_KEY}` }, 1);
    const fileUrl = await api.uploadImage();
    expect((await fetch(fileUrl)).status).toBe(200);
    const task = await api.settle((await api.create({ model: 'sora-2', prompt: 'secrets stay out of logs' })).id);
    await expectSucceededAndCaptured(service, task);
    const resultUrl = task.result!.media[0]!.url;
    expect((await fetch(resultUrl)).status).toBe(200);
    const forged = new URL(resultUrl);
    forged.searchParams.set('sig', 'forged-signature-value');
    expect((await fetch(forged)).status).toBe(404);
    const callbackUrls = kie.callbacks.map((callback) => callback.url);
    expect(callbackUrls.length).toBeGreaterThan(0);
    const replayed = await fetch(callbackUrls[0]!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(replayed.status).toBe(200);

    const text = service.logs.join('\n');
    const secrets = [
      key, ADMIN_TOKEN, KIE_KEY, service.runtime.config.secret!, 'forged-signature-value',
      signatureOf(fileUrl), signatureOf(resultUrl), ...callbackUrls.map(signatureOf),
    ];
    for (const secret of secrets) expect(service.logs.filter((line) => line.includes(secret))).toEqual([]);
    expect(text).not.toMatch(/[?&](sig|expires)=/);

    const lines = service.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toContainEqual(expect.objectContaining({
      msg: 'upstream call failed', level: 40, task_id: task.id, provider: 'primary', operation: 'submit', reason: 'http_500', retryable: true,
    }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'task ended', task_id: task.id, status: 'succeeded', provider: 'spare' }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'request', route: '/api/v1/provider-callbacks/:taskId', status: 200 }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'request', route: '/objects/:target/*', status: 404 }));
  });
});
