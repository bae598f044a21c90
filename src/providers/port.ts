import type { TaskErrorCode, TaskRecord } from '../domain.js';

/**
 * The `Provider` port: what turns a task into a video. The worker calls `submit` once per task
 * (or again after a crash when no upstream id was stored) and `poll` while the provider works.
 * Local renderers finish inside `submit`; upstreams return `submitted` and are polled.
 */

export interface ProviderContext {
  /** Aborted when the task is canceled, times out, or the worker shuts down. */
  signal: AbortSignal;
  /** Reports progress 0–100; the worker stores it (throttled) with the task. */
  reportProgress(percent: number): void;
  /** A private directory for this attempt's files; deleted after the attempt. */
  workDir: string;
  /** Local paths of the task's reference files, in the order of its `referenceFiles`. */
  referencePaths: readonly string[];
}

export type ProviderStep =
  | { state: 'submitted'; upstreamId: string; pollAfterSeconds: number }
  | { state: 'running'; progress: number | null; pollAfterSeconds: number }
  /** The finished video, as an MP4 file on local disk. */
  | { state: 'succeeded'; videoPath: string }
  | { state: 'failed'; code: TaskErrorCode; message: string };

export interface Provider {
  /** The provider account's name, stored with each task it runs. */
  readonly name: string;
  /** Starts the task; the worker records `upstreamId` before anything else happens. */
  submit(task: TaskRecord, context: ProviderContext): Promise<ProviderStep>;
  /** Checks a submitted task. */
  poll(task: TaskRecord & { upstreamId: string }, context: ProviderContext): Promise<ProviderStep>;
  /** Best-effort cancel upstream. */
  cancel(task: TaskRecord): Promise<void>;
}
