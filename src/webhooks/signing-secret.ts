import { createHmac, randomBytes } from 'node:crypto';

/** Signing secrets are shown as `whsec_` + the base64 of their random bytes (Standard Webhooks). */
export const SECRET_PREFIX = 'whsec_';

/** Random bytes in a new secret (the spec allows 24 to 64). */
const SECRET_BYTES = 32;

/** How long a rotated-out secret keeps signing beside its successor. */
export const ROTATION_OVERLAP_MS = 24 * 3600 * 1000;

/** A new signing secret, `whsec_<base64 of 32 random bytes>`. */
export function newSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** A secret and, for a day after a rotation, the one it replaced. */
export interface SigningSecrets {
  secret: string;
  previousSecret: string | null;
  /** When `previousSecret` stops signing. */
  previousExpiresAt: Date | null;
}

/** The secrets that sign now: the current one, and the previous one while its overlap lasts. */
export function activeSecrets(secrets: SigningSecrets, now: Date): string[] {
  const previous = secrets.previousSecret !== null && secrets.previousExpiresAt !== null && secrets.previousExpiresAt > now
    ? [secrets.previousSecret]
    : [];
  return [secrets.secret, ...previous];
}

/**
 * The `webhook-signature` header of a delivery (Standard Webhooks, symmetric): for each secret,
 * `v1,` + the base64 HMAC-SHA256, keyed with the base64-decoded part after `whsec_`, of
 * `${id}.${timestamp}.${body}`; several are separated by spaces.
 */
export function signatureHeader(secrets: readonly string[], id: string, timestamp: number, body: string): string {
  const content = `${id}.${timestamp}.${body}`;
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
      return `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`;
    })
    .join(' ');
}
