import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { StoredMedia, TaskError, TaskRecord } from '../domain.js';
import type { TaskEvents } from '../events/port.js';
import type { Metrics } from '../metrics.js';
import { probeVideo } from '../media/probe-video.js';
import type { Provider, ProviderStep } from '../providers/port.js';
import type { ObjectStore } from '../storage/port.js';
import type { TaskStore } from '../tasks/task-store.js';
import { randomBase62 } from '../ids.js';

export const TASK_QUEUE = 'task.run';

export interface TaskJob {
  taskId: string;
}

export interface TaskRunnerDeps {
  tasks: TaskStore;
  /** Picks the provider for a task's model. */
  providerFor(task: TaskRecord): Provider;
  /** The object store of each upload target. */
  stores: ReadonlyMap<string, ObjectStore>;
  events: TaskEvents;
  metrics: Metrics;
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
  /**
   * Releases the attempt's lease and enqueues the task's next job (a poll, after `afterSeconds`)
   * in one transaction, so the task always has either a live lease or a job.
   */
  handOver: (taskId: string, lease: string, afterSeconds: number) => Promise<void>;
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
  async function fail(task: TaskRecord, lease: string, error: TaskError): Promise<void> {
    const ended = await deps.tasks.endLeased(task.id, lease, { status: 'failed', error });
    if (ended) announce(ended);
  }

  function announce(task: TaskRecord): void {
    deps.metrics.taskTransition(task.model, task.status);
    deps.events.publish(task.id);
  }

  async function storeResult(task: TaskRecord, videoPath: string): Promise<StoredMedia> {
    const target = task.params['upload_method'] ?? 's3';
    const store = deps.stores.get(target);
    if (!store) throw new Error(`No object store is configured for target ${target}.`);
    const info = await probeVideo(videoPath, deps.ffmpegPath);
    const name = `${task.id}.mp4`;
    // Each attempt writes its own object, so an attempt that lost the task deletes only its own.
    const key = `results/${task.id}/${task.attempts}/${name}`;
    const { sizeBytes } = await store.put(key, createReadStream(videoPath), { contentType: 'video/mp4' });
    return {
      target, key, kind: 'video', name, mimeType: 'video/mp4',
      width: info.width, height: info.height, durationSeconds: info.durationSeconds, sizeBytes,
    };
  }

  async function downloadReferences(task: TaskRecord, workDir: string): Promise<string[]> {
    const paths: string[] = [];
    for (const [index, file] of task.referenceFiles.entries()) {
      const object = await deps.stores.get(file.target)?.get(file.key);
      if (!object) throw Object.assign(new Error('reference missing'), { taskError: 'invalid_reference' as const });
      const path = join(workDir, `reference-${index}`);
      await pipeline(object.body, createWriteStream(path));
      paths.push(path);
    }
    return paths;
  }

  async function handle(job: TaskJob): Promise<void> {
    // Not after shutdown began: the job fails and pg-boss runs it again later.
    deps.shutdown.throwIfAborted();
    const lease = `${deps.workerId}:${randomBase62(8)}`;
    const task = await deps.tasks.claim(job.taskId, lease, deps.leaseSeconds);
    if (!task) return;
    if (task.attempts === 1 && task.upstreamId === null) announce(task);
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
    try {
      workDir = await mkdtemp(join(deps.workRoot, `${task.id}-`));
      let progress: number | null = null;
      let reported = task.progress;
      const beat = async (): Promise<void> => {
        const next = progress !== null && progress > reported ? progress : null;
        const mine = await deps.tasks.heartbeat(task.id, lease, next, deps.leaseSeconds);
        if (next !== null) reported = next;
        if (!mine) abort.abort(new LeaseLost("The task is no longer this attempt's to run."));
      };
      // Renew the lease a few times per lease period, and at once when the task changes (a cancel).
      const beatsEnd = AbortSignal.any([abort.signal, finished.signal]);
      heartbeats = (async () => {
        while (!beatsEnd.aborted) {
          await deps.events.next(task.id, Math.max(250, (deps.leaseSeconds * 1000) / 4), beatsEnd);
          if (!beatsEnd.aborted) await beat().catch(() => {});
        }
      })();
      let lastProgressWrite = 0;
      const provider = deps.providerFor(task);
      const context = {
        signal: abort.signal,
        workDir,
        referencePaths: await downloadReferences(task, workDir),
        reportProgress(percent: number) {
          progress = Math.max(0, Math.min(99, Math.round(percent)));
          const now = Date.now();
          if (progress >= reported + 5 && now - lastProgressWrite > 500) {
            lastProgressWrite = now;
            void beat().catch(() => {});
          }
        },
      };
      const step: ProviderStep =
        task.upstreamId && task.provider === provider.name
          ? await provider.poll({ ...task, upstreamId: task.upstreamId }, context)
          : await provider.submit(task, context);
      switch (step.state) {
        case 'submitted':
          if (!(await deps.tasks.recordUpstream(task.id, lease, provider.name, step.upstreamId))) return;
          await deps.handOver(task.id, lease, step.pollAfterSeconds);
          return;
        case 'running':
          if (step.progress !== null) progress = step.progress;
          await beat();
          await deps.handOver(task.id, lease, step.pollAfterSeconds);
          return;
        case 'failed':
          log.info({ code: step.code, reason: step.message }, 'task failed at its provider');
          await fail(task, lease, { code: step.code, message: step.message });
          return;
        case 'succeeded': {
          const media = await storeResult(task, step.videoPath);
          const ended = await deps.tasks.endLeased(task.id, lease, { status: 'succeeded', media: [media] });
          if (ended) {
            announce(ended);
          } else {
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
        await deps.tasks.expireLease(task.id, lease).catch(() => {});
        return;
      }
      if ((error as { taskError?: TaskError['code'] }).taskError === 'invalid_reference') {
        await fail(task, lease, { code: 'invalid_reference', message: 'A reference file is no longer available.' });
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

  return { handle };
}
