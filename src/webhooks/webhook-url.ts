import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { refusedAddressKind } from './address-policy.js';

/** The longest webhook URL accepted. */
export const WEBHOOK_URL_MAX = 2048;

/** Resolves a host name to its addresses (IPv4 and IPv6). Injected in tests to play DNS. */
export type HostResolver = (hostname: string) => Promise<string[]>;

/** How long a name may take to resolve before the URL is refused (registration) or the attempt fails. */
const RESOLVE_TIMEOUT_MS = 5000;

/** The system resolver (getaddrinfo, as every other connection of this process resolves names). */
export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

export interface WebhookUrlPolicyConfig {
  /** `RIVYA_WEBHOOKS_ALLOW_INSECURE`: http, and any address (development and tests). */
  allowInsecure: boolean;
  resolve: HostResolver;
}

/** A webhook target refused at connect time: its name now resolves to an address webhooks may not reach. */
export class RefusedAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedAddressError';
  }
}

/** The URL's host as an address or a name (IPv6 without its brackets). */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * Where webhooks may go, checked when a URL is registered and again each time one is sent (a
 * name that resolved to a public address then may not now): `https` only, no credentials, at most
 * 2048 characters, and a host whose every address is public (see `refusedAddressKind`). With
 * `allowInsecure`, `http` and any address are allowed.
 */
export function createWebhookUrlPolicy(config: WebhookUrlPolicyConfig) {
  /** The addresses of `hostname`, every one allowed; throws `RefusedAddressError` otherwise. */
  async function checkedAddresses(hostname: string): Promise<string[]> {
    if (isIP(hostname)) {
      const kind = config.allowInsecure ? null : refusedAddressKind(hostname);
      if (kind) throw new RefusedAddressError(`${hostname} is a ${kind} address: webhooks are sent only to public addresses.`);
      return [hostname];
    }
    let timer: NodeJS.Timeout | undefined;
    const addresses = await Promise.race([
      config.resolve(hostname),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new RefusedAddressError(`${hostname} did not resolve within ${RESOLVE_TIMEOUT_MS / 1000} s.`)), RESOLVE_TIMEOUT_MS);
      }),
    ]).catch((error: unknown) => {
      if (error instanceof RefusedAddressError) throw error;
      throw new RefusedAddressError(`${hostname} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'no address'}).`);
    }).finally(() => clearTimeout(timer));
    if (addresses.length === 0) throw new RefusedAddressError(`${hostname} does not resolve to any address.`);
    if (!config.allowInsecure) {
      for (const address of addresses) {
        const kind = refusedAddressKind(address);
        if (kind) throw new RefusedAddressError(`${hostname} resolves to ${address}, a ${kind} address: webhooks are sent only to public addresses.`);
      }
    }
    return addresses;
  }

  return {
    allowInsecure: config.allowInsecure,
    checkedAddresses,

    /**
     * Why `url` may not receive webhooks, as the message of a `validation_failed` on the field that
     * holds it; null when it may. Resolves the host: a name resolving to any private, loopback,
     * link-local or metadata address is refused.
     */
    async check(url: string): Promise<string | null> {
      if (url.length > WEBHOOK_URL_MAX) return `Must be at most ${WEBHOOK_URL_MAX} characters, got ${url.length}.`;
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return 'Must be an absolute URL such as https://example.com/webhooks.';
      }
      if (parsed.href.length > WEBHOOK_URL_MAX) return `Must be at most ${WEBHOOK_URL_MAX} characters once normalized, got ${parsed.href.length}.`;
      const schemes = config.allowInsecure ? ['https:', 'http:'] : ['https:'];
      if (!schemes.includes(parsed.protocol)) {
        return config.allowInsecure ? 'Must be an http or https URL.' : 'Must be an https URL (http is allowed only with RIVYA_WEBHOOKS_ALLOW_INSECURE=true on the server).';
      }
      if (parsed.username !== '' || parsed.password !== '') return 'Must not carry credentials (user:password@): authenticate deliveries by their signature.';
      if (parsed.hostname === '') return 'Must name a host.';
      // Insecure mode (development, tests) allows any address: nothing to resolve before sending.
      if (config.allowInsecure) return null;
      try {
        await checkedAddresses(hostOf(parsed));
      } catch (error) {
        if (error instanceof RefusedAddressError) return error.message;
        throw error;
      }
      return null;
    },
  };
}

export type WebhookUrlPolicy = ReturnType<typeof createWebhookUrlPolicy>;
