import { RivyaError } from './errors.js';
import type { RivyaEvent } from './types.js';

/**
 * Verification of webhook deliveries as the Standard Webhooks specification defines them:
 * `webhook-signature` holds one or more space-separated `v1,<base64 HMAC-SHA256>` of
 * `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed with the base64-decoded secret after
 * `whsec_`. Only WebCrypto is used, so it runs in Node.js, Deno, browsers and edge runtimes.
 */

/** Why a delivery was refused: branch on this, not on the message. */
export type WebhookVerificationFailure =
  /** `webhook-id`, `webhook-timestamp` or `webhook-signature` is missing. */
  | 'missing_headers'
  /** The timestamp is not a whole number of seconds. */
  | 'invalid_timestamp'
  /** Older than the tolerance (a replay, or a delivery held up too long). */
  | 'timestamp_too_old'
  /** Further in the future than the tolerance. */
  | 'timestamp_too_new'
  /** No `v1` signature in the header matches the body with this secret. */
  | 'invalid_signature'
  /** The secret is not `whsec_` followed by base64. */
  | 'invalid_secret'
  /** The body is signed correctly but is not an event's JSON. */
  | 'invalid_body';

/** A webhook delivery that must not be trusted; `reason` says why. */
export class WebhookVerificationError extends RivyaError {
  override name = 'WebhookVerificationError';
  constructor(
    readonly reason: WebhookVerificationFailure,
    message: string,
  ) {
    super(message);
  }
}

/** A request's headers: a `Headers`, or a plain record such as Node's `req.headers` (names in any case). */
export type WebhookHeaders = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyOptions {
  /** How far the timestamp may be from now, either way, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The time to check against (default: now). */
  now?: Date;
}

function header(headers: WebhookHeaders, name: string): string | null {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') return (headers as Headers).get(name);
  for (const [key, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    return typeof value === 'string' ? value : value.join(', ');
  }
  return null;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return null;
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
    return bytes;
  } catch {
    return null;
  }
}

const encoder = new TextEncoder();

function bodyBytes(rawBody: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof rawBody === 'string') return encoder.encode(rawBody);
  if (rawBody instanceof Uint8Array) return rawBody;
  if (rawBody instanceof ArrayBuffer) return new Uint8Array(rawBody);
  throw new TypeError('rawBody must be the request body as received (a string, Uint8Array or ArrayBuffer), not a parsed object: re-serialized JSON does not match the signature.');
}

/** The key of a `whsec_…` secret (the prefix is optional, as in the specification's libraries). */
/** WebCrypto's key type, named without the DOM library. */
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

async function importKey(secret: string): Promise<HmacKey> {
  const key = decodeBase64(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
  if (!key || key.length === 0) throw new WebhookVerificationError('invalid_secret', 'The webhook secret is not whsec_ followed by base64.');
  return crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
}

/**
 * Checks a webhook delivery and returns its event. `rawBody` is the body exactly as received
 * (before any JSON parsing); `secret` is the endpoint's `whsec_…` (or several, e.g. while
 * moving to a rotated one: any may match). The signature is checked by WebCrypto's HMAC
 * verify (constant time); any one of the header's `v1` signatures may match; the timestamp
 * must be within `toleranceSeconds` of now, either way. Throws `WebhookVerificationError`.
 */
export async function verifyWebhook(
  rawBody: string | Uint8Array | ArrayBuffer,
  headers: WebhookHeaders,
  secret: string | readonly string[],
  options: VerifyOptions = {},
): Promise<RivyaEvent> {
  const body = bodyBytes(rawBody);
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError('missing_headers', 'The request lacks webhook-id, webhook-timestamp or webhook-signature.');
  }
  if (!/^\d{1,15}$/.test(timestamp.trim())) throw new WebhookVerificationError('invalid_timestamp', `webhook-timestamp is not Unix seconds: "${timestamp}".`);
  const tolerance = options.toleranceSeconds ?? 300;
  if (!(tolerance >= 0)) throw new RangeError(`toleranceSeconds must be a number of seconds from 0, not ${tolerance}.`);
  const nowMs = (options.now ?? new Date()).getTime();
  if (!Number.isFinite(nowMs)) throw new RangeError('now must be a valid Date: the timestamp cannot be checked against an invalid one.');
  const now = Math.floor(nowMs / 1000);
  const sentAt = Number(timestamp.trim());
  if (sentAt < now - tolerance) throw new WebhookVerificationError('timestamp_too_old', `The delivery was signed ${now - sentAt} s ago, more than the ${tolerance} s allowed.`);
  if (sentAt > now + tolerance) throw new WebhookVerificationError('timestamp_too_new', `The delivery is timestamped ${sentAt - now} s in the future, more than the ${tolerance} s allowed.`);

  const prefix = encoder.encode(`${id}.${timestamp.trim()}.`);
  const signed = new Uint8Array(prefix.length + body.length);
  signed.set(prefix);
  signed.set(body, prefix.length);
  const candidates = signatures
    .split(' ')
    .map((part) => part.split(','))
    .flatMap(([version, value]) => (version === 'v1' && value ? [decodeBase64(value)] : []))
    .filter((value): value is Uint8Array<ArrayBuffer> => value !== null);
  let matched = false;
  for (const key of await Promise.all((typeof secret === 'string' ? [secret] : [...secret]).map(importKey))) {
    for (const candidate of candidates) {
      // Every candidate is checked (no early exit), each in constant time by the runtime's HMAC verify.
      if (await crypto.subtle.verify('HMAC', key, candidate, signed)) matched = true;
    }
  }
  if (!matched) throw new WebhookVerificationError('invalid_signature', 'No webhook-signature matches the body with this secret.');

  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new WebhookVerificationError('invalid_body', 'The signed body is not JSON.');
  }
  const shape = event as { id?: unknown; type?: unknown } | null;
  if (typeof shape !== 'object' || shape === null || typeof shape.id !== 'string' || typeof shape.type !== 'string') {
    throw new WebhookVerificationError('invalid_body', 'The signed body is not an event ({id, type, created_at, data}).');
  }
  return event as RivyaEvent;
}
