import { ApiError, validationFailed } from '../errors.js';
import { validateTaskRequest } from '../catalog/validate-task-request.js';
import { isTerminal, type Account, type AtPosition, type TaskRecord, type TaskReferenceFile } from '../domain.js';
import type { EventFeed } from '../events/event-feed.js';
import type { LiveView } from '../events/live-view.js';
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
  /** Unfinished tasks as this process last heard of them: polls are answered from it when it is current enough. */
  view: Pick<LiveView, 'task' | 'readTask'>;
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

/** A create's or cancel's answer, and the position of its change (absent for a replay). */
export type TaskOutcome = IdempotencyOutcome & { position?: number };

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

  /**
   * The task as the client may see it now, and the position that is current through: from the
   * view when it is at least at `seen` (what the client has been shown), else from the database.
   */
  const current = async (account: Account, id: string, seen: number): Promise<AtPosition<TaskView>> => {
    const held = deps.view.task(account.id, id, seen);
    if (held) return held;
    const read = await deps.view.readTask(account.id, id, async () => {
      const { value: task, position } = await deps.tasks.read(account.id, id);
      return { value: task ? await present(task) : null, position };
    });
    if (!read.value) throw new ApiError('not_found', `Task ${id} not found.`);
    return { value: read.value, position: Math.max(read.position, seen) };
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
    ): Promise<TaskOutcome> {
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
      const outcome: TaskOutcome = await deps.idempotency.run(idempotency, async (tx: Queryable) => {
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
      if (!outcome.replayed && created) {
        created.announce(log);
        outcome.position = created.position;
      }
      return outcome;
    },

    /**
     * The task, waiting up to `waitSeconds` for it to reach a terminal status; never older than
     * position `seen` (what the client has been shown, see `Rivya-Position`).
     */
    async get(account: Account, id: string, waitSeconds: number, signal?: AbortSignal, seen = 0): Promise<AtPosition<TaskView>> {
      const deadline = Date.now() + waitSeconds * 1000;
      for (;;) {
        const left = deadline - Date.now();
        // Waiting starts before the read: an event committed in between wakes it.
        const done = left > 0 ? new AbortController() : null;
        const woken = done ? deps.feed.nextTaskEvent(id, Math.min(left, 10_000), signal ? AbortSignal.any([signal, done.signal]) : done.signal) : null;
        let task: AtPosition<TaskView>;
        try {
          task = await current(account, id, seen);
        } catch (error) {
          done?.abort();
          throw error;
        }
        if (!woken || isTerminal(task.value.status) || signal?.aborted) {
          done?.abort();
          return task;
        }
        seen = task.position;
        // Every change of status is an event, announced to every process as it commits (and waiters
        // wake when announcements may have been lost): the re-read every 10 s is only a safety net.
        await woken;
      }
    },

    /** The account's tasks, newest first. */
    async list(account: Account, filter: TaskListFilter): Promise<Page<TaskView>> {
      const page = await deps.tasks.list(account.id, filter);
      return { ...page, data: await Promise.all(page.data.map(present)) };
    },

    /** Cancels a queued or running task and releases its credits; an ended task is `invalid_state`. */
    async cancel(account: Account, id: string, idempotency: IdempotentRequest | null, log?: FastifyBaseLogger): Promise<TaskOutcome> {
      let canceled = null as Awaited<ReturnType<TaskLifecycle['endIn']>>;
      const outcome: TaskOutcome = await deps.idempotency.run(idempotency, async (tx) => {
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
      if (!outcome.replayed && canceled) {
        canceled.announce({ log });
        outcome.position = canceled.position;
      }
      return outcome;
    },
  };
}

export type TaskService = ReturnType<typeof createTaskService>;
