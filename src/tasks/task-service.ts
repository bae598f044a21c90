import { ApiError, validationFailed } from '../errors.js';
import { validateTaskRequest } from '../catalog/validate-task-request.js';
import { isTerminal, type Account, type TaskRecord, type TaskReferenceFile } from '../domain.js';
import type { EventFeed } from '../events/event-feed.js';
import type { IdempotencyStore, IdempotentRequest, IdempotencyOutcome } from '../idempotency/idempotency-store.js';
import type { ObjectStore } from '../storage/port.js';
import { presentTask, resultUrlExpiry, type TaskView } from './present-task.js';
import type { TaskLifecycle } from './task-lifecycle.js';
import type { TaskListFilter, TaskStore } from './task-store.js';
import type { Page } from '../pagination.js';
import { LruCache } from '../lru-cache.js';
import type { ReferenceMediaItem } from '../catalog/validate-task-request.js';
import type { UploadPolicy } from '../catalog/models.js';
import type { Queryable } from '../db/port.js';
import type { ProviderRefusal } from '../providers/port.js';
import type { FastifyBaseLogger } from 'fastify';

export interface TaskServiceDeps {
  tasks: TaskStore;
  /** Creates and cancels tasks (with their holds, events and jobs). */
  lifecycle: TaskLifecycle;
  idempotency: IdempotencyStore;
  /** Tells a waiting long-poll of each event of its task, from any process. */
  feed: Pick<EventFeed, 'nextTaskEvent'>;
  stores: ReadonlyMap<string, ObjectStore>;
  /** Turns reference items into the caller's files the model's upload policy takes, or reports the items that are not. */
  resolveReferences(account: Account, items: ReferenceMediaItem[], policy: UploadPolicy): Promise<TaskReferenceFile[]>;
  taskTimeoutSeconds: number;
  resultUrlTtlSeconds: number;
  /** Why no configured provider can run this model with these params (null: one can). */
  refuseParams(model: string, params: Readonly<Record<string, string>>): ProviderRefusal | null;
  /** Best-effort cancel of the upstream job of a task that was just canceled (never throws). */
  cancelUpstream(task: TaskRecord): Promise<void>;
  /**
   * Why a task's `webhook_url` is refused (null: it is fine): the message of a `validation_failed`
   * on `webhook_url`. Checked for new tasks only, like everything that depends on more than the body.
   */
  checkWebhookUrl(url: string): Promise<string | null>;
}

/** What the API does with tasks: create (hold, event and job in one transaction), read, wait, list, cancel. */
export function createTaskService(deps: TaskServiceDeps) {
  // An ended task looks the same until its URLs' expiry hour changes: keep its view.
  const endedViews = new LruCache<string, TaskView>(10_000, 3_600_000);
  const present = async (task: TaskRecord): Promise<TaskView> => {
    const expiry = resultUrlExpiry(new Date(), deps.resultUrlTtlSeconds);
    if (!isTerminal(task.status)) return presentTask(task, deps.stores, expiry);
    const key = `${task.id}@${expiry.getTime()}`;
    const cached = endedViews.get(key);
    if (cached) return cached;
    const view = await presentTask(task, deps.stores, expiry);
    endedViews.set(key, view);
    return view;
  };

  return {
    present,

    /**
     * Validates and creates a task: idempotency key, hold, task row, its `task.queued` event and
     * its job commit together or not at all. Returns the response to send (a replay, if the key was seen).
     */
    async create(
      account: Account,
      body: unknown,
      idempotency: IdempotentRequest | null,
      /** Runs before a new task is made (not for a replay): the create rate limit. */
      admit: () => Promise<void> = async () => {},
      /** The request's logger: the `task created` line carries its request id. */
      log?: FastifyBaseLogger,
    ): Promise<IdempotencyOutcome> {
      const validation = validateTaskRequest(body);
      if (!validation.ok) throw validationFailed(validation.issues);
      const request = validation.request;
      // What depends on more than the body (the providers configured, the files that are live now)
      // is checked only once the request is known not to be a replay: the retry of a create is
      // that create's answer, even after its reference file was deleted.
      let referenceFiles: TaskReferenceFile[] = [];
      const admitNew = async () => {
        const refusal = deps.refuseParams(request.model.id, request.params);
        if (refusal) {
          throw validationFailed([{ path: refusal.param === 'model' ? 'model' : `params.${refusal.param}`, message: refusal.message }]);
        }
        if (request.webhookUrl !== null) {
          const refused = await deps.checkWebhookUrl(request.webhookUrl);
          if (refused !== null) throw validationFailed([{ path: 'webhook_url', message: refused }]);
        }
        referenceFiles = await deps.resolveReferences(account, request.referenceMediaItems, request.model.upload_policy);
        await admit();
      };
      let created = null as Awaited<ReturnType<TaskLifecycle['create']>> | null;
      const outcome = await deps.idempotency.run(idempotency, async (tx: Queryable) => {
        created = await deps.lifecycle.create(tx, {
          accountId: account.id,
          model: request.model.id,
          prompt: request.prompt,
          params: request.params,
          referenceFiles,
          clientRequestId: request.clientRequestId,
          price: request.model.credits,
          activeTaskLimit: account.limits.active_tasks,
          timeoutSeconds: deps.taskTimeoutSeconds,
          webhookUrl: request.webhookUrl,
          webhookEvents: request.webhookEvents,
        });
        return { status: 201, body: await present(created.task) };
      }, admitNew);
      if (!outcome.replayed) created?.announce(log);
      return outcome;
    },

    /** The task, waiting up to `waitSeconds` for it to reach a terminal status. */
    async get(account: Account, id: string, waitSeconds: number, signal?: AbortSignal): Promise<TaskView> {
      const deadline = Date.now() + waitSeconds * 1000;
      for (;;) {
        const task = await deps.tasks.get(account.id, id);
        if (!task) throw new ApiError('not_found', `Task ${id} not found.`);
        const left = deadline - Date.now();
        if (isTerminal(task.status) || left <= 0 || signal?.aborted) return present(task);
        // Every change of status is an event, announced to every process as it commits (and waiters
        // wake when announcements may have been lost): the re-read every 10 s is only a safety net.
        await deps.feed.nextTaskEvent(id, Math.min(left, 10_000), signal);
      }
    },

    /** The account's tasks, newest first. */
    async list(account: Account, filter: TaskListFilter): Promise<Page<TaskView>> {
      const page = await deps.tasks.list(account.id, filter);
      return { ...page, data: await Promise.all(page.data.map(present)) };
    },

    /** Cancels a queued or running task and releases its credits; an ended task is `invalid_state`. */
    async cancel(account: Account, id: string, idempotency: IdempotentRequest | null, log?: FastifyBaseLogger): Promise<IdempotencyOutcome> {
      let canceled = null as Awaited<ReturnType<TaskLifecycle['endIn']>>;
      const outcome = await deps.idempotency.run(idempotency, async (tx) => {
        const { rows } = await tx.query<{ status: TaskRecord['status'] }>(
          'SELECT status FROM tasks WHERE id = $1 AND account_id = $2',
          [id, account.id],
        );
        const current = rows[0];
        if (!current) throw new ApiError('not_found', `Task ${id} not found.`);
        const ended = await deps.lifecycle.endIn(tx, id, { status: 'canceled', error: { code: 'canceled', message: 'Canceled by the client.' } }, {
          from: ['queued', 'running'],
        });
        if (!ended) {
          throw new ApiError('invalid_state', `Task ${id} has already ended (${current.status}); only queued or running tasks can be canceled.`);
        }
        // Not through the view cache: this transaction may still roll back.
        canceled = ended;
        return { status: 200, body: await presentTask(ended.task, deps.stores, resultUrlExpiry(new Date(), deps.resultUrlTtlSeconds)) };
      });
      if (canceled) void deps.cancelUpstream(canceled.task);
      if (!outcome.replayed) canceled?.announce({ log });
      return outcome;
    },
  };
}

export type TaskService = ReturnType<typeof createTaskService>;
