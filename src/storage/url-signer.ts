import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signs and checks the local object store's URLs: HMAC-SHA256 over the target, key and expiry
 * with the server secret. A URL altered in any part, or past its expiry, does not verify.
 */
export interface UrlSigner {
  sign(target: string, key: string, expiresAt: Date): string;
  verify(target: string, key: string, expires: string, signature: string, now: Date): boolean;
}

export function createUrlSigner(secret: string): UrlSigner {
  const mac = (target: string, key: string, expires: string) =>
    createHmac('sha256', secret).update(`object\n${target}\n${key}\n${expires}`).digest('base64url');
  return {
    sign(target, key, expiresAt) {
      const expires = String(Math.floor(expiresAt.getTime() / 1000));
      return `expires=${expires}&sig=${mac(target, key, expires)}`;
    },
    verify(target, key, expires, signature, now) {
      if (!/^\d{1,12}$/.test(expires)) return false;
      const expected = Buffer.from(mac(target, key, expires));
      const given = Buffer.from(signature);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
      return Number(expires) * 1000 > now.getTime();
    },
  };
}
