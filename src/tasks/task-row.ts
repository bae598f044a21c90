import type { StoredMedia, TaskError, TaskRecord, TaskReferenceFile, TaskStatus, TaskWebhookEvents } from '../domain.js';

/** A row of `tasks` as the driver returns it. */
export interface TaskRow {
  seq: number;
  id: string;
  account_id: string;
  model: string;
  prompt: string;
  params: Record<string, string>;
  reference_files: TaskReferenceFile[];
  client_request_id: string | null;
  status: TaskStatus;
  progress: number;
  reserved_credits: number;
  final_credits: number;
  result: { media: StoredMedia[] } | null;
  error: TaskError | null;
  provider: string | null;
  upstream_id: string | null;
  submitted_at: Date | null;
  upstream_hint: string | null;
  attempts: number;
  webhook_url: string | null;
  webhook_events: TaskWebhookEvents;
  deadline_at: Date;
  created_at: Date;
  updated_at: Date;
  /** When what a client sees of the task last changed (migration 0012); null for tasks ended before it. */
  changed_at: Date | null;
  started_at: Date | null;
  completed_at: Date | null;
}

/** The domain record of a row. */
export function toTask(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    model: row.model,
    prompt: row.prompt,
    params: row.params,
    referenceFiles: row.reference_files,
    clientRequestId: row.client_request_id,
    status: row.status,
    progress: row.progress,
    reservedCredits: row.reserved_credits,
    finalCredits: row.final_credits,
    result: row.result,
    error: row.error,
    provider: row.provider,
    upstreamId: row.upstream_id,
    submittedAt: row.submitted_at,
    upstreamHint: row.upstream_hint,
    attempts: row.attempts,
    webhookUrl: row.webhook_url,
    webhookEvents: row.webhook_events,
    deadlineAt: row.deadline_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    changedAt: row.changed_at ?? row.updated_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
  };
}
