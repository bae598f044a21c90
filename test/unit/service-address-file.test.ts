import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reachableUrl, recordedServiceUrl, recordServiceAddress } from '../../src/cli/service-address-file.js';

describe('the address rivya serve records for client commands (server.json)', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-address-'));
  });
  afterAll(async () => rm(dataDir, { recursive: true, force: true }));

  it('turns an address of every interface into loopback, and keeps others', () => {
    expect(reachableUrl('http://0.0.0.0:8080')).toBe('http://127.0.0.1:8080');
    expect(reachableUrl('http://[::]:8080')).toBe('http://[::1]:8080');
    expect(reachableUrl('http://192.168.1.5:9000')).toBe('http://192.168.1.5:9000');
    expect(reachableUrl('http://[fe80::1]:9000')).toBe('http://[fe80::1]:9000');
  });

  it('is found while its process lives, and removed by that process only', async () => {
    const record = await recordServiceAddress(dataDir, 'http://0.0.0.0:18080');
    expect(await recordedServiceUrl(dataDir)).toBe('http://127.0.0.1:18080');
    const path = join(dataDir, 'server.json');
    // Another process recorded itself since: this one's stop leaves that record alone.
    const other = { url: 'http://127.0.0.1:18081', pid: process.ppid, host: hostname() };
    await writeFile(path, JSON.stringify(other));
    await record.remove();
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(other);
    expect(await recordedServiceUrl(dataDir)).toBe('http://127.0.0.1:18081');
  });

  it('ignores a record of a process that is gone, of another host, or not a record at all', async () => {
    const path = join(dataDir, 'server.json');
    for (const content of [
      JSON.stringify({ url: 'http://127.0.0.1:18082', pid: 2 ** 22 + 1, host: hostname() }),
      JSON.stringify({ url: 'http://127.0.0.1:18082', pid: process.pid, host: `not-${hostname()}` }),
      JSON.stringify({ url: 'not a url', pid: process.pid, host: hostname() }),
      '{"url": "http://127.0.0.1:1', 'null', '[]',
    ]) {
      await writeFile(path, content);
      expect(await recordedServiceUrl(dataDir), content).toBeNull();
    }
    await rm(path);
    expect(await recordedServiceUrl(dataDir)).toBeNull();
  });
});
