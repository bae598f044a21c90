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

/** Secrets rotated out before the previous one, still in their overlap, that are kept signing. */
export const MAX_OLDER_SECRETS = 4;

/** A rotated-out secret and when it stops signing. */
export interface RetiringSecret {
  secret: string;
  expiresAt: Date;
}

/**
 * A secret and, for a day after each rotation, the ones it replaced: the previous one, and older
 * ones whose day has not ended (several rotations within a day each keep their overlap).
 */
export interface SigningSecrets {
  secret: string;
  previousSecret: string | null;
  /** When `previousSecret` stops signing. */
  previousExpiresAt: Date | null;
  /** Secrets rotated out before `previousSecret`, newest first (some may have expired). */
  olderSecrets: RetiringSecret[];
}

/** Reads the stored `older_secrets` column (`[{secret, expires_at}]`). */
export function parseOlderSecrets(value: unknown): RetiringSecret[] {
  const list = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  if (!Array.isArray(list)) return [];
  return list.map((item: { secret: string; expires_at: string }) => ({ secret: item.secret, expiresAt: new Date(item.expires_at) }));
}

/**
 * The `older_secrets` to store at a rotation: the outgoing previous secret (if it still signs)
 * ahead of the older ones still signing at `now`, at most `MAX_OLDER_SECRETS`.
 */
export function olderSecretsAfterRotation(secrets: SigningSecrets | null, now: Date): { secret: string; expires_at: string }[] {
  if (!secrets) return [];
  const retiring: RetiringSecret[] = [
    ...(secrets.previousSecret !== null && secrets.previousExpiresAt !== null ? [{ secret: secrets.previousSecret, expiresAt: secrets.previousExpiresAt }] : []),
    ...secrets.olderSecrets,
  ];
  return retiring
    .filter((older) => older.expiresAt > now)
    .slice(0, MAX_OLDER_SECRETS)
    .map((older) => ({ secret: older.secret, expires_at: older.expiresAt.toISOString() }));
}

/** The secrets that sign now: the current one, and each rotated-out one while its overlap lasts. */
export function activeSecrets(secrets: SigningSecrets, now: Date): string[] {
  const previous = secrets.previousSecret !== null && secrets.previousExpiresAt !== null && secrets.previousExpiresAt > now
    ? [secrets.previousSecret]
    : [];
  const older = secrets.olderSecrets.filter((retiring) => retiring.expiresAt > now).map((retiring) => retiring.secret);
  return [secrets.secret, ...previous, ...older];
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
