/**
 * Domain types of Rivya.
 *
 * Glossary
 * - task: one request to generate a video with a model; it lives queued → running → succeeded | failed,
 *   or is canceled while queued or running. Terminal statuses never change again.
 * - hold: credits set aside for a task at creation (its model's price); the account's available
 *   credits drop by it, its balance does not.
 * - capture: a task that succeeded turns its hold into a charge: balance drops by the hold.
 * - release: a task that failed or was canceled voids its hold: available credits return.
 * - grant / adjust: credits added (or, adjust, removed) by an operator.
 * - provider: what makes the video (the local renderer, or an upstream such as Kie.ai).
 * - target: the object store a result is uploaded to, named by the task's `upload_method` (`s3`, `oss`).
 * - lease: a worker's claim on a running task, renewed while it works; an expired lease means the
 *   worker died and another may resume the task.
 */

export const TASK_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const ACTIVE_STATUSES = ['queued', 'running'] as const satisfies readonly TaskStatus[];
export const TERMINAL_STATUSES = ['succeeded', 'failed', 'canceled'] as const satisfies readonly TaskStatus[];

export function isTerminal(status: TaskStatus): boolean {
  return (TERMINAL_STATUSES as readonly TaskStatus[]).includes(status);
}

export const TASK_ERROR_CODES = [
  'upstream_error', 'content_policy_violation', 'timeout', 'canceled', 'invalid_reference', 'internal_error',
] as const;
export type TaskErrorCode = (typeof TASK_ERROR_CODES)[number];

export interface TaskError {
  code: TaskErrorCode;
  message: string;
}

/** A result video as stored: where it is, and what was measured from the file. */
export interface StoredMedia {
  target: string;
  key: string;
  kind: 'video';
  name: string;
  mimeType: 'video/mp4';
  width: number;
  height: number;
  durationSeconds: number;
  sizeBytes: number;
}

/** A reference file a task was created with, resolved from its Files API URL. */
export interface TaskReferenceFile {
  fileId: string;
  kind: 'image' | 'video' | 'audio';
  name: string;
  mimeType: string;
  target: string;
  key: string;
}

/** Which of a task's events its own webhook receives. */
export type TaskWebhookEvents = 'terminal' | 'all';

export interface TaskRecord {
  id: string;
  accountId: string;
  model: string;
  prompt: string;
  params: Record<string, string>;
  referenceFiles: TaskReferenceFile[];
  clientRequestId: string | null;
  status: TaskStatus;
  progress: number;
  reservedCredits: number;
  finalCredits: number;
  result: { media: StoredMedia[] } | null;
  error: TaskError | null;
  /** The provider account asked last (set before the request is sent), or that accepted the job. */
  provider: string | null;
  upstreamId: string | null;
  /** When the last submission to `provider` was sent. */
  submittedAt: Date | null;
  /** The upstream job a callback named after the submission's answer was lost (unverified). */
  upstreamHint: string | null;
  attempts: number;
  /** Where the task's own events are also delivered (set at creation; never shown in the Task object). */
  webhookUrl: string | null;
  /** Which of its events go to `webhookUrl`: the terminal ones, or all of them. */
  webhookEvents: TaskWebhookEvents;
  deadlineAt: Date;
  createdAt: Date;
  /** The row's last write, leases and hand-overs included (the sweeper goes by it). */
  updatedAt: Date;
  /** When what a client sees of the task last changed: its `updated_at`. */
  changedAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
}

export interface AccountLimits {
  creates_per_minute: number;
  requests_per_minute: number;
  active_tasks: number;
}

export const DEFAULT_LIMITS: AccountLimits = { creates_per_minute: 60, requests_per_minute: 1200, active_tasks: 20 };

export interface Account {
  id: string;
  name: string;
  balance: number;
  held: number;
  activeTasks: number;
  limits: AccountLimits;
  createdAt: Date;
}

/**
 * A value as of a position of its account's log: every change to the account up to `position`
 * (each change takes the next seq of the log, migration 0012) is in it.
 */
export interface AtPosition<T> {
  value: T;
  position: number;
}
