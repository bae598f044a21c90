import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createProviders } from '../../src/providers/create-providers.js';
import { classifyUpstreamFailure } from '../../src/providers/upstream-outcome.js';
import { redactUpstreamText } from '../../src/providers/upstream-error.js';

async function configFile(content: unknown): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'rivya-config-')), 'providers.json');
  await writeFile(path, JSON.stringify(content));
  return path;
}

const noEvents = { call() {}, failover() {}, coolDown() {} };
const environment = { ffmpegPath: 'ffmpeg', fontPath: undefined, dataDir: tmpdir(), callbackUrl: null };

describe('provider settings', () => {
  it('routes both models to Kie from RIVYA_KIE_API_KEY alone', () => {
    const config = loadConfig({ RIVYA_KIE_API_KEY: 'k' });
    expect(config.providers.accounts).toEqual([{ name: 'kie', kind: 'kie', apiKey: 'k', baseUrl: 'https://api.kie.ai', resendAfterSeconds: 600 }]);
    expect(config.providers.routes['sora-2-pro']).toEqual([{ account: 'kie', weight: 1, priority: 1 }]);
  });

  it('reads accounts, weights and failover order from RIVYA_CONFIG with secrets from the environment', async () => {
    const path = await configFile({
      accounts: {
        main: { kind: 'kie', api_key_env: 'KIE_MAIN' },
        spare: { kind: 'kie', api_key_env: 'KIE_SPARE', base_url: 'http://127.0.0.1:9/' },
        gateway: { kind: 'openai-videos', api_key_env: 'GW', base_url: 'https://gw.example/v1', auth: 'api-key', seconds: ['10', '15'] },
      },
      routes: {
        'sora-2': [{ account: 'main', weight: 3 }, { account: 'spare', weight: 1, priority: 1 }, { account: 'gateway', priority: 2 }],
        'sora-2-pro': ['main'],
      },
      cool_down: { failures: 5, seconds: 60 },
      poll: { min_seconds: 1, max_seconds: 10 },
    });
    const config = loadConfig({ RIVYA_CONFIG: path, KIE_MAIN: 'a', KIE_SPARE: 'b', GW: 'c' });
    expect(config.providers.accounts.map((account) => account.name)).toEqual(['main', 'spare', 'gateway']);
    expect(config.providers.accounts[1]).toMatchObject({ baseUrl: 'http://127.0.0.1:9', apiKey: 'b' });
    expect(config.providers.routes['sora-2']).toEqual([
      { account: 'main', weight: 3, priority: 1 },
      { account: 'spare', weight: 1, priority: 1 },
      { account: 'gateway', weight: 1, priority: 2 },
    ]);
    expect(config.providers.coolDown).toEqual({ failuresToCoolDown: 5, coolDownSeconds: 60 });
    expect(config.providers.poll).toEqual({ minSeconds: 1, maxSeconds: 10 });
  });

  it('names every problem of a config file at once', async () => {
    const path = await configFile({
      accounts: { main: { kind: 'kie', api_key_env: 'MISSING_KEY' }, odd: { kind: 'replicate' } },
      routes: { 'sora-2': [{ account: 'nobody' }], 'sora-3': ['main'] },
    });
    let error: unknown;
    try {
      loadConfig({ RIVYA_CONFIG: path });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('MISSING_KEY (the API key of provider account main) is not set');
    expect(problems).toContain('accounts.odd.kind must be one of');
    expect(problems).toContain('routes.sora-2[0] names unknown account "nobody"');
    expect(problems).toContain('routes names unknown model sora-3');
    expect(problems).toContain('routes.sora-2-pro must list at least one account');
  });

  it('starts the one-upstream setups from the environment alone, Kie first and the gateway as failover', () => {
    const config = loadConfig({
      RIVYA_KIE_API_KEY: 'k', RIVYA_OPENAI_VIDEOS_API_KEY: 'o', RIVYA_OPENAI_VIDEOS_BASE_URL: 'https://gw.example/v1',
    });
    expect(config.providers.routes['sora-2']).toEqual([
      { account: 'kie', weight: 1, priority: 1 },
      { account: 'openai-videos', weight: 1, priority: 2 },
    ]);
    expect(config.providers.accounts[1]).toMatchObject({ seconds: ['10', '15'], auth: 'bearer', idempotency: false });
    const router = createProviders(config.providers, environment, noEvents);
    expect(router.refuses('sora-2', { n_frames: '15', aspect_ratio: 'portrait' })).toBeNull();
  });

  it('refuses at start a route to an OpenAI-style endpoint that can express none of the catalog durations', () => {
    const config = loadConfig({
      RIVYA_OPENAI_VIDEOS_API_KEY: 'k', RIVYA_OPENAI_VIDEOS_BASE_URL: 'https://gw.example/v1', RIVYA_OPENAI_VIDEOS_SECONDS: '4,8,12',
    });
    expect(() => createProviders(config.providers, environment, noEvents)).toThrow(ConfigError);
    try {
      createProviders(config.providers, environment, noEvents);
    } catch (error) {
      expect((error as ConfigError).problems[0]).toMatch(/accepts durations of 4, 8, 12 seconds, not 10 .*RIVYA_OPENAI_VIDEOS_SECONDS/);
    }
    const narrowed = loadConfig({
      RIVYA_OPENAI_VIDEOS_API_KEY: 'k', RIVYA_OPENAI_VIDEOS_BASE_URL: 'https://gw.example/v1', RIVYA_OPENAI_VIDEOS_SECONDS: '4,10',
    });
    const router = createProviders(narrowed.providers, environment, noEvents);
    expect(router.refuses('sora-2', { n_frames: '10', aspect_ratio: 'landscape' })).toBeNull();
    // The client is told which parameter, not which account or what it accepts.
    expect(router.refuses('sora-2', { n_frames: '15', aspect_ratio: 'landscape' })).toMatchObject({
      param: 'n_frames', message: 'n_frames 15 is not offered for sora-2.',
    });
  });

  it('rejects typos and bad values instead of falling back to defaults', async () => {
    const path = await configFile({
      accounts: { main: { kind: 'kie', api_key_env: 'K', resend_after: 5 } },
      routes: { 'sora-2': [{ account: 'main', weight: 0 }], 'sora-2-pro': ['main'] },
      cooldown: { failures: 1 },
      callbacks: 'true',
    });
    let problems = '';
    try {
      loadConfig({ RIVYA_CONFIG: path, K: 'x' });
    } catch (error) {
      problems = (error as ConfigError).problems.join('\n');
    }
    expect(problems).toContain('cooldown is not a setting');
    expect(problems).toContain('accounts.main.resend_after is not a setting');
    expect(problems).toContain('routes.sora-2[0].weight must be a number from 0.001');
    expect(problems).toContain('callbacks must be true or false');
    expect(() => loadConfig({ RIVYA_OPENAI_VIDEOS_API_KEY: 'k', RIVYA_OPENAI_VIDEOS_BASE_URL: 'https://g/v1', RIVYA_OPENAI_VIDEOS_AUTH: 'apikey' }))
      .toThrow(/RIVYA_OPENAI_VIDEOS_AUTH="apikey" must be bearer or api-key/);
    expect(() => loadConfig({ RIVYA_OPENAI_VIDEOS_API_KEY: 'k', RIVYA_OPENAI_VIDEOS_BASE_URL: 'https://g/v1', RIVYA_OPENAI_VIDEOS_SECONDS: '10s' }))
      .toThrow(/RIVYA_OPENAI_VIDEOS_SECONDS="10s"/);
    expect(() => loadConfig({ RIVYA_KIE_BASE_URL: 'https://kie.example' })).toThrow(/without RIVYA_KIE_API_KEY/);
  });
});

describe('upstream failures', () => {
  it('maps upstream codes and messages to task errors without passing their text on', () => {
    expect(classifyUpstreamFailure('moderation_blocked', 'Your request was blocked by our moderation system', false)).toEqual({
      code: 'content_policy_violation', message: expect.not.stringContaining('moderation system') as unknown,
    });
    expect(classifyUpstreamFailure('422', 'image could not be downloaded', true).code).toBe('invalid_reference');
    // A task without a reference cannot have a bad one, whatever the message says.
    expect(classifyUpstreamFailure('422', 'image could not be downloaded', false).code).toBe('upstream_error');
    expect(classifyUpstreamFailure('500', 'the generated image sequence failed', true).code).toBe('upstream_error');
    expect(classifyUpstreamFailure('500', 'internal', true).code).toBe('upstream_error');
  });

  it('masks secrets in upstream text kept for logs', () => {
    const text = redactUpstreamText('fetch https://b.example/x.png?expires=1&sig=abcdef failed; Authorization: Bearer sk-123456789abc');
    expect(text).not.toContain('abcdef');
    expect(text).not.toContain('sk-123456789abc');
  });
});
