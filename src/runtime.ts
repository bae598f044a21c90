import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { createAccountStore } from './accounts/account-store.js';
import { createSessionStore } from './accounts/session-store.js';
import type { Config } from './config.js';
import { prepareDataDir } from './data-dir.js';
import { lockDataDir, type DataDirLock } from './db/data-dir-lock.js';
import { migrate } from './db/migrate.js';
import { createPgliteDatabase } from './db/pglite-database.js';
import type { Database } from './db/port.js';
import type { TaskRecord } from './domain.js';
import { createPostgresDatabase } from './db/postgres-database.js';
import { createEventLog } from './events/event-log.js';
import { createEventService } from './events/event-service.js';
import { createEventFeed, type EventFeed } from './events/event-feed.js';
import { createLiveView } from './events/live-view.js';
import { createEventFanout } from './events/event-fanout.js';
import { createLogPositions } from './events/log-positions.js';
import { createEventStreams } from './http/event-streams.js';
import { createEventFrames } from './http/event-frames.js';
import { createApp, type AppRoute } from './http/app.js';
import { listenFailure } from './http/listen-error.js';
import { createMetricsApp } from './http/metrics-app.js';
import { createIdempotencyStore } from './idempotency/idempotency-store.js';
import { newId } from './ids.js';
import { createPgBossQueue } from './jobs/pg-boss-queue.js';
import { createCreditLedger } from './ledger/credit-ledger.js';
import { createMetrics } from './metrics.js';
import { createProviders } from './providers/create-providers.js';
import type { Provider } from './providers/port.js';
import type { RouterEvents } from './providers/provider-router.js';
import { upstreamFailureFields } from './providers/upstream-error.js';
import { callbackUrl } from './http/routes/provider-callbacks.js';
import { createMemoryRateLimiter } from './rate-limit/memory-rate-limiter.js';
import { createRedisRateLimiter } from './rate-limit/redis-rate-limiter.js';
import { createLocalObjectStore } from './storage/local-object-store.js';
import { createS3ObjectStore } from './storage/s3-object-store.js';
import type { ObjectStore } from './storage/port.js';
import { createUrlSigner } from './storage/url-signer.js';
import { createTaskService } from './tasks/task-service.js';
import { createTaskTransitions } from './tasks/task-transitions.js';
import { createDurationTokens } from './files/duration-token.js';
import { createFileService } from './files/file-service.js';
import { createFileStore } from './files/file-store.js';
import { createTaskLifecycle, TASK_QUEUE, type TaskJob } from './tasks/task-lifecycle.js';
import { createTaskStore } from './tasks/task-store.js';
import { createSweeper } from './worker/sweeper.js';
import { createTaskRunner } from './worker/task-runner.js';
import { isProcessAlive } from './process-alive.js';
import { createWebhooks } from './webhooks/create-webhooks.js';
import { WEBHOOK_QUEUE } from './webhooks/dispatch.js';
import type { HostResolver } from './webhooks/webhook-url.js';
import { LOG_REDACTION } from './log-redaction.js';

export const UPLOAD_TARGETS = ['s3', 'oss'] as const;

export interface RuntimeOptions {
  /** Keep the embedded database in memory (tests); the data dir still holds objects. */
  inMemoryDatabase?: boolean;
  logger?: Logger;
  /** Replaces the configured providers with this one for every model (tests of faults and timing). */
  provider?: Provider;
  /** Told of every route the HTTP app registers (checks that must cover every route). */
  onRoute?: (route: AppRoute) => void;
  /** Resolves webhook hosts instead of the system's resolver (tests play DNS). */
  webhookResolver?: HostResolver;
  /** Replaces the webhook retry schedule's delays (tests shorten it). */
  webhookRetryDelaysMs?: readonly number[];
  /** The clock of webhook secret overlaps and of the failing-endpoint rule (tests move it). */
  clock?: () => Date;
  /** How often idle job workers poll (tests lengthen it to see that they are woken instead). */
  jobPollingSeconds?: number;
}

/** Where the embedded mode keeps its generated secret. */
async function loadOrCreateSecret(dataDir: string): Promise<string> {
  const path = join(dataDir, 'secret');
  const existing = await readFile(path, 'utf8').catch(() => null);
  if (existing && existing.trim().length >= 32) return existing.trim();
  const secret = randomBytes(32).toString('base64url');
  await writeFile(path, secret, { mode: 0o600 });
  return secret;
}

/**
 * The composition root: builds every port from the configuration and wires the service.
 * `start()` listens (api role) and starts workers (worker role); `stop()` drains and closes.
 */
export async function createRuntime(config: Config, options: RuntimeOptions = {}) {
  // Whatever logger is given (tests pass their own), credentials in headers are censored.
  const logger = (options.logger ?? pino({ level: config.logLevel, base: { service: 'rivya', role: config.role } })).child({}, { redact: LOG_REDACTION });
  await prepareDataDir(config.dataDir);
  let lock: DataDirLock | null = null;
  let db: Database;
  if (config.databaseUrl) {
    db = await createPostgresDatabase({ connectionString: config.databaseUrl });
  } else if (options.inMemoryDatabase) {
    db = await createPgliteDatabase({});
  } else {
    lock = await lockDataDir(config.dataDir);
    try {
      db = await createPgliteDatabase({ dataDir: join(config.dataDir, 'pgdata') });
    } catch (error) {
      await lock.release();
      throw error;
    }
  }
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    await lock?.release();
    throw error;
  }
  let feed: EventFeed;
  try {
    feed = await createEventFeed(db, logger);
  } catch (error) {
    await db.close();
    await lock?.release();
    throw error;
  }
  const secret = config.secret ?? (await loadOrCreateSecret(config.dataDir));
  const signer = createUrlSigner(secret);
  // Each target is an S3-API bucket when one is configured for it, else a directory of the data dir.
  const stores = new Map<string, ObjectStore>(
    UPLOAD_TARGETS.map((target) => {
      const bucket = config.buckets[target];
      return [
        target,
        bucket
          ? createS3ObjectStore({ target, ...bucket })
          : createLocalObjectStore({ target, rootDir: join(config.dataDir, 'objects', target), publicUrl: config.publicUrl, signer }),
      ];
    }),
  );
  // A job whose worker vanished after fetching it is retried once it expires: well before the task's deadline.
  const queue = createPgBossQueue({
    db, logger, queues: [TASK_QUEUE, WEBHOOK_QUEUE], pollingIntervalSeconds: options.jobPollingSeconds, expireInSeconds: Math.max(60, Math.floor(config.taskTimeoutSeconds / 3)),
  });
  await queue.start();

  const shutdown = new AbortController();
  // Every running task and long-poll listens for shutdown.
  setMaxListeners(0, shutdown.signal);
  // Unfinished tasks and credits, answered from memory (by API processes).
  const view = createLiveView(config.role === 'worker' ? null : feed, { maxTaskBytes: config.liveViewBytes });
  const accountChanged = (accountId: string, position: number) => view.accountChanged(accountId, position);
  const accounts = createAccountStore(db, { changed: accountChanged });
  const sessions = createSessionStore(db);
  const ledger = createCreditLedger(db, accountChanged);
  const tasks = createTaskStore(db);
  const idempotency = createIdempotencyStore(db, { retentionSeconds: 86_400, inFlightTimeoutSeconds: 60 });
  const metrics = createMetrics({ db, queue, countTasks: () => tasks.countByStatus() });
  const rateLimiter = config.redisUrl ? createRedisRateLimiter({ url: config.redisUrl }) : createMemoryRateLimiter();
  const routerEvents: RouterEvents = {
    call: (account, operation, outcome, failure) => {
      metrics.providerCall(account, operation, outcome);
      if (failure) logger.warn({ task_id: failure.taskId, provider: account, operation, ...upstreamFailureFields(failure.error) }, 'upstream call failed');
    },
    failover: (model: string, from: string) => metrics.providerFailover(model, from),
    coolDown: (account: string) => {
      metrics.providerCoolDown(account);
      logger.warn({ provider: account, cool_down_s: config.providers.coolDown.coolDownSeconds }, 'provider account taken out of rotation');
    },
  };
  // Upstreams call back until a day after the task's deadline at the latest.
  const callbackExpiry = () => new Date(Date.now() + (config.taskTimeoutSeconds + 86_400) * 1000);
  const router = createProviders(
    config.providers,
    {
      ffmpegPath: config.ffmpegPath, fontPath: config.fontPath, dataDir: config.dataDir,
      callbackUrl: (taskId) => callbackUrl(config.publicUrl, signer, taskId, callbackExpiry()),
    },
    routerEvents,
    options.provider,
  );
  metrics.watchProviders(() => router.availability());
  /** Best-effort cancel of an ended task's upstream job. */
  const cancelUpstream = async (task: TaskRecord): Promise<void> => {
    const account = router.account(task.provider);
    if (account && task.upstreamId) await router.cancel(account, { ...task, upstreamId: task.upstreamId });
  };

  const fileService = createFileService({
    files: createFileStore(db),
    stores,
    uploadTarget: config.uploadTarget,
    limits: config.fileLimits,
    retentionSeconds: config.fileRetentionSeconds,
    tokens: createDurationTokens(secret),
    ffmpegPath: config.ffmpegPath,
  });
  const webhooks = createWebhooks({
    db, queue, idempotency, stores, logger,
    resultUrlTtlSeconds: config.resultUrlTtlSeconds,
    allowInsecure: config.webhooksAllowInsecure,
    timeoutMs: config.webhookTimeoutMs,
    concurrency: config.webhookConcurrency,
    sweepIntervalMs: config.sweepIntervalMs,
    resolve: options.webhookResolver,
    retryDelaysMs: options.webhookRetryDelaysMs,
    now: options.clock,
    onAttempt: (outcome, latencyMs) => metrics.webhookAttempt(outcome, latencyMs / 1000),
  });
  const transitions = createTaskTransitions({ metrics, logger });
  metrics.watchLiveView(() => ({ reads: view.reads(), ...view.size() }));
  const eventLog = createEventLog(db);
  const lifecycle = createTaskLifecycle({
    db, tasks, queue, transitions,
    // The webhook deliveries an event calls for commit with it; this process's delivery workers
    // start on them at once (other processes are woken by the commit's NOTIFY).
    onEvent: async (tx, event) => {
      await webhooks.dispatchEvent(tx, event);
    },
    onCommitted: (event) => {
      queue.wake(WEBHOOK_QUEUE);
      view.committed(event);
    },
    strandedAfterSeconds: config.leaseSeconds * 2,
  });
  const taskService = createTaskService({
    tasks, lifecycle, idempotency, feed, view, stores,
    resolveReferences: (account, items, policy) => fileService.resolveReferences(account, items, policy),
    taskTimeoutSeconds: config.taskTimeoutSeconds,
    resultUrlTtlSeconds: config.resultUrlTtlSeconds,
    refuseParams: (model, params) => router.refuses(model, params),
    cancelUpstream,
    // The same rules as an endpoint's URL: https, public addresses only (unless insecure).
    checkWebhookUrl: (url) => webhooks.checkWebhookUrl(url),
  });

  const eventService = createEventService({ log: eventLog, presentTask: taskService.present, retentionSeconds: config.eventRetentionSeconds });
  const logPositions = createLogPositions(db, eventLog);
  const eventFrames = createEventFrames((event) => eventService.present(event), logger);
  const eventFanout = createEventFanout({ log: eventLog, positions: logPositions, feed, logger, prepare: (events) => eventFrames.prepare(events) });
  const eventStreams = createEventStreams({
    ...config.eventStreams, maxBufferedBytes: 256 * 1024, retryMs: 2000, shutdown: shutdown.signal,
  });

  const readiness = async () => [
    { name: 'database', ok: await db.ping() },
    { name: 'rate_limiter', ok: await rateLimiter.ping() },
    ...(await Promise.all([...stores.values()].map(async (store) => ({ name: `storage_${store.target}`, ok: await store.ping() })))),
  ];

  const app: FastifyInstance | null =
    config.role === 'worker'
      ? null
      : createApp({
          publicUrl: config.publicUrl, adminToken: config.adminToken, authFailuresPerMinute: config.authFailuresPerMinute,
          logger, trustProxy: false,
          accounts, sessions, ledger, idempotency, tasks: taskService, view, files: fileService, webhooks: webhooks.service,
          events: eventService,
          maxUploadBytes: Math.max(...Object.values(config.fileLimits)),
          fileLimits: config.fileLimits,
          rateLimiter, metrics, stores, signer, readiness,
          eventStreams: { fanout: eventFanout, positions: logPositions, streams: eventStreams, frames: eventFrames },
          metricsEndpoint: config.metricsPort === null ? { token: config.metricsToken } : null,
          wakeTask: (taskId, upstreamHint) => lifecycle.wake(taskId, upstreamHint),
          shutdown: shutdown.signal,
          ...(options.onRoute ? { onRoute: options.onRoute } : {}),
        });

  // Each worker process has its own scratch directory; what a killed process left behind is removed at start.
  const workRoot = join(config.dataDir, 'work', `${hostname()}-${process.pid}`);
  const runner = createTaskRunner({
    tasks, lifecycle, stores, feed, logger,
    router,
    poll: config.providers.poll,
    submitRounds: config.providers.submitRounds,
    workerId: `${hostname()}:${process.pid}:${newId('req').slice(4, 12)}`,
    leaseSeconds: config.leaseSeconds,
    workRoot,
    maxAttempts: config.maxAttempts,
    ffmpegPath: config.ffmpegPath,
    shutdown: shutdown.signal,
  });
  const sweeper = createSweeper({
    tasks, lifecycle, idempotency, eventLog, logger,
    eventRetentionSeconds: config.eventRetentionSeconds,
    purgeExpiredFiles: () => fileService.purgeExpired(),
    onEnded: (task) => void cancelUpstream(task),
    intervalMs: config.sweepIntervalMs,
  });

  const metricsApp = config.metricsPort === null ? null : createMetricsApp({ metrics, token: config.metricsToken, logger });

  let listening: string | null = null;
  return {
    config, db, app, accounts, ledger, tasks, lifecycle, eventLog, taskService, fileService, idempotency, queue, stores, signer, sweeper, runner, logger, webhooks, view,

    /**
     * Starts serving (api role) and working (worker role). Resolves with the listening URL, if any.
     * It listens first: when the port is taken (`ListenError`), no worker has started.
     */
    async start(options: { listen?: boolean } = {}): Promise<string | null> {
      if (app && options.listen !== false) {
        listening = await app.listen({ host: config.host, port: config.port }).catch((error: unknown) => {
          throw listenFailure(error, config.host, config.port);
        });
      } else if (app) {
        await app.ready();
      }
      if (metricsApp && config.metricsPort !== null) {
        const url = await metricsApp.listen({ host: config.host, port: config.metricsPort }).catch((error: unknown) => {
          throw listenFailure(error, config.host, config.metricsPort as number, 'RIVYA_METRICS_PORT');
        });
        logger.info({ url: `${url}/metrics` }, 'metrics listening');
      }
      if (config.role !== 'api') {
        await removeDeadWorkDirs(join(config.dataDir, 'work'));
        await mkdir(workRoot, { recursive: true });
        // With the embedded store this is the only process: leases of running tasks belong to a
        // process that is gone, so they are resumed now rather than when their lease runs out.
        if (lock) await tasks.expireAllLeases();
        await queue.work<TaskJob>(TASK_QUEUE, config.workerConcurrency, (job) => runner.handle(job.data));
        await sweeper.sweepOnce();
        sweeper.start();
        await webhooks.start({ restarted: lock !== null });
      }
      return listening;
    },

    /** Graceful stop: refuse new requests, finish in-flight ones, stop workers, close stores. */
    async stop(): Promise<void> {
      shutdown.abort();
      if (app) {
        // In-flight requests get the shutdown timeout to finish; then their connections are cut.
        const closed = app.close();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, config.shutdownTimeoutMs)))]);
        clearTimeout(timer);
        app.server.closeAllConnections();
        await closed;
      }
      await metricsApp?.close();
      eventFanout.close();
      view.close();
      await sweeper.stop();
      await webhooks.stop();
      await queue.stop(config.shutdownTimeoutMs);
      await webhooks.close();
      // After the workers: their running attempts wait on it until they stop.
      await feed.close();
      await rateLimiter.close();
      await db.close();
      await lock?.release();
    },
  };
}

export type Runtime = Awaited<ReturnType<typeof createRuntime>>;


/** Removes the scratch directories (`work/<host>-<pid>`) of worker processes on this host that are gone. */
async function removeDeadWorkDirs(root: string): Promise<void> {
  const prefix = `${hostname()}-`;
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const pid = Number(name.slice(prefix.length));
    if (name.startsWith(prefix) && Number.isInteger(pid) && (pid === process.pid || !isProcessAlive(pid))) {
      await rm(join(root, name), { recursive: true, force: true });
    }
  }
}

/**
 * On an empty store: creates the `dev` account with 1000 credits and an API key, saved in the
 * data dir. Of several processes starting at once on one database, only one does it.
 */
export async function bootstrapDevAccount(runtime: Runtime): Promise<{ key: string; path: string } | null> {
  if ((await runtime.accounts.countAccounts()) > 0) return null;
  const { rows } = await runtime.db.query(
    `INSERT INTO service_settings (name, value) VALUES ('dev_account', 'creating') ON CONFLICT (name) DO NOTHING RETURNING name`,
  );
  if (rows.length === 0) return null;
  const account = await runtime.accounts.createAccount('dev', 1000);
  const created = await runtime.accounts.createApiKey(account.id, 'dev');
  await runtime.db.query(`UPDATE service_settings SET value = $1 WHERE name = 'dev_account'`, [account.id]);
  const path = join(runtime.config.dataDir, 'dev-api-key');
  await writeFile(path, `${created.key}\n`, { mode: 0o600 });
  return { key: created.key, path };
}
