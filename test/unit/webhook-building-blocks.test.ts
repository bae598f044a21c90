import { describe, expect, it } from 'vitest';
import { refusedAddressKind } from '../../src/webhooks/address-policy.js';
import { nextRetryDelayMs, parseRetryAfter, RETRY_DELAYS_MS } from '../../src/webhooks/retry-schedule.js';
import { activeSecrets, MAX_OLDER_SECRETS, newSigningSecret, olderSecretsAfterRotation, signatureHeader } from '../../src/webhooks/signing-secret.js';
import { createWebhookUrlPolicy } from '../../src/webhooks/webhook-url.js';

describe('webhook signatures', () => {
  it('match the Standard Webhooks reference vector', () => {
    expect(signatureHeader(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'))
      .toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('sign with every active secret, space-separated; a previous secret only until its overlap ends', () => {
    const secrets = { secret: newSigningSecret(), previousSecret: newSigningSecret(), previousExpiresAt: new Date('2026-01-02T00:00:00Z'), olderSecrets: [] };
    expect(activeSecrets(secrets, new Date('2026-01-01T23:59:59Z'))).toEqual([secrets.secret, secrets.previousSecret]);
    expect(activeSecrets(secrets, new Date('2026-01-02T00:00:00Z'))).toEqual([secrets.secret]);
    const header = signatureHeader(activeSecrets(secrets, new Date('2026-01-01T00:00:00Z')), 'evt_1', 1, '{}');
    expect(header.split(' ')).toEqual([signatureHeader([secrets.secret], 'evt_1', 1, '{}'), signatureHeader([secrets.previousSecret], 'evt_1', 1, '{}')]);
  });

  it('a rotation keeps every rotated-out secret still in its overlap, newest first and at most a few', () => {
    const at = (hour: number) => new Date(Date.UTC(2026, 0, 1, hour));
    const older = Array.from({ length: MAX_OLDER_SECRETS + 2 }, (_, index) => ({ secret: newSigningSecret(), expiresAt: at(20 - index) }));
    const secrets = { secret: newSigningSecret(), previousSecret: newSigningSecret(), previousExpiresAt: at(23), olderSecrets: older };
    // At 16:00 the two oldest (expiring at 16:00 and 15:00) have ended.
    expect(olderSecretsAfterRotation(secrets, at(16))).toEqual([
      { secret: secrets.previousSecret, expires_at: at(23).toISOString() },
      ...older.slice(0, MAX_OLDER_SECRETS - 1).map((o) => ({ secret: o.secret, expires_at: o.expiresAt.toISOString() })),
    ]);
    expect(activeSecrets(secrets, at(19))).toEqual([secrets.secret, secrets.previousSecret, older[0]!.secret]);
    expect(olderSecretsAfterRotation(null, at(0))).toEqual([]);
  });

  it('new secrets are whsec_ and the base64 of 32 random bytes', () => {
    const secret = newSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(newSigningSecret()).not.toBe(secret);
  });
});

describe('webhook address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['127.255.1.2', 'loopback'], ['10.0.0.1', 'private'], ['172.16.5.4', 'private'], ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'], ['100.64.0.1', 'carrier-grade NAT'], ['100.100.100.200', 'carrier-grade NAT'],
    ['224.0.0.1', 'multicast'], ['255.255.255.255', 'broadcast'], ['0.0.0.0', 'unspecified'], ['192.0.2.1', 'special-purpose (reserved)'],
    ['::1', 'loopback'], ['::', 'unspecified'], ['fe80::1', 'link-local'], ['fd00:ec2::254', 'unique-local (private)'], ['fc00::1', 'unique-local (private)'],
    ['ff02::1', 'multicast'], ['::ffff:127.0.0.1', 'loopback'], ['::ffff:10.0.0.1', 'private'], ['::ffff:169.254.169.254', 'link-local'],
    ['64:ff9b::7f00:1', 'special-purpose (rfc6052)'], ['2002:7f00:1::', 'special-purpose (6to4)'], ['2001:0:4136:e378::1', 'special-purpose (teredo)'],
    ['::7f00:1', 'special-purpose (reserved)'], ['2001:db8::1', 'special-purpose (reserved)'], ['[::1]', 'loopback'], ['not an address', 'unparsable'],
  ])('refuses %s (%s)', (address, kind) => {
    expect(refusedAddressKind(address)).toBe(kind);
  });

  it.each(['93.184.215.14', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows the public address %s', (address) => {
    expect(refusedAddressKind(address)).toBeNull();
  });

  it('checks a URL\'s scheme, credentials and every address its name resolves to; insecure mode allows http and any address', async () => {
    const resolve = async (name: string) => ({ 'good.test': ['93.184.215.14', '2606:4700:4700::1111'], 'mixed.test': ['93.184.215.14', '192.168.0.9'] })[name] ?? [];
    const strict = createWebhookUrlPolicy({ allowInsecure: false, resolve });
    expect(await strict.check('https://good.test/hook')).toBeNull();
    expect(await strict.check('https://93.184.215.14:8443/hook')).toBeNull();
    expect(await strict.check('https://mixed.test/')).toMatch(/192\.168\.0\.9, a private address/);
    expect(await strict.check('https://nowhere.test/')).toMatch(/does not resolve/);
    expect(await strict.check('http://good.test/')).toMatch(/https/);
    expect(await strict.check('ftp://good.test/')).toMatch(/https/);
    expect(await strict.check('https://a:b@good.test/')).toMatch(/credentials/);
    const insecure = createWebhookUrlPolicy({ allowInsecure: true, resolve });
    expect(await insecure.check('http://127.0.0.1:9/')).toBeNull();
    expect(await insecure.check('https://mixed.test/')).toBeNull();
    expect(await insecure.check('ftp://good.test/')).toMatch(/http or https/);
    await expect(insecure.checkedAddresses('mixed.test')).resolves.toEqual(['93.184.215.14', '192.168.0.9']);
    await expect(strict.checkedAddresses('mixed.test')).rejects.toThrow(/private/);
  });
});

describe('webhook retry schedule', () => {
  it('follows the Standard Webhooks schedule with ±20 % jitter, then gives up', () => {
    expect(RETRY_DELAYS_MS.map((ms) => ms / 1000)).toEqual([0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]);
    expect(nextRetryDelayMs(1, RETRY_DELAYS_MS, null, () => 0)).toBe(4000);
    expect(nextRetryDelayMs(1, RETRY_DELAYS_MS, null, () => 1)).toBe(6000);
    expect(nextRetryDelayMs(9, RETRY_DELAYS_MS, null, () => 0.5)).toBe(86_400_000);
    expect(nextRetryDelayMs(10, RETRY_DELAYS_MS, null)).toBeNull();
  });

  it('waits at least what Retry-After asks, at most a day, never less than the schedule', () => {
    expect(nextRetryDelayMs(1, RETRY_DELAYS_MS, 60_000, () => 0.5)).toBe(60_000);
    expect(nextRetryDelayMs(3, RETRY_DELAYS_MS, 1000, () => 0.5)).toBe(1_800_000);
    expect(nextRetryDelayMs(1, RETRY_DELAYS_MS, 10 * 86_400_000, () => 0.5)).toBe(86_400_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-05-11T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Mon, 11 May 2026 00:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Sun, 10 May 2026 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
    expect(parseRetryAfter('12.5', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});
