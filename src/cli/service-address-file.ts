import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from '../process-alive.js';

/**
 * `server.json` in the data dir: where the `rivya serve` running on it listens, so that client
 * commands run next to it (same data dir) find it without `--base-url`. Written once the service
 * listens, removed when it stops cleanly; a file whose process is gone (killed) is ignored.
 */
const FILE_NAME = 'server.json';

interface ServiceAddressRecord {
  url: string;
  pid: number;
  host: string;
}

/** A URL a client on this machine can connect to: an address that means "every interface" becomes loopback. */
export function reachableUrl(listening: string): string {
  const url = new URL(listening);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.hostname === '[::]') url.hostname = '[::1]';
  return url.origin;
}

/** Records that this process serves at `url`; `remove()` takes the record away if it is still this process's. */
export async function recordServiceAddress(dataDir: string, url: string): Promise<{ url: string; remove(): Promise<void> }> {
  const path = join(dataDir, FILE_NAME);
  const record: ServiceAddressRecord = { url: reachableUrl(url), pid: process.pid, host: hostname() };
  // Written aside and renamed: a client never reads half a file.
  const partial = `${path}.${process.pid}`;
  await writeFile(partial, `${JSON.stringify(record)}\n`);
  await rename(partial, path);
  return {
    url: record.url,
    async remove() {
      const current = await readRecord(path);
      if (current?.pid === process.pid && current.host === record.host) await unlink(path).catch(() => {});
    },
  };
}

/** The URL of the `rivya serve` running on `dataDir` on this machine, or null (none recorded, or its process is gone). */
export async function recordedServiceUrl(dataDir: string): Promise<string | null> {
  const record = await readRecord(join(dataDir, FILE_NAME));
  if (!record || record.host !== hostname() || !isProcessAlive(record.pid)) return null;
  return record.url;
}

async function readRecord(path: string): Promise<ServiceAddressRecord | null> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { url, pid, host } = parsed as Partial<Record<keyof ServiceAddressRecord, unknown>>;
  if (typeof url !== 'string' || !URL.canParse(url) || !Number.isInteger(pid) || (pid as number) <= 0 || typeof host !== 'string') return null;
  return { url, pid: pid as number, host };
}
