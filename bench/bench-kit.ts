// Shared pieces of the benchmarks: start a process and wait for it, load a URL with autocannon.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';

const root = new URL('..', import.meta.url).pathname;

/** Starts `node args…` in the repository and resolves once its output contains `readyText`. */
export async function startProcess(args: string[], env: Record<string, string>, readyText: string): Promise<ChildProcess> {
  return (await startProcessUntil(args, env, readyText)).child;
}

/**
 * Starts `node args…` in the repository and resolves once its output matches `ready`, with the
 * match: a process that prints what it chose (a port, a URL) is told apart by it.
 */
export async function startProcessUntil(
  args: string[], env: Record<string, string>, ready: string | RegExp,
): Promise<{ child: ChildProcess; match: readonly string[] }> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const matchIn = (text: string): readonly string[] | null => (typeof ready === 'string' ? (text.includes(ready) ? [ready] : null) : text.match(ready));
  const match = await new Promise<readonly string[]>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = matchIn(output);
      if (found) resolve(found);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}:\n${output}`)));
  });
  return { child, match };
}

/**
 * Starts bench/bare-server.ts on `port`: it answers each path of `bodies` with that body and any
 * other request with `otherBody`. The bodies are written as files in `dir`.
 */
export async function startBareServer(dir: string, port: number, otherBody: string, bodies: Record<string, string>): Promise<ChildProcess> {
  const write = async (index: number, body: string) => {
    const file = join(dir, `bare-body-${index}.json`);
    await writeFile(file, body);
    return file;
  };
  const pathFiles = await Promise.all(Object.entries(bodies).map(async ([path, body], index) => `${path}=${await write(index + 1, body)}`));
  return startProcess(['bin/run-ts.js', 'bench/bare-server.ts', String(port), await write(0, otherBody), ...pathFiles], {}, 'bare server ready');
}

export interface Result { rps: number; p50: number; p99: number; errors: number; non2xx: number }

/** Loads a URL with autocannon; connections and duration come with the options. */
export async function load(options: autocannon.Options): Promise<Result> {
  const result = await autocannon(options);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

