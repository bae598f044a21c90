import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { StoredMedia, TaskError, TaskRecord } from '../domain.js';
import type { EventFeed } from '../events/event-feed.js';
import { probeVideo } from '../media/probe-video.js';
import type { Provider, ProviderContext, ProviderStep } from '../providers/port.js';
import { IntentNotRecorded, type ProviderRouter } from '../providers/provider-router.js';
import { redactUpstreamText, UpstreamError } from '../providers/upstream-error.js';
import type { ObjectStore } from '../storage/port.js';
import type { TaskJob, TaskLifecycle } from '../tasks/task-lifecycle.js';
import type { TaskStore } from '../tasks/task-store.js';
import type { EndContext } from '../tasks/task-transitions.js';
import { randomBase62 } from '../ids.js';

/** Progress while running: 0–99 (100 belongs to a finished task). */
function clampProgress(percent: number): number {
  return Math.max(0, Math.min(99, Math.round(percent)));
}

/** The wait before the next poll: exponential from `minSeconds` to `maxSeconds`, with ±20% jitter. */
export function pollDelaySeconds(polls: number, bounds: { minSeconds: number; maxSeconds: number }, random = Math.random): number {
  const base = Math.min(bounds.maxSeconds, bounds.minSeconds * Math.pow(1.5, polls));
  return base * (0.8 + 0.4 * random());
}

export interface TaskRunnerDeps {
  tasks: TaskStore;
  /** Claims, progress, ends and hand-overs: every change of the task's status goes through it. */
  lifecycle: TaskLifecycle;
  /** The provider accounts and the routes over them. */
  router: ProviderRouter;
  /** Polling backoff bounds. */
  poll: { minSeconds: number; maxSeconds: number };
  /** Rounds of failed submission (every account refused, retryably) before the task fails. */
  submitRounds: number;
  /** The object store of each upload target. */
  stores: ReadonlyMap<string, ObjectStore>;
  /** Wakes the attempt's lease renewal at each event of its task, from any process (a cancel elsewhere). */
  feed: Pick<EventFeed, 'nextTaskEvent'>;
  logger: FastifyBaseLogger;
  /** Unique per worker process; each attempt's lease token starts with it. */
  workerId: string;
  leaseSeconds: number;
  /** Where attempts keep their files (one directory each, removed after the attempt). */
  workRoot: string;
  /** A task that has been started this many times without ending fails (a crash loop). */
  maxAttempts: number;
  ffmpegPath: string;
  /** Aborted when the process shuts down: running attempts stop and leave their tasks to be resumed. */
  shutdown: AbortSignal;
}

class LeaseLost extends Error {}
class ShuttingDown extends Error {}

/**
 * Moves one task forward: claim it, run its provider, store the video on the task's target,
 * and end it — capture on success, release on failure — in one transaction. Safe to run twice
 * for the same task (a duplicate job, or a resumed one after a crash): the lease and the
 * status guard decide who may act.
 */
export function createTaskRunner(deps: TaskRunnerDeps) {
  /** Fails the task (hold released); `why` (a reason, the upstream's masked words) goes to its `task ended` line. */
  async function fail(task: TaskRecord, lease: string, error: TaskError, why: EndContext = {}): Promise<void> {
    await deps.lifecycle.end(task.id, { status: 'failed', error }, { from: ['running'], lease }, why);
  }

  async function storeResult(task: TaskRecord, videoPath: string, attemptToken: string): Promise<StoredMedia> {
    const target = task.params['upload_method'] ?? 's3';
    const store = deps.stores.get(target);
    if (!store) throw new Error(`No object store is configured for target ${target}.`);
    const info = await probeVideo(videoPath, deps.ffmpegPath).catch((error: unknown) => {
      // A provider's file that ffmpeg cannot read is the provider's failure, not a reason to retry.
      throw new UpstreamError({
        message: 'The provider delivered a video that could not be read.', reason: 'unreadable_video', retryable: false,
        detail: error instanceof Error ? error.message : String(error),
      });
    });
    const name = `${task.id}.mp4`;
    // Each attempt writes its own object, so an attempt that lost the task deletes only its own.
    const key = `results/${task.id}/${attemptToken}/${name}`;
    const { sizeBytes } = await store.put(key, createReadStream(videoPath), { contentType: 'video/mp4' });
    return {
      target, key, kind: 'video', name, mimeType: 'video/mp4',
      width: info.width, height: info.height, durationSeconds: info.durationSeconds, sizeBytes,
    };
  }

  async function downloadReferences(task: TaskRecord, workDir: string): Promise<{ paths: string[]; urls: string[] }> {
    const paths: string[] = [];
    const urls: string[] = [];
    // Upstreams fetch references from these links while they work: valid until the task's deadline.
    const expiresAt = new Date(Math.max(task.deadlineAt.getTime(), Date.now()) + 3_600_000);
    for (const [index, file] of task.referenceFiles.entries()) {
      const store = deps.stores.get(file.target);
      const object = await store?.get(file.key);
      if (!store || !object) throw Object.assign(new Error('reference missing'), { taskError: 'invalid_reference' as const });
      const path = join(workDir, `reference-${index}`);
      await pipeline(object.body, createWriteStream(path));
      paths.push(path);
      urls.push(await store.signedUrl(file.key, expiresAt));
    }
    return { paths, urls };
  }

  /**
   * The attempt's step: poll the account that accepted the job; or adopt the job a callback named
   * (once the upstream's own record confirms it is this task's); or, unless a lost submission is
   * still awaiting its callback, submit through the router (which records each account it asks).
   */
  async function step(
    task: TaskRecord,
    lease: string,
    context: ProviderContext & { referencePaths: string[]; referenceUrls: string[] },
    log: FastifyBaseLogger,
  ): Promise<{ account: Provider; step: ProviderStep }> {
    if (task.upstreamId !== null) {
      const account = deps.router.account(task.provider);
      if (!account) {
        throw new UpstreamError({
          message: 'The provider that accepted this task is no longer configured.', reason: 'account_removed', retryable: false,
          detail: `account ${task.provider ?? 'unknown'}`,
        });
      }
      return { account, step: await deps.router.poll(account, { ...task, upstreamId: task.upstreamId }, context) };
    }
    const pinned = deps.router.account(task.provider);
    if (pinned?.adopt && task.upstreamHint) {
      // A retryable failure of this check is thrown: the task waits and checks again, never resends meanwhile.
      if (await deps.router.adopt(pinned, task, task.upstreamHint, context.signal)) {
        if (!(await deps.tasks.recordUpstream(task.id, lease, pinned.name, task.upstreamHint))) throw new IntentNotRecorded();
        log.info({ provider: pinned.name, upstream_id: task.upstreamHint }, 'adopted the upstream job its callback named');
        const adopted = { ...task, upstreamId: task.upstreamHint };
        return { account: pinned, step: await deps.router.poll(pinned, adopted, context) };
      }
      await deps.tasks.clearHint(task.id, lease);
    }
    const waiting = deps.router.awaitingResend(task);
    if (waiting) throw waiting;
    // References are fetched only now that they will be sent.
    const references = await downloadReferences(task, context.workDir);
    context.referencePaths.push(...references.paths);
    context.referenceUrls.push(...references.urls);
    return deps.router.submit(task, context, {
      recordIntent: (account) => deps.tasks.recordIntent(task.id, lease, account),
    });
  }

  async function handle(job: TaskJob): Promise<void> {
    // Not after shutdown began: the job fails and pg-boss runs it again later.
    deps.shutdown.throwIfAborted();
    const attemptToken = randomBase62(8);
    const lease = `${deps.workerId}:${attemptToken}`;
    // The claim that takes the task out of the queue starts it (its `task.running` event); later
    // claims (hand-overs, resumes, callbacks) carry on a running task.
    const claimed = await deps.lifecycle.claim(job, lease, deps.leaseSeconds);
    if (!claimed) return;
    const { task } = claimed;
    if (task.attempts > deps.maxAttempts) {
      await fail(task, lease, { code: 'internal_error', message: 'The task could not be completed; its credits were released.' });
      return;
    }
    const log = deps.logger.child({ task_id: task.id, attempt: task.attempts });
    const abort = new AbortController();
    const onShutdown = () => abort.abort(new ShuttingDown('The worker is shutting down.'));
    deps.shutdown.addEventListener('abort', onShutdown, { once: true });
    const finished = new AbortController();
    let heartbeats: Promise<void> = Promise.resolve();
    let workDir: string | null = null;
    const polls = job.polls ?? 0;
    const retries = job.retries ?? 0;
    try {
      workDir = await mkdtemp(join(deps.workRoot, `${task.id}-`));
      let progress: number | null = null;
      let reported = task.progress;
      // Renews the lease and stores a higher progress (with its event, at most every 500 ms per task).
      const beat = async (): Promise<void> => {
        const next = progress !== null && progress > reported ? progress : null;
        const { held, progress: stored } = await deps.lifecycle.heartbeat(task.id, lease, deps.leaseSeconds, next);
        if (stored !== null) reported = Math.max(reported, stored);
        if (!held) abort.abort(new LeaseLost("The task is no longer this attempt's to run."));
      };
      // Renew the lease a few times per lease period, and at once when the task changes (a cancel).
      const beatsEnd = AbortSignal.any([abort.signal, finished.signal]);
      heartbeats = (async () => {
        while (!beatsEnd.aborted) {
          await deps.feed.nextTaskEvent(task.id, Math.max(250, (deps.leaseSeconds * 1000) / 4), beatsEnd);
          if (!beatsEnd.aborted) await beat().catch(() => {});
        }
      })();
      let lastProgressWrite = 0;
      const context = {
        signal: abort.signal,
        workDir,
        referencePaths: [] as string[],
        referenceUrls: [] as string[],
        reportProgress(percent: number) {
          progress = clampProgress(percent);
          const now = Date.now();
          if (progress >= reported + 5 && now - lastProgressWrite > 500) {
            lastProgressWrite = now;
            void beat().catch(() => {});
          }
        },
      };
      const { account, step: next } = await step(task, lease, context, log);
      switch (next.state) {
        case 'submitted':
          if (!(await deps.tasks.recordUpstream(task.id, lease, account.name, next.upstreamId))) {
            // Taken over meanwhile: the job is still the task's, and is kept to be polled.
            if (await deps.tasks.recordOrphanedUpstream(task.id, account.name, next.upstreamId)) return;
            // Canceled or timed out while the upstream was accepting: its job is of no use now.
            await deps.router.cancel(account, { ...task, upstreamId: next.upstreamId });
            return;
          }
          log.info({ provider: account.name, upstream_id: next.upstreamId }, 'task accepted upstream');
          await deps.lifecycle.handOver({ taskId: task.id, polls: 0 }, lease, next.pollAfterSeconds ?? pollDelaySeconds(0, deps.poll));
          return;
        case 'running':
          if (next.progress !== null) progress = clampProgress(next.progress);
          await beat();
          await deps.lifecycle.handOver({ taskId: task.id, polls: polls + 1 }, lease, next.pollAfterSeconds ?? pollDelaySeconds(polls + 1, deps.poll));
          return;
        case 'failed':
          await fail(task, lease, { code: next.code, message: next.message }, { reason: 'failed_upstream', detail: next.detail ?? '' });
          return;
        case 'succeeded': {
          const media = await storeResult(task, next.videoPath, attemptToken);
          const ended = await deps.lifecycle.end(task.id, { status: 'succeeded', media: [media] }, { from: ['running'], lease });
          if (!ended) {
            // Canceled, timed out or taken over meanwhile: nothing is charged, and this attempt's video is not kept.
            await deps.stores.get(media.target)?.delete(media.key);
          }
          return;
        }
      }
    } catch (error) {
      if (abort.signal.aborted && abort.signal.reason instanceof LeaseLost) {
        log.info('task stopped: canceled, timed out or taken over');
        return;
      }
      if (abort.signal.aborted && abort.signal.reason instanceof ShuttingDown) {
        log.info('task left to be resumed after restart');
        await deps.tasks.expireLease(task.id, lease, true).catch(() => {});
        return;
      }
      if (error instanceof IntentNotRecorded) return;
      if ((error as { taskError?: TaskError['code'] }).taskError === 'invalid_reference') {
        await fail(task, lease, { code: 'invalid_reference', message: 'A reference file is no longer available.' });
        return;
      }
      if (error instanceof UpstreamError) {
        await upstreamFailed(task, lease, error, { polls, retries }, log);
        return;
      }
      log.error({ err: error }, 'task attempt failed; it will be retried');
      await deps.tasks.expireLease(task.id, lease).catch(() => {});
      throw error;
    } finally {
      finished.abort();
      await heartbeats;
      deps.shutdown.removeEventListener('abort', onShutdown);
      if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => {});
    }
  }

  /**
   * An upstream call failed. A refusal fails the task (hold released). A retryable error is
   * tried again after a backoff (or the upstream's `Retry-After`): a poll until the task's
   * deadline, a submission for `submitRounds` rounds.
   */
  async function upstreamFailed(
    task: TaskRecord,
    lease: string,
    error: UpstreamError,
    job: { polls: number; retries: number },
    log: FastifyBaseLogger,
  ): Promise<void> {
    // The failed call itself was reported (and logged) by the router; here, what it means for the task.
    if (error.reason === 'awaiting_callback') {
      // Not a failure: the submission waits for its upstream to confirm the job, then is sent again.
      await deps.lifecycle.handOver({ taskId: task.id, polls: job.polls, retries: job.retries }, lease, error.retryAfterSeconds ?? 1);
      return;
    }
    const submitting = task.upstreamId === null;
    if (!error.retryable || (submitting && job.retries + 1 >= deps.submitRounds)) {
      const message = error.retryable ? 'No provider could take the task; its credits were released.' : error.message;
      await fail(task, lease, { code: error.retryable ? 'upstream_error' : error.taskCode, message }, { reason: error.reason, detail: redactUpstreamText(error.detail) });
      return;
    }
    const delay = Math.max(error.retryAfterSeconds ?? 0, pollDelaySeconds(job.retries, deps.poll));
    log.info({ provider: task.provider, reason: error.reason, retry_in_s: Math.round(delay * 10) / 10 }, 'task will try its upstream again');
    await deps.lifecycle.handOver({ taskId: task.id, polls: job.polls, retries: job.retries + 1 }, lease, delay);
  }

  return { handle };
}
