import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/rivya.js', import.meta.url));

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface ServeProcess {
  url: string;
  process: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
}

/**
 * Starts `rivya serve` as a user would (`node bin/rivya.js serve`, or an installed `bin`), in `cwd`
 * (default: here), and waits until it listens.
 */
export async function startServe(
  env: Record<string, string | undefined>,
  args: string[] = [],
  options: { cwd?: string; bin?: string } = {},
): Promise<ServeProcess> {
  const port = env['PORT'] ? Number(env['PORT']) : await freePort();
  const [command, commandArgs] = options.bin ? [options.bin, ['serve', ...args]] : [process.execPath, [BIN, 'serve', ...args]];
  const child = spawn(command, commandArgs, {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), RIVYA_PUBLIC_URL: `http://127.0.0.1:${port}`, ...env },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await Promise.race([
    (async () => {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        if (output.includes('rivya is running')) return true;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return false;
    })(),
    exited.then(() => false),
  ]);
  if (!ready) {
    child.kill('SIGKILL');
    throw new Error(`rivya serve did not start:\n${output}`);
  }
  return { url: `http://127.0.0.1:${port}`, process: child, output: () => output, exited };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `rivya <args>` as a user would (`node bin/rivya.js`, pipes, not a terminal) to its end. */
export function runRivya(args: string[], env: Record<string, string | undefined>, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The dev key the first start saved in the data dir. */
export async function devKey(dataDir: string): Promise<string> {
  return (await readFile(join(dataDir, 'dev-api-key'), 'utf8')).trim();
}

/** JSON over real HTTP with the API key. */
export function apiClient(base: string, key: string) {
  return async <T = Record<string, unknown>>(path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${key}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
}
