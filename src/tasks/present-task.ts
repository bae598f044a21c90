import type { TaskRecord } from '../domain.js';
import type { ObjectStore } from '../storage/port.js';

/** The public Task object (API.md, "Task object"). */
export interface TaskView {
  id: string;
  status: TaskRecord['status'];
  model: string;
  prompt: string;
  params: Record<string, unknown>;
  client_request_id: string | null;
  reserved_credits: number;
  final_credits: number;
  progress: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  result: {
    media: {
      url: string; kind: 'video'; name: string; mimeType: 'video/mp4';
      width: number; height: number; durationSeconds: number; sizeBytes: number;
    }[];
    expires_at: string;
  } | null;
  error: { code: string; message: string } | null;
}

/**
 * Result URLs expire `ttlSeconds` after the request, rounded up to the next hour, so the URL a
 * client sees stays the same across polls within that hour.
 */
export function resultUrlExpiry(now: Date, ttlSeconds: number): Date {
  const hour = 3_600_000;
  return new Date(Math.ceil((now.getTime() + ttlSeconds * 1000) / hour) * hour);
}

/** The Task object of a stored task, its result's URLs signed to expire at `urlExpiry`. */
export async function presentTask(
  task: TaskRecord,
  stores: ReadonlyMap<string, ObjectStore>,
  urlExpiry: Date,
): Promise<TaskView> {
  let result: TaskView['result'] = null;
  if (task.status === 'succeeded' && task.result) {
    const media = await Promise.all(
      task.result.media.map(async (item) => {
        const store = stores.get(item.target);
        if (!store) throw new Error(`No object store for target ${item.target}.`);
        return {
          url: await store.signedUrl(item.key, urlExpiry),
          kind: item.kind, name: item.name, mimeType: item.mimeType,
          width: item.width, height: item.height, durationSeconds: item.durationSeconds, sizeBytes: item.sizeBytes,
        };
      }),
    );
    result = { media, expires_at: urlExpiry.toISOString() };
  }
  return taskObject(task, result);
}

/** The Task object of a task without a result to sign (any but a succeeded one), at once. */
export function presentUnfinishedTask(task: TaskRecord): TaskView {
  return taskObject(task, null);
}

function taskObject(task: TaskRecord, result: TaskView['result']): TaskView {
  const params: Record<string, unknown> = { ...task.params };
  if (task.referenceFiles.length > 0) {
    params['referenceMediaItems'] = task.referenceFiles.map((file) => ({
      file_id: file.fileId, kind: file.kind, name: file.name, mimeType: file.mimeType,
    }));
  }
  return {
    id: task.id,
    status: task.status,
    model: task.model,
    prompt: task.prompt,
    params,
    client_request_id: task.clientRequestId,
    reserved_credits: task.reservedCredits,
    final_credits: task.finalCredits,
    progress: task.progress,
    created_at: task.createdAt.toISOString(),
    updated_at: task.changedAt.toISOString(),
    started_at: task.startedAt?.toISOString() ?? null,
    completed_at: task.completedAt?.toISOString() ?? null,
    result,
    error: task.status === 'failed' || task.status === 'canceled' ? task.error : null,
  };
}
