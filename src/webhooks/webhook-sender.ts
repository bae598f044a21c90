import { Agent, buildConnector } from 'undici';
import { SERVICE_VERSION } from '../version.js';
import { RefusedAddressError, type WebhookUrlPolicy } from './webhook-url.js';

/** What came of one POST to a webhook URL. */
export interface SendOutcome {
  /** The response's status; null when none came (refused, unreachable, timed out). */
  statusCode: number | null;
  /** Milliseconds from the start of the attempt to the response's head, or to the failure. */
  latencyMs: number;
  /** Why the attempt failed, for people (never a secret); null for a 2xx. */
  error: string | null;
  /** The start of the response body (at most `RESPONSE_EXCERPT_BYTES`), as text. */
  responseBody: string | null;
  /** The response's `Retry-After` header, as sent. */
  retryAfter: string | null;
}

/** How much of a receiver's answer is kept with the attempt. */
export const RESPONSE_EXCERPT_BYTES = 1024;

export const WEBHOOK_USER_AGENT = `Rivya-Webhooks/${SERVICE_VERSION}`;

export interface WebhookSenderConfig {
  policy: WebhookUrlPolicy;
  /** The whole attempt (connect, send, response head) must finish within this. */
  timeoutMs: number;
}

/** Text PostgreSQL can store, from a receiver's bytes: invalid UTF-8 and NULs become U+FFFD. */
function storableExcerpt(bytes: Buffer): string {
  return bytes.subarray(0, RESPONSE_EXCERPT_BYTES).toString('utf8').replace(/\u0000/g, '\uFFFD');
}

function describeFailure(error: unknown, timeoutMs: number, timedOut: boolean): string {
  if (error instanceof RefusedAddressError) return `Refused: ${error.message}`;
  const code = (error as { code?: unknown }).code;
  if (timedOut || (typeof code === 'string' && code.endsWith('_TIMEOUT'))) return `Timed out after ${timeoutMs} ms without a response.`;
  if (typeof code === 'string' && code !== '') return `Connection failed: ${code}.`;
  return `Request failed: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Sends webhooks over HTTP(S) with one connection pool. Every new connection resolves its host
 * itself, checks every address against the URL policy and connects to a checked one (the URL's
 * name stays the Host header and the TLS server name), so a name that resolved to a public address
 * at registration and to a private one now is refused without a connection (DNS rebinding).
 * Redirects are never followed: a 3xx is the attempt's answer.
 */
export function createWebhookSender(config: WebhookSenderConfig) {
  const connectLast = buildConnector({ timeout: config.timeoutMs });
  // An address that is not the last one gets a part of the time, so a blackholed one leaves time for the next.
  const connectEarly = buildConnector({ timeout: Math.max(1000, Math.floor(config.timeoutMs / 3)) });
  type ConnectOptions = Parameters<typeof connectLast>[0];
  type Connected = Parameters<Parameters<typeof connectLast>[1]>[1];

  /**
   * Connects to the first of the checked `addresses` that answers, in the resolver's order: a
   * name with an IPv6 address this host cannot reach (or a receiver down on one of its addresses)
   * is reached on the next, as any HTTP client would.
   */
  async function connectToFirst(options: ConnectOptions, addresses: readonly string[]): Promise<NonNullable<Connected>> {
    let lastError: unknown = new Error('No address to connect to.');
    // The attempt is over by then (its signal aborted it): no address is tried after that.
    const deadline = performance.now() + config.timeoutMs;
    for (const [index, address] of addresses.entries()) {
      if (performance.now() >= deadline) break;
      const connect = index === addresses.length - 1 ? connectLast : connectEarly;
      try {
        return await new Promise<NonNullable<Connected>>((resolve, reject) => {
          connect({ ...options, hostname: address, host: options.host ?? options.hostname }, (error, socket) => {
            if (error || !socket) reject(error ?? new Error('No socket.'));
            else resolve(socket);
          });
        });
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  const agent = new Agent({
    connect(options, callback) {
      config.policy.checkedAddresses(options.hostname.replace(/^\[|\]$/g, ''))
        .then((addresses) => connectToFirst(options, addresses))
        .then((socket) => callback(null, socket), (error: unknown) => callback(error as Error, null));
    },
    headersTimeout: config.timeoutMs,
    bodyTimeout: config.timeoutMs,
    maxRedirections: 0,
  });

  return {
    /** POSTs `body` to `url` with `headers`. Never throws: a failure is in the outcome. */
    async send(url: string, headers: Record<string, string>, body: string): Promise<SendOutcome> {
      const started = performance.now();
      const signal = AbortSignal.timeout(config.timeoutMs);
      const elapsed = () => Math.round(performance.now() - started);
      let statusCode: number | null = null;
      let latencyMs = 0;
      let retryAfter: string | null = null;
      try {
        const target = new URL(url);
        const response = await agent.request({
          origin: target.origin,
          path: `${target.pathname}${target.search}`,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': WEBHOOK_USER_AGENT, ...headers },
          body,
          signal,
        });
        statusCode = response.statusCode;
        latencyMs = elapsed();
        const header = response.headers['retry-after'];
        retryAfter = Array.isArray(header) ? (header[0] ?? null) : (header ?? null);
        // Read the start of the answer; the rest is dropped (reading to the end keeps the connection for the next delivery).
        const chunks: Buffer[] = [];
        let size = 0;
        try {
          for await (const chunk of response.body as AsyncIterable<Buffer>) {
            if (size < RESPONSE_EXCERPT_BYTES) chunks.push(chunk);
            size += chunk.length;
            if (size > 64 * 1024) break;
          }
        } catch {
          // An answer cut short still has its status.
        }
        const ok = statusCode >= 200 && statusCode < 300;
        return {
          statusCode,
          latencyMs,
          error: ok ? null : statusCode >= 300 && statusCode < 400 ? `HTTP ${statusCode}: redirects are not followed; register the final URL.` : `HTTP ${statusCode}.`,
          responseBody: size > 0 ? storableExcerpt(Buffer.concat(chunks)) : null,
          retryAfter,
        };
      } catch (error) {
        return {
          statusCode,
          latencyMs: statusCode === null ? elapsed() : latencyMs,
          error: describeFailure(error, config.timeoutMs, signal.aborted),
          responseBody: null,
          retryAfter,
        };
      }
    },

    async close(): Promise<void> {
      await agent.close();
    },
  };
}

export type WebhookSender = ReturnType<typeof createWebhookSender>;
