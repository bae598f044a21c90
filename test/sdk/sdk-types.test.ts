import { readFile } from 'node:fs/promises';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type {
  ApiKey, ApiKeyCreated, CreateTaskParams, EventType, FileObject, ModelId, ModelParams, RivyaEvent, Task, TaskEvent, WebhookDelivery, WebhookDeliveryAttempt,
  WebhookEndpoint,
} from '../../packages/sdk/src/index.js';
import type { EventView } from '../../src/events/present-event.js';
import type { FileView } from '../../src/files/file-service.js';
import type { ApiKeyCreated as ServerApiKeyCreated, ApiKeyListed } from '../../src/accounts/account-store.js';
import type { presentDelivery, presentEndpoint } from '../../src/webhooks/webhook-views.js';
import type { TaskView } from '../../src/tasks/present-task.js';
import { ApiError, ERROR_STATUSES, Rivya } from '../../packages/sdk/src/index.js';
import { errorFromResponse } from '../../packages/sdk/src/errors.js';
import { renderSdkCatalog, SDK_CATALOG_PATH } from '../../scripts/generate-sdk-catalog.js';
import { MODEL_IDS } from '../../src/catalog/models.js';
import { ERROR_CODES } from '../../src/errors.js';

/**
 * The SDK's request types come from the catalog. These checks run in `tsc` (npm test type-checks
 * the tests): each `@ts-expect-error` line must fail to compile, or the build fails.
 */
describe('SDK types', () => {
  it('accept size for sora-2-pro and refuse it for sora-2, at compile time', () => {
    const pro: CreateTaskParams = { model: 'sora-2-pro', prompt: 'p', params: { size: 'high', n_frames: '15' } };
    // @ts-expect-error — sora-2 has no `size` parameter.
    const sora: CreateTaskParams = { model: 'sora-2', prompt: 'p', params: { size: 'high' } };
    // @ts-expect-error — n_frames is a select of '10' | '15'.
    const badFrames: CreateTaskParams = { model: 'sora-2', prompt: 'p', params: { n_frames: '12' } };
    // @ts-expect-error — an unknown model.
    const badModel: CreateTaskParams = { model: 'sora-3', prompt: 'p' };
    // @ts-expect-error — the prompt is required.
    const noPrompt: CreateTaskParams = { model: 'sora-2' };
    expectTypeOf<ModelId>().toEqualTypeOf<'sora-2' | 'sora-2-pro'>();
    expectTypeOf<ModelParams<'sora-2-pro'>['size']>().toEqualTypeOf<'standard' | 'high' | undefined>();
    // Options may also be sent as their JSON number or boolean, as the API accepts.
    expectTypeOf<ModelParams<'sora-2'>['n_frames']>().toEqualTypeOf<'10' | '15' | 10 | 15 | undefined>();
    expectTypeOf<ModelParams<'sora-2'>['remove_watermark']>().toEqualTypeOf<'false' | 'true' | boolean | undefined>();
    // @ts-expect-error — 12 is not an option, as a number either.
    const twelve: CreateTaskParams = { model: 'sora-2', prompt: 'p', params: { n_frames: 12 } };
    expect(twelve).toBeDefined();
    expectTypeOf<ModelParams<'sora-2'>['size']>().toEqualTypeOf<undefined>();
    // Not only object literals: a params object built elsewhere with `size` is refused for sora-2 too.
    const built = { size: 'high' as const, n_frames: '10' as const };
    // @ts-expect-error — sora-2 has no `size`, even through a variable.
    const viaVariable: CreateTaskParams = { model: 'sora-2', prompt: 'p', params: built };
    const forPro: CreateTaskParams = { model: 'sora-2-pro', prompt: 'p', params: built };
    expect([viaVariable, forPro]).toHaveLength(2);
    expectTypeOf<Rivya['tasks']['create']>().parameter(0).toEqualTypeOf<CreateTaskParams>();
    // A reference is a file by its id alone, or the long form; a url alone is neither.
    const byId: CreateTaskParams = { model: 'sora-2', prompt: 'p', params: { referenceMediaItems: [{ file_id: 'file_x' }] } };
    const longForm: CreateTaskParams = {
      model: 'sora-2', prompt: 'p', params: { referenceMediaItems: [{ url: 'u', kind: 'image', name: 'n', mimeType: 'image/png' }] },
    };
    // @ts-expect-error — without file_id, kind, name and mimeType are required.
    const urlOnly: CreateTaskParams = { model: 'sora-2', prompt: 'p', params: { referenceMediaItems: [{ url: 'u' }] } };
    expect([byId, longForm, urlOnly]).toHaveLength(3);
    expect([pro, sora, badFrames, badModel, noPrompt]).toHaveLength(5);
  });

  it('type events by their type: narrowing on type gives the task, a types filter narrows a stream', () => {
    expectTypeOf<EventType>().toEqualTypeOf<
      'task.queued' | 'task.running' | 'task.progress' | 'task.succeeded' | 'task.failed' | 'task.canceled' | 'webhook.test'
    >();
    const handle = (event: RivyaEvent): string => {
      // @ts-expect-error — not every event carries a task (webhook.test does not).
      const unsure: Task = event.data.task;
      if (event.type === 'webhook.test') {
        // @ts-expect-error — a test event has no task.
        return String(event.data.task.id);
      }
      expectTypeOf(event).toExtend<TaskEvent>();
      const task: Task = event.data.task;
      // @ts-expect-error — no such event type.
      if (event.type === 'task.done') return 'never';
      return `${task.id} ${unsure.id}`;
    };
    expect(handle).toBeTypeOf('function');
    const client = new Rivya({ apiKey: 'rv_types', baseUrl: 'http://127.0.0.1:9' });
    expectTypeOf(client.tasks.stream('task_x')).toEqualTypeOf<AsyncGenerator<TaskEvent, void, undefined>>();
    // Asking for some types yields those types only.
    const ended = client.events.stream({ types: ['task.succeeded', 'task.failed'] });
    expectTypeOf(ended).toEqualTypeOf<AsyncGenerator<TaskEvent<'task.succeeded'> | TaskEvent<'task.failed'>, void, undefined>>();
    // @ts-expect-error — not an event type.
    const bogus = client.events.stream({ types: ['task.finished'] });
    // @ts-expect-error — webhook endpoints subscribe to task events or '*', not webhook.test.
    const endpointEvents: WebhookEndpoint['events'] = ['webhook.test'];
    expect([ended, bogus, endpointEvents]).toHaveLength(3);
    void ended.return();
    void bogus.return();
  });

  it('are generated from the catalog the server validates with (regenerate: npm run generate:sdk-catalog)', async () => {
    expect(await readFile(SDK_CATALOG_PATH, 'utf8')).toBe(renderSdkCatalog());
    expect(MODEL_IDS).toEqual(['sora-2', 'sora-2-pro']);
  });

  it('describe the same objects the server presents (no field added or lost on either side)', () => {
    expectTypeOf<keyof Task>().toEqualTypeOf<keyof TaskView>();
    expectTypeOf<keyof FileObject>().toEqualTypeOf<keyof FileView>();
    expectTypeOf<TaskView['result']>().toExtend<Task['result']>();
    expectTypeOf<keyof RivyaEvent>().toEqualTypeOf<keyof EventView>();
    expectTypeOf<RivyaEvent['type']>().toEqualTypeOf<EventView['type']>();
    type EndpointView = ReturnType<typeof presentEndpoint>;
    type DeliveryView = ReturnType<typeof presentDelivery>;
    expectTypeOf<keyof WebhookEndpoint>().toEqualTypeOf<keyof EndpointView>();
    expectTypeOf<keyof WebhookDelivery>().toEqualTypeOf<keyof DeliveryView>();
    expectTypeOf<keyof WebhookDeliveryAttempt>().toEqualTypeOf<keyof DeliveryView['attempts'][number]>();
    expectTypeOf<DeliveryView['status']>().toEqualTypeOf<WebhookDelivery['status']>();
    expectTypeOf<keyof ApiKey>().toEqualTypeOf<keyof ApiKeyListed>();
    expectTypeOf<keyof ApiKeyCreated>().toEqualTypeOf<keyof ServerApiKeyCreated>();
  });

  it('have one error per contract code, with the server\'s statuses', () => {
    expect(ERROR_STATUSES).toEqual(Object.fromEntries(Object.entries(ERROR_CODES).map(([code, spec]) => [code, spec.status])));
    // A code the SDK does not know, even one named like an object's own property, is a plain ApiError.
    for (const code of ['constructor', 'toString', 'brand_new_code']) {
      const error = errorFromResponse(400, { error: { code, message: 'm', details: null, request_id: 'r' } }, new Headers());
      expect(error.constructor, code).toBe(ApiError);
      expect(error.code).toBe(code);
    }
  });

  it('ship as a package with no runtime dependencies that resolves as @rivya/sdk (built ESM + types)', async () => {
    const manifest = JSON.parse(await readFile(new URL('../../packages/sdk/package.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    expect(manifest['dependencies']).toBeUndefined();
    const specifier = '@rivya/sdk';
    const built = (await import(specifier)) as { Rivya: unknown; ValidationError: unknown };
    expect(typeof built.Rivya).toBe('function');
    expect(typeof built.ValidationError).toBe('function');
    await expect(readFile(new URL('../../packages/sdk/dist/index.d.ts', import.meta.url), 'utf8')).resolves.toContain('Rivya');
  });
});
