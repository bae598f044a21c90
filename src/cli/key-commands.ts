import { clientFor, help, listed, parse, printPage, type CliContext } from './client-commands.js';
import { EXIT, table, UsageError } from './output.js';

export const KEYS_HELP = `rivya keys — this account's API keys

Usage:
  rivya keys list [--limit <n>] [--cursor <c>] [--all]
  rivya keys create [--name <name>]
  rivya keys revoke <key-id>

list shows the live keys, newest first: id, prefix, name, when made and when last used (to the
minute). create prints the new key once: keep it safe, it cannot be shown again. An account
holds at most 50 live keys. revoke refuses the key's requests from then on (revoking the key
this command is signed with works too: the next command with it is refused).

Examples:
  rivya keys create --name ci
  rivya keys list
  rivya keys revoke key_... --json
`;

export async function keys(args: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parse(args, {
    name: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' },
  });
  const [action, first] = positionals;
  if (values.help || !action) return help(context, KEYS_HELP, values.help ? EXIT.ok : EXIT.usage);
  const { output } = context;
  switch (action) {
    case 'list': {
      const client = await clientFor(values, context.env);
      const page = await listed(values, (paging) => client.keys.list(paging));
      const rows = page.data.map((key) => [key.id, key.prefix, key.name ?? '', key.created_at, key.last_used_at ?? 'never']);
      const human = page.data.length ? table([['ID', 'PREFIX', 'NAME', 'CREATED', 'LAST USED'], ...rows]) : 'No API keys.';
      printPage(context, page, human, `rivya keys list${values.limit ? ` --limit ${values.limit}` : ''}`);
      return EXIT.ok;
    }
    case 'create': {
      const client = await clientFor(values, context.env);
      const created = await client.keys.create(values.name !== undefined ? { name: values.name } : {});
      const human = created.key === null
        ? `Key ${created.id} was already made by this request; its secret was shown then and cannot be shown again.`
        : `Created ${created.id}${created.name ? ` (${created.name})` : ''}. The key (shown once, keep it safe):\n\n  ${created.key}\n`;
      output.result(created, human);
      return EXIT.ok;
    }
    case 'revoke': {
      if (!first) throw new UsageError('Missing an argument: rivya keys revoke <key-id>');
      const revoked = await (await clientFor(values, context.env)).keys.revoke(first);
      output.result(revoked, `Revoked ${first}: requests signed with it are refused from now on.`);
      return EXIT.ok;
    }
    default:
      throw new UsageError(`Unknown action "keys ${action}": list, create or revoke.`);
  }
}
