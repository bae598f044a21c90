import { RivyaAdmin } from '../../packages/sdk/src/index.js';
import { baseUrlOf, help, parse, type CliContext } from './client-commands.js';
import { EXIT, UsageError } from './output.js';

export const ADMIN_HELP = `rivya admin — operate accounts, keys and credits (needs RIVYA_ADMIN_TOKEN or --admin-token)

Usage:
  rivya admin accounts create <name> [--credits <n>]
  rivya admin accounts get <account-id>
  rivya admin keys create <account-id> [--name <name>]
  rivya admin keys revoke <key-id>
  rivya admin credits grant <account-id> <amount> [--reason <text>]   (a negative amount adjusts down)

Examples:
  RIVYA_ADMIN_TOKEN=... rivya admin accounts create "Acme" --credits 500
  rivya admin keys create acct_... --name production --json
  rivya admin credits grant acct_... 100 --reason "October top-up"
`;

/** Each admin command's usage line (from the help), for the message when an argument is missing. */
const USAGE: Record<string, string> = Object.fromEntries(
  [...ADMIN_HELP.split('Examples:')[0]!.matchAll(/^ {2}(rivya admin (\w+) (\w+)[^\n]*?)(?: {3}.*)?$/gm)].map((match) => [`${match[2]} ${match[3]}`, match[1]!.trim()]),
);

export async function admin(args: string[], context: CliContext): Promise<number> {
  // A negative amount (`credits grant acct_… -5`) is a value, not an option: shield it from the parser.
  const NEGATIVE = '\u0000';
  const shielded = args.map((arg) => (/^-\d+$/.test(arg) ? `${NEGATIVE}${arg}` : arg));
  const { values, positionals: raw } = parse(shielded, {
    'admin-token': { type: 'string' }, credits: { type: 'string' }, name: { type: 'string' }, reason: { type: 'string' },
  });
  const unshield = (arg: string) => (arg.startsWith(NEGATIVE) ? arg.slice(1) : arg);
  const positionals = raw.map(unshield);
  for (const [option, value] of Object.entries(values)) if (typeof value === 'string') Object.assign(values, { [option]: unshield(value) });
  const [group, action, first, second] = positionals;
  if (values.help || !group || !action) return help(context, ADMIN_HELP, values.help ? EXIT.ok : EXIT.usage);
  const token = values['admin-token'] ?? context.env['RIVYA_ADMIN_TOKEN'];
  if (!token) throw new UsageError('No admin token: pass --admin-token or set RIVYA_ADMIN_TOKEN (the one the server runs with).');
  const client = new RivyaAdmin({ adminToken: token, baseUrl: await baseUrlOf(values, context.env) });
  const { output } = context;
  const need = (value: string | undefined, what: string): string => {
    if (!value) throw new UsageError(`Missing ${what}: ${USAGE[`${group} ${action}`] ?? `rivya admin ${group} ${action} <${what}>`}`);
    return value;
  };
  const number = (value: string, what: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed)) throw new UsageError(`${what} must be a whole number, not "${value}".`);
    return parsed;
  };
  switch (`${group} ${action}`) {
    case 'accounts create': {
      const created = await client.accounts.create({
        name: need(first, 'name'), ...(values.credits ? { credits: number(values.credits, '--credits') } : {}),
      });
      output.result(created, `Created account ${created.id} "${created.name}" with ${created.credits.balance} credits.`);
      return EXIT.ok;
    }
    case 'accounts get': {
      const found = await client.accounts.get(need(first, 'account-id'));
      output.result(found, `${found.name} (${found.id}): ${found.credits.balance} balance, ${found.credits.held} held`);
      return EXIT.ok;
    }
    case 'keys create': {
      const key = await client.keys.create(need(first, 'account-id'), values.name ? { name: values.name } : {});
      output.result(key, `Key ${key.id} (shown once, keep it safe):\n\n  ${key.key}\n`);
      return EXIT.ok;
    }
    case 'keys revoke': {
      const revoked = await client.keys.revoke(need(first, 'key-id'));
      output.result(revoked, `Revoked ${revoked.id}.`);
      return EXIT.ok;
    }
    case 'credits grant': {
      const amount = number(need(second, 'amount'), 'amount');
      const granted = await client.credits.grant(need(first, 'account-id'), { amount, reason: values.reason ?? 'granted with the rivya CLI' });
      output.result(granted, `${amount >= 0 ? 'Granted' : 'Adjusted'} ${amount} credits; balance now ${granted.entry.balance_after}.`);
      return EXIT.ok;
    }
    default:
      throw new UsageError(`Unknown command "admin ${group} ${action}".`);
  }
}
