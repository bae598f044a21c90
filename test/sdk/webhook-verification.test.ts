import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Rivya, verifyWebhook, WebhookVerificationError, type RivyaEvent } from '../../packages/sdk/src/index.js';

/** Signs as the Standard Webhooks specification says, with node:crypto (independently of the SDK). */
function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const now = () => Math.floor(Date.now() / 1000);

const event = {
  id: 'evt_000000000007abcdefghij',
  type: 'task.succeeded',
  created_at: '2026-05-11T00:00:00.000Z',
  data: { task: { id: 'task_x', status: 'succeeded', prompt: 'ünïcode 😀' } },
};
const body = JSON.stringify(event);

function failure(promise: Promise<unknown>): Promise<WebhookVerificationError> {
  return promise.then(
    () => {
      throw new Error('verified, but should have been refused');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(WebhookVerificationError);
      return error as WebhookVerificationError;
    },
  );
}

describe('verifyWebhook', () => {
  it('accepts a delivery signed as the specification says, and returns its event', async () => {
    const secret = newSecret();
    const timestamp = now();
    const headers = { 'webhook-id': event.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': sign(secret, event.id, timestamp, body) };
    const verified: RivyaEvent = await verifyWebhook(body, headers, secret);
    expect(verified).toEqual(event);
    // The body as bytes, the headers as a Headers object or in any case, through the client too.
    const bytes = new TextEncoder().encode(body);
    expect(await verifyWebhook(bytes, new Headers(headers), secret)).toEqual(event);
    expect(await verifyWebhook(bytes.buffer, { 'Webhook-Id': event.id, 'WEBHOOK-TIMESTAMP': String(timestamp), 'Webhook-Signature': headers['webhook-signature'] }, secret)).toEqual(event);
    const client = new Rivya({ apiKey: 'rv_unused', baseUrl: 'http://127.0.0.1:9' });
    expect(await client.webhooks.verify(body, headers, secret)).toEqual(event);
  });

  it('accepts any one of several signatures (a rotation), and any one of several secrets', async () => {
    const [old, current] = [newSecret(), newSecret()];
    const timestamp = now();
    const both = `${sign(old, event.id, timestamp, body)} ${sign(current, event.id, timestamp, body)}`;
    const headers = { 'webhook-id': event.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': both };
    expect((await verifyWebhook(body, headers, old)).id).toBe(event.id);
    expect((await verifyWebhook(body, headers, current)).id).toBe(event.id);
    // Unknown versions and garbage beside a valid signature are skipped.
    const mixed = `v2,abc v1,!!! v1a,zzz ${sign(current, event.id, timestamp, body)}`;
    expect((await verifyWebhook(body, { ...headers, 'webhook-signature': mixed }, current)).id).toBe(event.id);
    const single = { ...headers, 'webhook-signature': sign(current, event.id, timestamp, body) };
    expect((await verifyWebhook(body, single, [newSecret(), current])).id).toBe(event.id);
  });

  it('refuses a tampered body, a wrong secret, another id or timestamp than was signed', async () => {
    const secret = newSecret();
    const timestamp = now();
    const signature = sign(secret, event.id, timestamp, body);
    const headers = { 'webhook-id': event.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
    expect((await failure(verifyWebhook(body.replace('succeeded', 'failed'), headers, secret))).reason).toBe('invalid_signature');
    expect((await failure(verifyWebhook(`${body} `, headers, secret))).reason).toBe('invalid_signature');
    expect((await failure(verifyWebhook(body, headers, newSecret()))).reason).toBe('invalid_signature');
    expect((await failure(verifyWebhook(body, { ...headers, 'webhook-id': 'evt_other' }, secret))).reason).toBe('invalid_signature');
    expect((await failure(verifyWebhook(body, { ...headers, 'webhook-timestamp': String(timestamp - 1) }, secret))).reason).toBe('invalid_signature');
    // A signature cut short, or of another scheme, matches nothing.
    expect((await failure(verifyWebhook(body, { ...headers, 'webhook-signature': signature.slice(0, -4) }, secret))).reason).toBe('invalid_signature');
    expect((await failure(verifyWebhook(body, { ...headers, 'webhook-signature': signature.replace('v1,', 'v1a,') }, secret))).reason).toBe('invalid_signature');
    expect((await failure(verifyWebhook(body, headers, []))).reason).toBe('invalid_signature');
  });

  it('refuses an old or future timestamp beyond the tolerance, and takes its own tolerance', async () => {
    const secret = newSecret();
    const at = (timestamp: number) => ({ 'webhook-id': event.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': sign(secret, event.id, timestamp, body) });
    expect((await failure(verifyWebhook(body, at(now() - 301), secret))).reason).toBe('timestamp_too_old');
    expect((await failure(verifyWebhook(body, at(now() + 301), secret))).reason).toBe('timestamp_too_new');
    expect((await verifyWebhook(body, at(now() - 290), secret)).id).toBe(event.id);
    expect((await verifyWebhook(body, at(now() - 3600), secret, { toleranceSeconds: 7200 })).id).toBe(event.id);
    expect((await failure(verifyWebhook(body, at(now() - 61), secret, { toleranceSeconds: 60 }))).reason).toBe('timestamp_too_old');
    const then = new Date('2026-01-01T00:00:00Z');
    expect((await verifyWebhook(body, at(then.getTime() / 1000), secret, { now: then })).id).toBe(event.id);
    expect((await failure(verifyWebhook(body, { ...at(now()), 'webhook-timestamp': '1e9' }, secret))).reason).toBe('invalid_timestamp');
    // A `now` that is no time (a date parsed from bad input) must not switch the replay check off.
    await expect(verifyWebhook(body, at(now() - 86_400 * 365), secret, { now: new Date('not a date') })).rejects.toThrow(RangeError);
  });

  it('says what is missing or malformed, without trusting anything', async () => {
    const secret = newSecret();
    const timestamp = now();
    const headers = { 'webhook-id': event.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': sign(secret, event.id, timestamp, body) };
    for (const name of Object.keys(headers)) {
      const partial: Record<string, string> = { ...headers };
      delete partial[name];
      expect((await failure(verifyWebhook(body, partial, secret))).reason, name).toBe('missing_headers');
    }
    expect((await failure(verifyWebhook(body, headers, 'whsec_not base64!'))).reason).toBe('invalid_secret');
    expect((await failure(verifyWebhook(body, headers, 'whsec_'))).reason).toBe('invalid_secret');
    // A correctly signed body that is not an event.
    const notJson = 'not json';
    const signedNotJson = { ...headers, 'webhook-signature': sign(secret, event.id, timestamp, notJson) };
    expect((await failure(verifyWebhook(notJson, signedNotJson, secret))).reason).toBe('invalid_body');
    // A parsed body is a mistake the caller must hear about: its re-serialization is not what was signed.
    await expect(verifyWebhook(event as never, headers, secret)).rejects.toBeInstanceOf(TypeError);
  });
});
