import type { TaskErrorCode, TaskRecord } from '../domain.js';

/**
 * The `Provider` port: what turns a task into a video. A provider is one *account*: the local
 * renderer, or one set of credentials at an upstream (Kie.ai, an OpenAI-style `/v1/videos`
 * gateway). The worker, through the router, calls `submit` once per task (again only where the
 * upstream can tell a repeat from a new job) and `poll` while the upstream works; local renderers
 * finish inside `submit`.
 *
 * Transport and HTTP failures are thrown as `UpstreamError` (./upstream-error.ts); a job the
 * upstream ran and refused or failed comes back as a `failed` step.
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
  /** Signed, publicly fetchable URLs of the same files, for upstreams that download them. */
  referenceUrls: readonly string[];
}

export type ProviderStep =
  /** The upstream accepted the job: the worker stores `upstreamId` before anything else. */
  | { state: 'submitted'; upstreamId: string; pollAfterSeconds?: number }
  /** Still working; `pollAfterSeconds` overrides the worker's backoff when the upstream asked for it. */
  | { state: 'running'; progress: number | null; pollAfterSeconds?: number }
  /** The finished video, as an MP4 file on local disk. */
  | { state: 'succeeded'; videoPath: string }
  /** `message` is shown to the client; `detail` (the upstream's own words, masked) goes to logs only. */
  | { state: 'failed'; code: TaskErrorCode; message: string; detail?: string };

export type ProviderKind = 'local' | 'instant' | 'kie' | 'openai-videos';

export interface Provider {
  /** The account's name, stored with each task it accepted (that account alone polls it). */
  readonly name: string;
  readonly kind: ProviderKind;
  /**
   * How long after a submission whose answer was lost to wait (for its callback to name the job,
   * see `adopt`) before sending it again: 0 where a repeat yields the same upstream job (an
   * idempotency key the upstream honours, or no upstream at all).
   */
  readonly resendAfterSeconds: number;
  /** The first parameter this account cannot express for `model` exactly as given, or null if it can run it. */
  refuses(model: string, params: Readonly<Record<string, string>>): ProviderRefusal | null;
  /** Starts the task. */
  submit(task: TaskRecord, context: ProviderContext): Promise<ProviderStep>;
  /** Checks a job this account accepted; downloads the video when it is done. */
  poll(task: TaskRecord & { upstreamId: string }, context: ProviderContext): Promise<ProviderStep>;
  /** Best-effort cancel upstream. */
  cancel(task: TaskRecord & { upstreamId: string }): Promise<void>;
  /**
   * Asks the upstream whether its job `upstreamId` (named by a callback, which is not trusted)
   * was made for `task`: true only if the upstream's own record of the job says so.
   */
  adopt?(task: TaskRecord, upstreamId: string, signal: AbortSignal): Promise<boolean>;
}

export interface ProviderRefusal {
  /** The parameter, e.g. `n_frames`. */
  param: string;
  /** For the client: what is not offered, without naming accounts. */
  message: string;
  /** For logs and configuration errors: which account and why. */
  detail: string;
}
