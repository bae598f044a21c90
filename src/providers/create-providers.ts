import { join } from 'node:path';
import { MODELS } from '../catalog/models.js';
import { ConfigError } from '../config.js';
import { createInstantProvider } from './instant-provider.js';
import { createKieProvider } from './kie-provider.js';
import { createLocalProvider } from './local-provider.js';
import { createOpenAiVideosProvider } from './openai-videos-provider.js';
import type { Provider } from './port.js';
import { createProviderRouter, type RouterEvents } from './provider-router.js';
import type { ProviderSettings } from './provider-settings.js';

export interface ProviderEnvironment {
  ffmpegPath: string;
  fontPath: string | undefined;
  dataDir: string;
  /** The URL an upstream calls back for a task; null when callbacks are off. */
  callbackUrl: ((taskId: string) => string) | null;
}

/**
 * Builds each configured account and the router over them. Throws if a route can never be served.
 * `only` replaces the configured accounts with one provider serving every model (tests).
 */
export function createProviders(settings: ProviderSettings, environment: ProviderEnvironment, events: RouterEvents, only?: Provider) {
  if (only) {
    const route = [{ account: only.name, weight: 1, priority: 1 }];
    return createProviderRouter({
      accounts: [only], routes: new Map(MODELS.map((model) => [model.id, route])), coolDown: settings.coolDown, events,
    });
  }
  const timeouts = {
    requestTimeoutMs: settings.requestTimeoutMs,
    downloadTimeoutMs: settings.downloadTimeoutMs,
    maxResultBytes: settings.maxResultBytes,
  };
  const accounts: Provider[] = settings.accounts.map((account) => {
    switch (account.kind) {
      case 'local':
        return { ...createLocalProvider({ ffmpegPath: environment.ffmpegPath, fontPath: environment.fontPath }), name: account.name };
      case 'instant':
        return {
          ...createInstantProvider({ ffmpegPath: environment.ffmpegPath, cacheDir: join(environment.dataDir, 'cache', 'instant') }),
          name: account.name,
        };
      case 'kie':
        return createKieProvider({
          name: account.name, apiKey: account.apiKey, baseUrl: account.baseUrl, ...timeouts,
          callbackUrl: settings.callbacks ? environment.callbackUrl : null, resendAfterSeconds: account.resendAfterSeconds,
        });
      case 'openai-videos':
        return createOpenAiVideosProvider({
          name: account.name, apiKey: account.apiKey, baseUrl: account.baseUrl, auth: account.auth,
          seconds: account.seconds, models: account.models, ffmpegPath: environment.ffmpegPath, ...timeouts,
          idempotency: account.idempotency, resendAfterSeconds: account.resendAfterSeconds,
        });
    }
  });
  const problems = unservableRoutes(settings, accounts);
  if (problems.length > 0) throw new ConfigError(problems.map((problem) => `The route ${problem}`));
  return createProviderRouter({
    accounts,
    routes: new Map(Object.entries(settings.routes)),
    coolDown: settings.coolDown,
    events,
  });
}

/** Every combination of a model's select parameters (a few dozen at most). */
function paramCombinations(model: (typeof MODELS)[number]): Record<string, string>[] {
  let combos: Record<string, string>[] = [{}];
  for (const param of model.params) {
    combos = combos.flatMap((combo) => param.options.map((option) => ({ ...combo, [param.key]: option })));
  }
  return combos;
}

/**
 * Routes to accounts that cannot run a model with any of its parameter combinations (an
 * OpenAI-style endpoint whose `seconds` include no `n_frames` value): refused at start, so the
 * configuration is fixed rather than every task failing.
 */
function unservableRoutes(settings: ProviderSettings, accounts: readonly Provider[]): string[] {
  const problems: string[] = [];
  for (const model of MODELS) {
    const combos = paramCombinations(model);
    for (const entry of settings.routes[model.id] ?? []) {
      const account = accounts.find((candidate) => candidate.name === entry.account);
      if (!account) continue;
      const refusals = combos.map((params) => account.refuses(model.id, params));
      if (refusals.includes(null)) continue;
      const hint = account.kind === 'openai-videos' ? ' Set the durations the endpoint accepts (the account\'s "seconds", or RIVYA_OPENAI_VIDEOS_SECONDS), or route the model elsewhere.' : '';
      problems.push(`${model.id} → ${account.name}: ${refusals.find(Boolean)?.detail ?? ''}${hint}`);
    }
  }
  return problems;
}
