import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { DataDirLockedError, lockDataDir } from '../../src/db/data-dir-lock.js';
import { ERROR_CODES } from '../../src/errors.js';
import { canonicalJson, isValidIdempotencyKey, requestFingerprint } from '../../src/idempotency/canonical-json.js';
import { newId } from '../../src/ids.js';
import { LruCache } from '../../src/lru-cache.js';
import { decodeCursor, encodeCursor } from '../../src/pagination.js';
import { createUrlSigner } from '../../src/storage/url-signer.js';
import { resultUrlExpiry } from '../../src/tasks/present-task.js';

const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.js', import.meta.url));
const LOCK_CONTENDER = fileURLToPath(new URL('../helpers/lock-contender.ts', import.meta.url));

describe('canonical JSON and idempotency fingerprints', () => {
  it('ignore key order and whitespace, but not values, paths or methods', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"e":1,"f":2}]},"b":1}');
    const body = { model: 'sora-2', params: { n_frames: '10' } };
    const same = JSON.parse('{ "params": {"n_frames":"10"}, "model":"sora-2" }') as unknown;
    expect(requestFingerprint('POST', '/api/v1/tasks', body)).toBe(requestFingerprint('post', '/api/v1/tasks', same));
    expect(requestFingerprint('POST', '/api/v1/tasks', body)).not.toBe(requestFingerprint('POST', '/api/v1/tasks', { ...body, prompt: 'x' }));
    expect(requestFingerprint('POST', '/a', body)).not.toBe(requestFingerprint('POST', '/b', body));
  });

  it('accepts 1–255 visible ASCII characters as a key', () => {
    expect(isValidIdempotencyKey('a')).toBe(true);
    expect(isValidIdempotencyKey('~'.repeat(255))).toBe(true);
    for (const bad of ['', ' ', 'a b', 'é', 'x'.repeat(256), 'tab\t']) expect(isValidIdempotencyKey(bad)).toBe(false);
  });
});

describe('ids, cursors and the error table', () => {
  it('makes prefixed, unguessable ids', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => newId('task')));
    expect(ids.size).toBe(5000);
    for (const id of ids) expect(id).toMatch(/^task_[0-9A-Za-z]{22}$/);
  });

  it('round-trips cursors and refuses forged ones', () => {
    expect(decodeCursor(encodeCursor(42))).toBe(42);
    expect(decodeCursor(undefined)).toBeNull();
    for (const bad of ['zzz', Buffer.from('{"s":-1}').toString('base64url'), Buffer.from('{"s":"1"}').toString('base64url')]) {
      expect(() => decodeCursor(bad)).toThrow();
    }
  });

  it('maps every error code to an HTTP status and a CLI exit code', () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      expect(entry.status, code).toBeGreaterThanOrEqual(400);
      expect(entry.exitCode, code).toBeGreaterThan(0);
    }
  });
});

describe('URL signing', () => {
  const signer = createUrlSigner('s'.repeat(32));
  const now = new Date('2026-01-01T00:00:00Z');
  const expiresAt = new Date('2026-01-01T01:00:00Z');

  it('verifies its own signatures until they expire', () => {
    const query = new URLSearchParams(signer.sign('s3', 'results/t/v.mp4', expiresAt));
    const [expires, sig] = [query.get('expires') ?? '', query.get('sig') ?? ''];
    expect(signer.verify('s3', 'results/t/v.mp4', expires, sig, now)).toBe(true);
    expect(signer.verify('s3', 'results/t/v.mp4', expires, sig, new Date('2026-01-01T01:00:01Z'))).toBe(false);
    expect(signer.verify('oss', 'results/t/v.mp4', expires, sig, now)).toBe(false);
    expect(signer.verify('s3', 'results/t/w.mp4', expires, sig, now)).toBe(false);
    expect(signer.verify('s3', 'results/t/v.mp4', String(Number(expires) + 1), sig, now)).toBe(false);
    expect(signer.verify('s3', 'results/t/v.mp4', expires, `${sig.slice(0, -1)}A`, now)).toBe(sig.endsWith('A'));
    expect(createUrlSigner('t'.repeat(32)).verify('s3', 'results/t/v.mp4', expires, sig, now)).toBe(false);
  });

  it('rounds result URL expiry up to the hour, so polls within an hour see one URL', () => {
    expect(resultUrlExpiry(new Date('2026-01-01T10:05:00Z'), 86_400).toISOString()).toBe('2026-01-02T11:00:00.000Z');
    expect(resultUrlExpiry(new Date('2026-01-01T10:55:00Z'), 86_400).toISOString()).toBe('2026-01-02T11:00:00.000Z');
  });
});

describe('LruCache', () => {
  it('expires entries and drops the least recently used when full', () => {
    let clock = 0;
    const cache = new LruCache<string, number>(2, 100, () => clock);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1);
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    clock = 150;
    expect(cache.get('a')).toBeUndefined();
    cache.set('d', 4);
    cache.deleteWhere((value) => value === 4);
    expect(cache.get('d')).toBeUndefined();
  });
});

describe('configuration', () => {
  it('reports every problem with the variable to fix', () => {
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', RIVYA_SECRET: 'short', RIVYA_PROVIDER: 'magic' }, { role: 'api' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const text = (error as ConfigError).message;
      for (const name of ['PORT', 'DATABASE_URL', 'RIVYA_SECRET', 'RIVYA_PROVIDER']) expect(text).toContain(name);
    }
    expect(() => loadConfig({}, { role: 'worker' })).toThrow(/needs DATABASE_URL/);
  });

  it('has working defaults for the embedded mode', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ role: 'all', port: 8080, publicUrl: 'http://localhost:8080', databaseUrl: null });
    expect(config.providers.accounts).toEqual([{ name: 'local', kind: 'local' }]);
    expect(config.providers.routes['sora-2']).toEqual([{ account: 'local', weight: 1, priority: 1 }]);
    expect(config.ffmpegPath).toBeTruthy();
    expect(config).toMatchObject({ metricsToken: null, metricsPort: null });
  });

  it('reads the metrics token and port, refusing a port shared with the API or a token that cannot be sent', () => {
    expect(loadConfig({ RIVYA_METRICS_TOKEN: 'scrape', RIVYA_METRICS_PORT: '9464' })).toMatchObject({ metricsToken: 'scrape', metricsPort: 9464 });
    expect(() => loadConfig({ PORT: '9000', RIVYA_METRICS_PORT: '9000' })).toThrow(/RIVYA_METRICS_PORT=9000 is the API's PORT/);
    expect(() => loadConfig({ RIVYA_METRICS_PORT: '0' })).toThrow(/RIVYA_METRICS_PORT="0" must be an integer from 1 to 65535/);
    expect(() => loadConfig({ RIVYA_METRICS_TOKEN: 'two words' })).toThrow(/RIVYA_METRICS_TOKEN must be visible ASCII/);
  });
});

describe('data directory lock', () => {
  it('refuses a live holder, takes over a dead one, and releases', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rivya-lock-'));
    try {
      const lock = await lockDataDir(dir);
      expect(await readFile(join(dir, 'rivya.lock'), 'utf8')).toContain(String(process.pid));
      await lock.release();
      // A live process (our parent) holds it: refused with a clear message.
      const { hostname } = await import('node:os');
      await writeFile(join(dir, 'rivya.lock'), `${process.ppid}@${hostname()}`);
      await expect(lockDataDir(dir)).rejects.toBeInstanceOf(DataDirLockedError);
      // A dead process's lock (kill -9) is stale and taken over.
      await writeFile(join(dir, 'rivya.lock'), `2147483646@${hostname()}`);
      const again = await lockDataDir(dir);
      await again.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lets exactly one of several processes starting at once take over a dead holder\'s lock', async () => {
    // Each directory holds the lock of a process killed -9; three processes try to take all of them at the same instant.
    const root = await mkdtemp(join(tmpdir(), 'rivya-lock-race-'));
    const { hostname } = await import('node:os');
    const dirs = Array.from({ length: 32 }, (_, index) => join(root, String(index)));
    try {
      for (const dir of dirs) {
        await mkdir(dir);
        await writeFile(join(dir, 'rivya.lock'), `2147483646@${hostname()}`);
      }
      const start = Date.now() + 3000;
      const contenders = Array.from({ length: 3 }, () =>
        spawn(process.execPath, [RUN_TS, LOCK_CONTENDER, String(start), ...dirs], { stdio: ['pipe', 'pipe', 'inherit'] }));
      const outputs = await Promise.all(contenders.map(async (child) => {
        let output = '';
        for await (const chunk of child.stdout) {
          output += String(chunk);
          if (output.includes('DONE\n')) break;
        }
        return output;
      }));
      for (const child of contenders) child.stdin.end();
      await Promise.all(contenders.map((child) => new Promise((resolve) => child.once('exit', resolve))));
      const holders = dirs.map((dir) => outputs.filter((output) => output.split('\n').includes(`GOT ${dir}`)).length);
      expect(holders, 'holders of each lock').toEqual(dirs.map(() => 1));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 30_000);
});
