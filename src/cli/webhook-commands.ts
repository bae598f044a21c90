import { EVENT_TYPES, type RivyaEvent, type WebhookDelivery, type WebhookEndpoint, type WebhookEventFilter } from '../../packages/sdk/src/index.js';
import { clientFor, help, listed, parse, printPage, type CliContext } from './client-commands.js';
import { EXIT, table, UsageError } from './output.js';
import { listen, newListenSecret } from './webhook-listen.js';

export const WEBHOOKS_HELP = `rivya webhooks — webhook endpoints, their deliveries, and a local listener

Usage:
  rivya webhooks listen [--forward-to <url>] [--events <types>] [--after <event-id>] [--secret <whsec_...>]
  rivya webhooks list [--limit <n>] [--cursor <c>] [--all]
  rivya webhooks create <url> [--events <types>] [--description <text>]
  rivya webhooks delete <endpoint-id>
  rivya webhooks test <endpoint-id>
  rivya webhooks rotate-secret <endpoint-id>
  rivya webhooks deliveries <endpoint-id> [--limit <n>] [--cursor <c>] [--all]
  rivya webhooks retry <endpoint-id> <delivery-id>

listen streams this account's events as they happen and forwards each to --forward-to as a
signed webhook (Standard Webhooks headers), with a signing secret it makes and prints at start
(or --secret to keep one across runs): test a receiver on this machine with no public URL.
One line per event with the receiver's answer; a receiver's failure is printed, not fatal.
Ctrl-C stops it. Without --forward-to it prints the events.

<types> is a comma-separated list of ${EVENT_TYPES.join(', ')}
(create also takes "*": every type, task.progress too; its default is every task status event).

Examples:
  rivya webhooks listen --forward-to http://localhost:3000/hook
  rivya webhooks listen --forward-to http://localhost:3000/hook --events task.succeeded,task.failed
  rivya webhooks create https://example.com/hooks/rivya --events task.succeeded,task.failed --description production
  rivya webhooks test we_...
  rivya webhooks deliveries we_... --json
`;

/** `--events a,b`: the event types named, each checked. */
function eventTypes(raw: string | undefined, allowAll: boolean): string[] | undefined {
  if (raw === undefined) return undefined;
  const given = raw.split(',').map((type) => type.trim()).filter(Boolean);
  const known: readonly string[] = allowAll ? [...EVENT_TYPES, '*'] : EVENT_TYPES;
  const unknown = given.filter((type) => !known.includes(type));
  if (given.length === 0 || unknown.length > 0) {
    throw new UsageError(`--events takes a comma-separated list of ${known.join(', ')}${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}.`);
  }
  return [...new Set(given)];
}

function httpUrl(raw: string, option: string): string {
  if (!URL.canParse(raw) || !/^https?:$/.test(new URL(raw).protocol)) {
    throw new UsageError(`${option} must be an http or https URL like http://localhost:3000/hook, not "${raw}".`);
  }
  return raw;
}

function describeEndpoint(endpoint: WebhookEndpoint): string {
  return [
    `${endpoint.id}  ${endpoint.disabled ? `disabled${endpoint.disabled_reason ? ` (${endpoint.disabled_reason})` : ''}` : 'enabled'}`,
    `  url:     ${endpoint.url}`,
    `  events:  ${endpoint.events.join(', ')}`,
    ...(endpoint.description ? [`  about:   ${endpoint.description}`] : []),
  ].join('\n');
}

function describeDelivery(delivery: WebhookDelivery): string {
  const last = delivery.attempts.at(-1);
  return `Delivery ${delivery.id} of ${delivery.event_type} ${delivery.event_id}: ${delivery.status}` +
    `${last ? `, attempt ${last.attempt} answered ${last.status_code ?? last.error ?? 'nothing yet'}` : ''}` +
    `${delivery.next_retry_at ? `, next try ${delivery.next_retry_at}` : ''}.`;
}

export async function webhooks(args: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parse(args, {
    'forward-to': { type: 'string' }, events: { type: 'string' }, after: { type: 'string' }, secret: { type: 'string' },
    description: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' },
  });
  const [action, first, second] = positionals;
  if (values.help || !action) return help(context, WEBHOOKS_HELP, values.help ? EXIT.ok : EXIT.usage);
  const { output } = context;
  const need = (value: string | undefined, usage: string): string => {
    if (!value) throw new UsageError(`Missing an argument: rivya webhooks ${usage}`);
    return value;
  };
  switch (action) {
    case 'listen': {
      const forwardTo = values['forward-to'] === undefined ? null : httpUrl(values['forward-to'], '--forward-to');
      const types = eventTypes(values.events, false) as RivyaEvent['type'][] | undefined;
      if (values.secret !== undefined && !/^whsec_[A-Za-z0-9+/]{16,}={0,2}$/.test(values.secret)) {
        throw new UsageError('--secret must be whsec_ followed by base64 (as printed by an earlier listen).');
      }
      const client = await clientFor(values, context.env);
      return listen(client, context, { forwardTo, types, after: values.after, secret: values.secret ?? newListenSecret() });
    }
    case 'list': {
      const client = await clientFor(values, context.env);
      const page = await listed(values, (paging) => client.webhookEndpoints.list(paging));
      const rows = page.data.map((endpoint) => [endpoint.id, endpoint.disabled ? 'disabled' : 'enabled', endpoint.events.join(','), endpoint.url]);
      printPage(context, page, page.data.length ? table([['ID', 'STATE', 'EVENTS', 'URL'], ...rows]) : 'No webhook endpoints.', `rivya webhooks list${values.limit ? ` --limit ${values.limit}` : ''}`);
      return EXIT.ok;
    }
    case 'create': {
      const url = need(first, 'create <url> [--events <types>] [--description <text>]');
      const events = eventTypes(values.events, true) as WebhookEventFilter[] | undefined;
      const client = await clientFor(values, context.env);
      const endpoint = await client.webhookEndpoints.create({
        url, ...(events ? { events } : {}), ...(values.description !== undefined ? { description: values.description } : {}),
      });
      output.result(endpoint, `${describeEndpoint(endpoint)}\n\nSigning secret (shown once, keep it safe):\n\n  ${endpoint.secret}\n`);
      return EXIT.ok;
    }
    case 'delete': {
      const id = need(first, 'delete <endpoint-id>');
      const deleted = await (await clientFor(values, context.env)).webhookEndpoints.delete(id);
      output.result(deleted, `Deleted ${id}.`);
      return EXIT.ok;
    }
    case 'test': {
      const id = need(first, 'test <endpoint-id>');
      const delivery = await (await clientFor(values, context.env)).webhookEndpoints.test(id);
      output.result(delivery, `Sent a webhook.test event to ${id}: ${describeDelivery(delivery)}\nFollow it with: rivya webhooks deliveries ${id}`);
      return EXIT.ok;
    }
    case 'rotate-secret': {
      const id = need(first, 'rotate-secret <endpoint-id>');
      const endpoint = await (await clientFor(values, context.env)).webhookEndpoints.rotateSecret(id);
      output.result(endpoint, `New signing secret of ${id} (shown once; the old one also signs for 24 hours):\n\n  ${endpoint.secret}\n`);
      return EXIT.ok;
    }
    case 'deliveries': {
      const id = need(first, 'deliveries <endpoint-id>');
      const client = await clientFor(values, context.env);
      const page = await listed(values, (paging) => client.webhookEndpoints.deliveries(id, paging));
      const rows = page.data.map((delivery) => {
        const last = delivery.attempts.at(-1);
        return [
          delivery.id, delivery.event_type, delivery.status, String(delivery.attempts.length),
          last ? String(last.status_code ?? last.error ?? '') : '', delivery.next_retry_at ?? '', delivery.event_id,
        ];
      });
      const human = page.data.length ? table([['ID', 'TYPE', 'STATUS', 'ATTEMPTS', 'LAST', 'NEXT RETRY', 'EVENT'], ...rows]) : 'No deliveries.';
      printPage(context, page, human, `rivya webhooks deliveries ${id}${values.limit ? ` --limit ${values.limit}` : ''}`);
      return EXIT.ok;
    }
    case 'retry': {
      const id = need(first, 'retry <endpoint-id> <delivery-id>');
      const deliveryId = need(second, 'retry <endpoint-id> <delivery-id>');
      const delivery = await (await clientFor(values, context.env)).webhookEndpoints.retryDelivery(id, deliveryId);
      output.result(delivery, `Retrying: ${describeDelivery(delivery)}`);
      return EXIT.ok;
    }
    default:
      throw new UsageError(`Unknown action "webhooks ${action}": listen, list, create, delete, test, rotate-secret, deliveries or retry.`);
  }
}
