import { createHmac, randomBytes } from 'node:crypto';
import type { Rivya, RivyaEvent } from '../../packages/sdk/src/index.js';
import type { CliContext } from './client-commands.js';
import { EXIT } from './output.js';

/** How long the local receiver has to answer one forwarded event, as the service gives a real endpoint. */
const FORWARD_TIMEOUT_MS = 15_000;

/** Reconnects in a row before `listen` gives up: about five minutes of a service being away. */
const LISTEN_RETRIES = 40;

/** A new signing secret, as the service makes them: `whsec_` and the base64 of 32 random bytes. */
export function newListenSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The Standard Webhooks headers of `body`, signed with `secret` at `timestamp` (Unix seconds). */
export function signedHeaders(secret: string, id: string, timestamp: number, body: string): Record<string, string> {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
}

/** Why a request got no answer: the system's code (ECONNREFUSED) or fetch's underlying message (bad port). */
function reasonOf(error: Error): string {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (typeof cause?.code === 'string') return cause.code;
  return typeof cause?.message === 'string' ? `${error.message}: ${cause.message}` : error.message;
}

/** What became of one forwarded event. */
interface Forwarded {
  status: number | null;
  latencyMs: number;
  error: string | null;
}

async function forward(url: string, event: RivyaEvent, secret: string, signal: AbortSignal): Promise<Forwarded> {
  const body = JSON.stringify(event);
  const headers = { 'content-type': 'application/json', 'user-agent': 'rivya-cli-webhooks-listen', ...signedHeaders(secret, event.id, Math.floor(Date.now() / 1000), body) };
  const started = performance.now();
  const attempt = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    attempt.abort();
  }, FORWARD_TIMEOUT_MS);
  const onStop = () => attempt.abort(signal.reason);
  signal.addEventListener('abort', onStop, { once: true });
  try {
    // As the service delivers: redirects are not followed, only 2xx is success.
    const response = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: attempt.signal });
    await response.arrayBuffer().catch(() => undefined);
    return { status: response.status, latencyMs: Math.round(performance.now() - started), error: null };
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    const reason = timedOut
      ? `no answer within ${FORWARD_TIMEOUT_MS / 1000} s`
      : error instanceof Error ? reasonOf(error) : String(error);
    return { status: null, latencyMs: Math.round(performance.now() - started), error: reason };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onStop);
  }
}

/**
 * `rivya webhooks listen`: streams the account's events (resumed across dropped connections)
 * and forwards each, in order, to `forwardTo` as a Standard Webhooks delivery signed with a
 * secret of its own, printing one line per event with the receiver's answer. A receiver's
 * failure is printed, not fatal; Ctrl-C ends it with exit 0.
 */
export async function listen(
  client: Rivya,
  context: CliContext,
  options: { forwardTo: string | null; types: RivyaEvent['type'][] | undefined; after: string | undefined; secret: string },
): Promise<number> {
  const { output } = context;
  const stop = new AbortController();
  const unsubscribe = context.onInterrupt(() => stop.abort(new Error('interrupted')));
  const line = (value: unknown, human: string) => context.stdout.write(output.json ? `${JSON.stringify(value)}\n` : `${human}\n`);
  const target = options.forwardTo ? `forwarding to ${options.forwardTo}` : 'printing them (add --forward-to <url> to send them on)';
  line(
    { secret: options.secret, forward_to: options.forwardTo, types: options.types ?? null },
    `Webhook signing secret: ${options.secret}\n` +
      `Listening for ${options.types ? options.types.join(', ') : 'all'} events of this account, ${target}. Ctrl-C to stop.`,
  );
  let connections = 0;
  const onConnect = () => {
    connections++;
    // From here on no event is missed: a resumed stream picks up after the last event forwarded.
    line({ connected: true, resumed: connections > 1 }, connections === 1 ? 'Ready: connected to the event stream.' : 'Connection restored; resuming after the last event.');
  };
  try {
    const events = client.events.stream({
      signal: stop.signal, maxRetries: LISTEN_RETRIES, onConnect,
      ...(options.types ? { types: options.types } : {}), ...(options.after ? { after: options.after } : {}),
    });
    for await (const event of events) {
      const task = event.type === 'webhook.test' ? null : event.data.task;
      const about = task ? ` ${task.id} ${task.status}${task.status === 'running' ? ` ${task.progress}%` : ''}` : '';
      const at = new Date().toISOString().slice(11, 19);
      if (!options.forwardTo) {
        line({ event_id: event.id, type: event.type, event }, `${at}  ${event.type.padEnd(15)} ${event.id}${about}`);
        continue;
      }
      const result = await forward(options.forwardTo, event, options.secret, stop.signal);
      const outcome = result.status === null ? `failed: ${result.error}` : `${result.status}${result.status >= 200 && result.status < 300 ? '' : ' (not 2xx)'}`;
      line(
        { event_id: event.id, type: event.type, status: result.status, latency_ms: result.latencyMs, error: result.error },
        `${at}  ${event.type.padEnd(15)} ${event.id}${about}  -> ${outcome} [${result.latencyMs} ms]`,
      );
    }
    return EXIT.ok;
  } catch (error) {
    if (stop.signal.aborted) {
      if (!output.json) output.note('Stopped.');
      return EXIT.ok;
    }
    throw error;
  } finally {
    unsubscribe();
  }
}
