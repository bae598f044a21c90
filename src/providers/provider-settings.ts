import { readFileSync } from 'node:fs';
import { MODEL_IDS, MODELS } from '../catalog/models.js';
import type { CoolDownPolicy, RouteEntry } from './provider-router.js';

/**
 * The durations a `/v1/videos` endpoint is assumed to accept unless configured: the catalog's
 * `n_frames` values (a gateway selling these models takes them). Declare the endpoint's own list
 * (OpenAI's contract has 4, 8 and 12) and what it cannot express is refused, never changed.
 */
const CATALOG_SECONDS = [...new Set(MODELS.flatMap((model) => model.params.find((param) => param.key === 'n_frames')?.options ?? []))];
/** After a create whose answer was lost, at an upstream that cannot deduplicate: wait this long before sending it again. */
const DEFAULT_RESEND_AFTER_SECONDS = 600;

/** One provider account, as configured. Secrets come from the environment, never the file. */
export type AccountSettings =
  | { name: string; kind: 'local' | 'instant' }
  | { name: string; kind: 'kie'; apiKey: string; baseUrl: string; resendAfterSeconds: number }
  | {
      name: string;
      kind: 'openai-videos';
      apiKey: string;
      baseUrl: string;
      auth: 'bearer' | 'api-key';
      seconds: string[];
      models: Record<string, string>;
      /** Whether the endpoint honours `Idempotency-Key`. */
      idempotency: boolean;
      resendAfterSeconds: number;
    };

export interface ProviderSettings {
  accounts: AccountSettings[];
  /** Model id → its accounts, in failover order. */
  routes: Record<string, RouteEntry[]>;
  coolDown: CoolDownPolicy;
  requestTimeoutMs: number;
  downloadTimeoutMs: number;
  maxResultBytes: number;
  /** Polling backoff bounds: the first poll waits `minSeconds`, later ones grow to `maxSeconds`. */
  poll: { minSeconds: number; maxSeconds: number };
  /** Rounds of submission over every account before a task fails with `upstream_error`. */
  submitRounds: number;
  /** Whether upstreams that can call back are given our callback URL. */
  callbacks: boolean;
}

const DEFAULTS = {
  coolDown: { failuresToCoolDown: 3, coolDownSeconds: 30 },
  requestTimeoutMs: 30_000,
  downloadTimeoutMs: 600_000,
  maxResultBytes: 500 * 1024 * 1024,
  poll: { minSeconds: 2, maxSeconds: 30 },
  submitRounds: 5,
  callbacks: true,
};

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The provider accounts and routes: from the JSON file named by `RIVYA_CONFIG`, else from the
 * one-upstream variables (`RIVYA_KIE_API_KEY`, `RIVYA_OPENAI_VIDEOS_API_KEY`), else the local
 * renderer (`fallback`) for every model. Problems are pushed onto `problems`, naming what to fix.
 */
export function loadProviderSettings(env: Env, fallback: 'local' | 'instant', problems: string[]): ProviderSettings {
  const path = env['RIVYA_CONFIG'];
  if (path) return fromFile(path, env, problems);
  const accounts: AccountSettings[] = [];
  const kieKey = env['RIVYA_KIE_API_KEY'];
  if (kieKey) {
    accounts.push({
      name: 'kie', kind: 'kie', apiKey: kieKey, resendAfterSeconds: DEFAULT_RESEND_AFTER_SECONDS,
      baseUrl: checkUrl(env['RIVYA_KIE_BASE_URL'] || 'https://api.kie.ai', 'RIVYA_KIE_BASE_URL', problems),
    });
  } else if (env['RIVYA_KIE_BASE_URL']) {
    problems.push('RIVYA_KIE_BASE_URL is set without RIVYA_KIE_API_KEY: set the key too.');
  }
  const openAiKey = env['RIVYA_OPENAI_VIDEOS_API_KEY'];
  const openAiBase = env['RIVYA_OPENAI_VIDEOS_BASE_URL'];
  const openAiExtras = ['RIVYA_OPENAI_VIDEOS_SECONDS', 'RIVYA_OPENAI_VIDEOS_AUTH', 'RIVYA_OPENAI_VIDEOS_IDEMPOTENCY'].filter((name) => env[name]);
  if (openAiKey || openAiBase) {
    if (!openAiKey || !openAiBase) {
      problems.push('RIVYA_OPENAI_VIDEOS_API_KEY and RIVYA_OPENAI_VIDEOS_BASE_URL go together: set both.');
    } else {
      const rawSeconds = env['RIVYA_OPENAI_VIDEOS_SECONDS'];
      const seconds = rawSeconds ? rawSeconds.split(',').map((value) => value.trim()) : CATALOG_SECONDS;
      if (!seconds.every((value) => /^\d{1,3}$/.test(value))) {
        problems.push(`RIVYA_OPENAI_VIDEOS_SECONDS="${rawSeconds}" must list durations in seconds, such as 4,8,12.`);
      }
      const auth = env['RIVYA_OPENAI_VIDEOS_AUTH'] || 'bearer';
      if (auth !== 'bearer' && auth !== 'api-key') problems.push(`RIVYA_OPENAI_VIDEOS_AUTH="${auth}" must be bearer or api-key.`);
      const idempotency = env['RIVYA_OPENAI_VIDEOS_IDEMPOTENCY'] || 'false';
      if (idempotency !== 'true' && idempotency !== 'false') {
        problems.push(`RIVYA_OPENAI_VIDEOS_IDEMPOTENCY="${idempotency}" must be true or false.`);
      }
      accounts.push({
        name: 'openai-videos', kind: 'openai-videos', apiKey: openAiKey,
        baseUrl: checkUrl(openAiBase, 'RIVYA_OPENAI_VIDEOS_BASE_URL', problems),
        auth: auth === 'api-key' ? 'api-key' : 'bearer',
        seconds, models: Object.fromEntries(MODEL_IDS.map((id) => [id, id])),
        idempotency: idempotency === 'true', resendAfterSeconds: DEFAULT_RESEND_AFTER_SECONDS,
      });
    }
  } else if (openAiExtras.length > 0) {
    problems.push(`${openAiExtras.join(', ')} set without RIVYA_OPENAI_VIDEOS_API_KEY and RIVYA_OPENAI_VIDEOS_BASE_URL.`);
  }
  if (accounts.length === 0) accounts.push({ name: fallback, kind: fallback });
  const route = accounts.map((account, index) => ({ account: account.name, weight: 1, priority: index + 1 }));
  return { ...DEFAULTS, accounts, routes: Object.fromEntries(MODEL_IDS.map((id) => [id, route])) };
}

function checkUrl(raw: string, where: string, problems: string[]): string {
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    problems.push(`${where}="${raw}" must be an http(s) URL.`);
  }
  return raw.replace(/\/+$/, '');
}

function fromFile(path: string, env: Env, problems: string[]): ProviderSettings {
  let file: Record<string, unknown>;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    if (!file || typeof file !== 'object' || Array.isArray(file)) throw new Error('not an object');
  } catch (error) {
    problems.push(`RIVYA_CONFIG="${path}" could not be read as a JSON object: ${error instanceof Error ? error.message : String(error)}.`);
    return { ...DEFAULTS, accounts: [], routes: {} };
  }
  const at = (where: string) => `${path}: ${where}`;
  const known = (value: Record<string, unknown>, where: string, keys: readonly string[]) => {
    for (const key of Object.keys(value)) {
      if (!keys.includes(key)) problems.push(at(`${where}${where ? '.' : ''}${key} is not a setting; known: ${keys.join(', ')}.`));
    }
  };
  const bool = (value: unknown, where: string, fallback: boolean): boolean => {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') problems.push(at(`${where} must be true or false.`));
    return value === true;
  };
  known(file, '', [
    'accounts', 'routes', 'cool_down', 'poll', 'request_timeout_seconds', 'download_timeout_seconds', 'max_result_bytes',
    'submit_rounds', 'callbacks',
  ]);
  const num = (value: unknown, where: string, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      problems.push(at(`${where} must be a number from ${min} to ${max}.`));
      return fallback;
    }
    return value;
  };
  const obj = (value: unknown, where: string): Record<string, unknown> => {
    if (value === undefined) return {};
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(at(`${where} must be an object.`));
      return {};
    }
    return value as Record<string, unknown>;
  };

  const accounts: AccountSettings[] = [];
  for (const [name, raw] of Object.entries(obj(file['accounts'], 'accounts'))) {
    const spec = obj(raw, `accounts.${name}`);
    const kind = spec['kind'];
    const secret = (): string => {
      const variable = spec['api_key_env'];
      if (typeof variable !== 'string' || !variable) {
        problems.push(at(`accounts.${name}.api_key_env must name the environment variable holding its API key.`));
        return '';
      }
      const value = env[variable];
      if (!value) problems.push(`${variable} (the API key of provider account ${name}) is not set.`);
      return value ?? '';
    };
    const baseUrl = (fallback: string | null): string => {
      const value = spec['base_url'] ?? fallback;
      if (typeof value !== 'string') {
        problems.push(at(`accounts.${name}.base_url is required.`));
        return '';
      }
      return checkUrl(value, at(`accounts.${name}.base_url`), problems);
    };
    const resendAfterSeconds = () =>
      num(spec['resend_after_seconds'], `accounts.${name}.resend_after_seconds`, DEFAULT_RESEND_AFTER_SECONDS, 0, 86_400);
    if (kind === 'local' || kind === 'instant') {
      known(spec, `accounts.${name}`, ['kind']);
      accounts.push({ name, kind });
    } else if (kind === 'kie') {
      known(spec, `accounts.${name}`, ['kind', 'api_key_env', 'base_url', 'resend_after_seconds']);
      accounts.push({ name, kind, apiKey: secret(), baseUrl: baseUrl('https://api.kie.ai'), resendAfterSeconds: resendAfterSeconds() });
    } else if (kind === 'openai-videos') {
      known(spec, `accounts.${name}`, ['kind', 'api_key_env', 'base_url', 'auth', 'seconds', 'models', 'idempotency', 'resend_after_seconds']);
      const seconds = spec['seconds'] ?? CATALOG_SECONDS;
      if (!Array.isArray(seconds) || !seconds.every((value) => typeof value === 'string' && /^\d+$/.test(value))) {
        problems.push(at(`accounts.${name}.seconds must be a list of durations such as ["4", "8", "12"].`));
      }
      const models = obj(spec['models'] ?? Object.fromEntries(MODEL_IDS.map((id) => [id, id])), `accounts.${name}.models`);
      for (const [model, upstream] of Object.entries(models)) {
        if (!MODEL_IDS.includes(model as never)) problems.push(at(`accounts.${name}.models names unknown model ${model}.`));
        if (typeof upstream !== 'string' || !upstream) problems.push(at(`accounts.${name}.models.${model} must be the endpoint's model name.`));
      }
      const auth = spec['auth'] ?? 'bearer';
      if (auth !== 'bearer' && auth !== 'api-key') problems.push(at(`accounts.${name}.auth must be "bearer" or "api-key".`));
      accounts.push({
        name, kind, apiKey: secret(), baseUrl: baseUrl(null), auth: auth === 'api-key' ? 'api-key' : 'bearer',
        seconds: Array.isArray(seconds) ? seconds.map(String) : [], models: models as Record<string, string>,
        idempotency: bool(spec['idempotency'], `accounts.${name}.idempotency`, false), resendAfterSeconds: resendAfterSeconds(),
      });
    } else {
      problems.push(at(`accounts.${name}.kind must be one of kie, openai-videos, local, instant.`));
    }
  }
  if (accounts.length === 0) problems.push(at('accounts must name at least one provider account.'));

  const names = new Set(accounts.map((account) => account.name));
  const routes: Record<string, RouteEntry[]> = {};
  const routeSpecs = obj(file['routes'], 'routes');
  for (const model of Object.keys(routeSpecs)) {
    if (!MODEL_IDS.includes(model as never)) problems.push(at(`routes names unknown model ${model}; models are ${MODEL_IDS.join(', ')}.`));
  }
  for (const model of MODEL_IDS) {
    const list = routeSpecs[model];
    if (!Array.isArray(list) || list.length === 0) {
      problems.push(at(`routes.${model} must list at least one account.`));
      continue;
    }
    routes[model] = list.map((raw, index) => {
      const entry = typeof raw === 'string' ? { account: raw } : obj(raw, `routes.${model}[${index}]`);
      known(entry, `routes.${model}[${index}]`, ['account', 'weight', 'priority']);
      const account = typeof entry['account'] === 'string' ? entry['account'] : '';
      if (!names.has(account)) problems.push(at(`routes.${model}[${index}] names unknown account "${account}".`));
      return {
        account,
        weight: num(entry['weight'], `routes.${model}[${index}].weight`, 1, 0.001, 1_000_000),
        priority: num(entry['priority'], `routes.${model}[${index}].priority`, index + 1, 0, 1_000_000),
      };
    });
  }
  const coolDown = obj(file['cool_down'], 'cool_down');
  known(coolDown, 'cool_down', ['failures', 'seconds']);
  const poll = obj(file['poll'], 'poll');
  known(poll, 'poll', ['min_seconds', 'max_seconds']);
  const minSeconds = num(poll['min_seconds'], 'poll.min_seconds', DEFAULTS.poll.minSeconds, 0.05, 3600);
  return {
    accounts,
    routes,
    coolDown: {
      failuresToCoolDown: num(coolDown['failures'], 'cool_down.failures', DEFAULTS.coolDown.failuresToCoolDown, 1, 1000),
      coolDownSeconds: num(coolDown['seconds'], 'cool_down.seconds', DEFAULTS.coolDown.coolDownSeconds, 0.1, 86_400),
    },
    requestTimeoutMs: num(file['request_timeout_seconds'], 'request_timeout_seconds', DEFAULTS.requestTimeoutMs / 1000, 0.1, 600) * 1000,
    downloadTimeoutMs: num(file['download_timeout_seconds'], 'download_timeout_seconds', DEFAULTS.downloadTimeoutMs / 1000, 1, 7200) * 1000,
    maxResultBytes: num(file['max_result_bytes'], 'max_result_bytes', DEFAULTS.maxResultBytes, 1024, 20 * 1024 ** 3),
    poll: { minSeconds, maxSeconds: num(poll['max_seconds'], 'poll.max_seconds', Math.max(minSeconds, DEFAULTS.poll.maxSeconds), minSeconds, 3600) },
    submitRounds: num(file['submit_rounds'], 'submit_rounds', DEFAULTS.submitRounds, 1, 100),
    callbacks: bool(file['callbacks'], 'callbacks', true),
  };
}
