import { EdgeVM } from '@edge-runtime/vm';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rivya } from '../../packages/sdk/src/index.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/wait-for.js';

const ENTRY = fileURLToPath(new URL('../../packages/sdk/src/index.ts', import.meta.url));

/**
 * The SDK's streams and webhook verification outside Node: in an edge runtime's context (only
 * the web platform's globals — fetch, streams, TextDecoder, WebCrypto, atob; no process, Buffer or
 * require), with the SDK bundled as a browser would load it.
 */
describe('SDK in an edge runtime', () => {
  let service: TestService;
  let key: string;
  let bundle: string;

  beforeAll(async () => {
    service = await startTestService(BACKENDS[0]!, { listen: true, env: { RIVYA_PROVIDER: 'local', RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true' } });
    ({ key } = await service.newAccount(1000));
    const built = await build({
      entryPoints: [ENTRY], bundle: true, format: 'iife', globalName: 'RivyaSdk', platform: 'neutral', target: 'es2022', write: false,
      // Uploads from a file path load node:fs on demand; nothing else may need Node.
      external: ['node:*'],
    });
    bundle = built.outputFiles[0]!.text;
  });
  afterAll(async () => service?.close());

  function edge(input: Record<string, unknown>): EdgeVM {
    const vm = new EdgeVM();
    expect(vm.evaluate<string>('[typeof process, typeof Buffer, typeof require].join()')).toBe('undefined,undefined,undefined');
    vm.evaluate(bundle);
    vm.context['input'] = input;
    return vm;
  }

  it('follows a task over its event stream', async () => {
    const vm = edge({ key, baseUrl: service.runtime.config.publicUrl });
    const types = await vm.evaluate<Promise<string[]>>(`(async () => {
      const rivya = new RivyaSdk.Rivya({ apiKey: input.key, baseUrl: input.baseUrl });
      const task = await rivya.tasks.create({ model: 'sora-2', prompt: 'rendered for the edge' });
      const types = [];
      for await (const event of rivya.tasks.stream(task.id)) types.push(event.type);
      return types;
    })()`);
    expect(types.at(-1)).toBe('task.succeeded');
    expect(types).toContain('task.progress');
  }, 60_000);

  it('verifies a delivery the service signed, and refuses it tampered, with another secret, or too old', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const client = new Rivya({ apiKey: key, baseUrl: service.runtime.config.publicUrl });
      const endpoint = await client.webhookEndpoints.create({ url: receiver.url, events: ['task.succeeded'] });
      await client.tasks.run({ model: 'sora-2', prompt: 'signed for the edge' });
      await waitFor(() => receiver.received.length > 0, 30_000, 'the delivery');
      const delivery = receiver.received[0]!;
      const vm = edge({ body: delivery.body, headers: delivery.headers, secret: endpoint.secret, other: `whsec_${btoa('x'.repeat(32))}` });
      const outcome = await vm.evaluate<Promise<Record<string, string>>>(`(async () => {
        const reason = (promise) => promise.then(() => 'accepted', (error) => error instanceof RivyaSdk.WebhookVerificationError ? error.reason : String(error));
        const headers = new Headers(input.headers);
        const event = await RivyaSdk.verifyWebhook(input.body, headers, input.secret);
        return {
          type: event.type,
          bytes: (await RivyaSdk.verifyWebhook(new TextEncoder().encode(input.body), input.headers, input.secret)).type,
          tampered: await reason(RivyaSdk.verifyWebhook(input.body.replace('succeeded', 'failed'), headers, input.secret)),
          other: await reason(RivyaSdk.verifyWebhook(input.body, headers, input.other)),
          old: await reason(RivyaSdk.verifyWebhook(input.body, headers, input.secret, { now: new Date(Date.now() + 3_600_000) })),
        };
      })()`);
      expect(outcome).toEqual({ type: 'task.succeeded', bytes: 'task.succeeded', tampered: 'invalid_signature', other: 'invalid_signature', old: 'timestamp_too_old' });
    } finally {
      await receiver.close();
    }
  }, 60_000);
});
