import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { ApiError, ConnectionError, RivyaError, TaskFailedError, TimeoutError } from '../../packages/sdk/src/index.js';

/** Exit codes beyond the API's (`ERROR_CODES[code].exitCode`). */
export const EXIT = {
  ok: 0,
  /** Anything else that went wrong (a file that cannot be read, a download cut off). */
  failed: 1,
  usage: 2,
  /** The service could not be reached. */
  unreachable: 8,
  taskFailed: 9,
  taskCanceled: 10,
  interrupted: 130,
} as const;

/** A mistake in the command line: printed with a hint, exit 2. */
export class UsageError extends Error {}

/** A failure after a task was created: its id goes with the message and the JSON, so it can be found again. */
export class AfterTaskCreated extends Error {
  constructor(
    readonly failure: unknown,
    readonly taskId: string,
  ) {
    super(failure instanceof Error ? failure.message : String(failure));
  }
}

export interface Output {
  json: boolean;
  /** Writes the result: `value` as JSON with --json, else the human text. */
  result(value: unknown, human: string): void;
  /** Human progress and notes, on stderr (never mixed into --json output). */
  note(text: string): void;
}

export function createOutput(json: boolean, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Output {
  return {
    json,
    result(value, human) {
      stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
    },
    note(text) {
      stderr.write(`${text}\n`);
    },
  };
}

/** The exit code and message of an error thrown by a command. */
export function describeFailure(error: unknown): { exitCode: number; message: string; json: unknown } {
  if (error instanceof AfterTaskCreated) {
    const failure = describeFailure(error.failure);
    // A failed or canceled task describes itself; anything else leaves the task to be looked at again.
    if (error.failure instanceof TaskFailedError) return failure;
    return {
      exitCode: failure.exitCode,
      message: `${failure.message}\nTask ${error.taskId} was created; see how it ends with: rivya tasks get ${error.taskId} --wait --out <file>`,
      json: { ...(failure.json as object), task_id: error.taskId },
    };
  }
  if (error instanceof UsageError) {
    return { exitCode: EXIT.usage, message: `${error.message}\nSee --help.`, json: { error: { code: 'usage', message: error.message } } };
  }
  if (error instanceof ApiError) {
    const known = ERROR_CODES[error.code as ErrorCode] as (typeof ERROR_CODES)[ErrorCode] | undefined;
    const details = Array.isArray(error.details) && error.details.length > 1
      ? (error.details as { path?: string; message?: string }[]).map((issue) => `\n  - ${issue.path ?? ''}: ${issue.message ?? ''}`).join('')
      : '';
    return {
      exitCode: known?.exitCode ?? 1,
      message: `${error.message} (${error.code}${error.requestId ? `, request ${error.requestId}` : ''})${details}`,
      json: { error: { code: error.code, message: error.message, details: error.details, request_id: error.requestId, status: error.status } },
    };
  }
  if (error instanceof TaskFailedError) {
    const canceled = error.task.status === 'canceled';
    return {
      exitCode: canceled ? EXIT.taskCanceled : EXIT.taskFailed,
      message: error.message,
      json: { error: { code: error.code, message: error.message }, task: error.task },
    };
  }
  if (error instanceof ConnectionError) {
    // Which service was tried, and how to point at another: the address may have come from a default.
    const url = URL.canParse(error.url) ? new URL(error.url).origin : error.url;
    const message = `Could not reach the service at ${url} (${error.message}).\n` +
      'Start it with `rivya serve` (client commands run in the same folder find it), or give its address with --base-url or RIVYA_BASE_URL.';
    return { exitCode: EXIT.unreachable, message, json: { error: { code: 'unreachable', message, url } } };
  }
  if (error instanceof TimeoutError) {
    return { exitCode: EXIT.unreachable, message: error.message, json: { error: { code: 'unreachable', message: error.message } } };
  }
  if (error instanceof RivyaError) return { exitCode: EXIT.usage, message: error.message, json: { error: { code: 'usage', message: error.message } } };
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: EXIT.failed, message, json: { error: { code: 'failed', message } } };
}

/** Rows as aligned columns. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0))).join('  ')).join('\n');
}

/** A one-line progress bar: `[██████░░░░░░░░░░░░░░]  30% running  0:12`. */
export function progressBar(percent: number, status: string, elapsedSeconds: number, width = 24): string {
  const clamped = Math.max(0, Math.min(100, Math.round(percent)));
  const filled = Math.round((clamped / 100) * width);
  const minutes = Math.floor(elapsedSeconds / 60);
  const seconds = String(Math.floor(elapsedSeconds % 60)).padStart(2, '0');
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(clamped).padStart(3)}% ${status.padEnd(9)} ${minutes}:${seconds}`;
}
