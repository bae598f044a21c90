import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Duration tokens: tamper-evident proof that a file of an account lasts a given time, issued by
 * the Files API for video and audio. `v1.<payload>.<mac>`, the payload being
 * base64url(`fileId:accountId:durationSeconds`) and the MAC an HMAC-SHA256 with the server secret.
 */
export interface DurationClaim {
  fileId: string;
  accountId: string;
  durationSeconds: number;
}

export interface DurationTokens {
  issue(claim: DurationClaim): string;
  /** The claim of a token this server issued, or null for anything altered or malformed. */
  read(token: string): DurationClaim | null;
}

export function createDurationTokens(secret: string): DurationTokens {
  const mac = (payload: string) => createHmac('sha256', secret).update(`duration-token\n${payload}`).digest('base64url');
  return {
    issue({ fileId, accountId, durationSeconds }) {
      const payload = Buffer.from(`${fileId}:${accountId}:${durationSeconds}`).toString('base64url');
      return `v1.${payload}.${mac(payload)}`;
    },
    read(token) {
      const [version, payload, signature, ...rest] = token.split('.');
      if (version !== 'v1' || !payload || !signature || rest.length > 0) return null;
      const expected = Buffer.from(mac(payload));
      const given = Buffer.from(signature);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
      const [fileId, accountId, duration] = Buffer.from(payload, 'base64url').toString('utf8').split(':');
      const durationSeconds = Number(duration);
      if (!fileId || !accountId || !Number.isFinite(durationSeconds)) return null;
      return { fileId, accountId, durationSeconds };
    },
  };
}
