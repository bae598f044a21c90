// Shared pieces of the benchmarks: start a process and wait for it, load a URL with autocannon.
import { spawn, type ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';

const root = new URL('..', import.meta.url).pathname;

/** Starts `node args…` in the repository and resolves once its output contains `readyText`. */
export async function startProcess(args: string[], env: Record<string, string>, readyText: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(readyText)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}:\n${output}`)));
  });
  return child;
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

