import multipart from '@fastify/multipart';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AccountStore } from '../accounts/account-store.js';
import { ApiError, validationFailed } from '../errors.js';
import type { IdempotencyStore } from '../idempotency/idempotency-store.js';
import { newId } from '../ids.js';
import type { CreditLedger } from '../ledger/credit-ledger.js';
import type { Metrics } from '../metrics.js';
import type { RateLimiter } from '../rate-limit/port.js';
import type { ObjectStore } from '../storage/port.js';
import type { UrlSigner } from '../storage/url-signer.js';
import type { EventService } from '../events/event-service.js';
import type { FileService } from '../files/file-service.js';
import type { FileLimits } from '../files/media-types.js';
import type { TaskService } from '../tasks/task-service.js';
import type { LiveView } from '../events/live-view.js';
import type { WebhookService } from '../webhooks/webhook-service.js';
import { registerFileRoutes } from './routes/files.js';
import { findUnstorableText, MAX_JSON_DEPTH, nestsDeeperThan, unstorableText } from './storable-text.js';
import { createClientErrorHandler, createConnectHandler } from './client-errors.js';
import { createAuthenticator } from './auth.js';
import { sendError } from './error-envelope.js';
import { buildOpenApiDocument } from './openapi.js';
import { registerAccountRoutes } from './routes/account.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerModelRoutes } from './routes/models.js';
import { registerObjectRoutes } from './routes/objects.js';
import { registerOperationsRoutes, type ReadinessCheck } from './routes/operations.js';
import { registerProviderCallbackRoutes } from './routes/provider-callbacks.js';
import { registerServiceIndexRoute } from './routes/service-index.js';
import { registerTaskRoutes } from './routes/tasks.js';
import { registerWebhookRoutes } from './routes/webhooks.js';
import { registerKeyRoutes } from './routes/keys.js';
import { registerEventRoutes } from './routes/events.js';
import { registerEventStreamRoutes } from './routes/event-streams.js';
import type { EventFanout } from '../events/event-fanout.js';
import type { LogPositions } from '../events/log-positions.js';
import type { EventStreams } from './event-streams.js';
import type { EventFrames } from './event-frames.js';
import { registerMetricsRoute } from './routes/metrics.js';
import { recordAnswer, registerRequestLog } from './request-log.js';
import { registerDocsRoutes } from '../pages/docs/docs-routes.js';
import { registerConsoleRoutes } from '../pages/console/console-routes.js';
import type { SessionStore } from '../accounts/session-store.js';

export const JSON_BODY_LIMIT = 1024 * 1024;

export interface AppDeps {
  publicUrl: string;
  /** Enables `/admin/v1` when set. */
  adminToken: string | null;
  authFailuresPerMinute: number;
  logger: FastifyBaseLogger;
  trustProxy: boolean;
  accounts: AccountStore;
  /** Console sessions (a cookie exchanged for an API key), accepted by `/api/v1` in place of `Authorization`. */
  sessions: SessionStore;
  ledger: CreditLedger;
  idempotency: IdempotencyStore;
  tasks: TaskService;
  /** Unfinished tasks and accounts' credits held in memory (GET /api/v1/account reads it; the task service its own). */
  view: Pick<LiveView, 'account' | 'readAccount'>;
  files: FileService;
  webhooks: WebhookService;
  /** The account's event log, as the API reads it. */
  events: EventService;
  maxUploadBytes: number;
  /** Each kind's upload limit (the docs show them). */
  fileLimits: FileLimits;
  rateLimiter: RateLimiter;
  metrics: Metrics;
  /** Serve `/metrics` here, behind `token` when set; null when it has a listener of its own. */
  metricsEndpoint: { token: string | null } | null;
  stores: ReadonlyMap<string, ObjectStore>;
  /** The event streams: the accounts' logs followed, and the open streams of this process. */
  eventStreams: { fanout: EventFanout; positions: LogPositions; streams: EventStreams; frames: EventFrames };
  signer: UrlSigner;
  readiness: () => Promise<ReadinessCheck[]>;
  /** A provider's callback: the task's next status fetch happens now (`upstreamHint`: the job the body names, unverified). */
  wakeTask: (taskId: string, upstreamHint: string | null) => Promise<boolean>;
  /** Aborted when the process begins to shut down. */
  shutdown: AbortSignal;
  /** Told of every route as it is registered (checks that must cover every route). */
  onRoute?: (route: AppRoute) => void;
}

/** A registered route: its method and its URL pattern (`/api/v1/tasks/:id`). */
export interface AppRoute {
  method: string;
  url: string;
}

/** Builds the HTTP API over its dependencies. Nothing here reads the environment. */
export function createApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: JSON_BODY_LIMIT,
    trustProxy: deps.trustProxy,
    genReqId: () => newId('req'),
    // Requests are logged once, by the onResponse hook below, with their request id.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // A request may take this long in all (long-polls wait up to 60 s; large uploads stream):
    // past it the connection is cut, so a stalled client cannot hold a request open for ever.
    requestTimeout: 300_000,
    connectionTimeout: 300_000,
    // Errors raised before a request reaches the app also answer in the contract's envelope: the
    // router's (an undecodable path, an over-long id) and Node's HTTP parser's (an unknown method, a huge head).
    // Their answers bypass the hooks, so they are logged and counted here.
    frameworkErrors: (error, request, reply) => {
      reply.raw.once('finish', () => recordAnswer(request, reply, deps.metrics));
      void sendError(request, reply, error);
    },
    clientErrorHandler: createClientErrorHandler(deps.logger),
  });
  app.server.on('connect', createConnectHandler(deps.logger));
  const { onRoute } = deps;
  if (onRoute) {
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) onRoute({ method, url: route.url });
    });
  }
  app.decorateRequest('auth', null);
  // Multipart bodies stream: parts are read by the Files API route as they arrive.
  void app.register(multipart, { limits: { fileSize: deps.maxUploadBytes + 1, files: 1 } });

  // JSON bodies: an empty body reads as no body; anything unparsable, nested too deep, or holding
  // text PostgreSQL cannot store is validation_failed, before anything reads it.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: JSON_BODY_LIMIT }, (_request, text, done) => {
    const source = String(text);
    if (source.trim() === '') return done(null, undefined);
    if (nestsDeeperThan(source)) {
      const message = `JSON bodies may nest at most ${MAX_JSON_DEPTH} levels.`;
      done(new ApiError('validation_failed', `The body is nested too deep: ${message}`, { details: [{ path: '', message }] }), undefined);
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(source);
    } catch (error) {
      done(new ApiError('validation_failed', `The body is not valid JSON: ${(error as Error).message}`, {
        details: [{ path: '', message: 'Invalid JSON.' }],
      }), undefined);
      return;
    }
    const unstorable = findUnstorableText(body);
    if (unstorable) {
      done(validationFailed([{ path: unstorable.path, message: unstorable.message }]), undefined);
      return;
    }
    done(null, body);
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    if (deps.shutdown.aborted && !request.url.startsWith('/healthz')) {
      throw new ApiError('service_unavailable', 'The server is shutting down; retry shortly.', { headers: { 'retry-after': '2' } });
    }
  });
  // An id PostgreSQL cannot store (U+0000) is no id: 404, as for any unknown one, on every route with ids.
  app.addHook('onRequest', async (request) => {
    for (const value of Object.values(request.params as Record<string, string>)) {
      if (unstorableText(value)) throw new ApiError('not_found', 'No such resource: the path holds characters no id has.');
    }
  });
  // An answer given once shutdown has begun closes its connection: a keep-alive connection that
  // turns idle after the server began closing would hold the shutdown open until its timeout.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (deps.shutdown.aborted) void reply.header('connection', 'close');
    return payload;
  });
  registerRequestLog(app, deps.metrics);
  app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new ApiError('not_found', `No route ${request.method} ${request.url.split('?')[0]}.`)),
  );

  const authenticate = createAuthenticator(deps);
  registerModelRoutes(app);
  registerTaskRoutes(app, {
    tasks: deps.tasks, rateLimiter: deps.rateLimiter, authenticate, authenticateCreate: createAuthenticator(deps, { countRequest: false }), shutdown: deps.shutdown,
  });
  const streams = registerEventStreamRoutes(app, { authenticate, tasks: deps.tasks, events: deps.events, ...deps.eventStreams });
  registerEventRoutes(app, { events: deps.events, authenticate, stream: streams.streamAccountEvents });
  registerFileRoutes(app, { files: deps.files, idempotency: deps.idempotency, maxUploadBytes: deps.maxUploadBytes, authenticate });
  registerAccountRoutes(app, { ledger: deps.ledger, accounts: deps.accounts, view: deps.view, authenticate });
  registerKeyRoutes(app, { accounts: deps.accounts, idempotency: deps.idempotency, authenticate });
  registerWebhookRoutes(app, { webhooks: deps.webhooks, authenticate });
  registerObjectRoutes(app, { stores: deps.stores, signer: deps.signer });
  registerProviderCallbackRoutes(app, { signer: deps.signer, wake: deps.wakeTask });
  registerOperationsRoutes(app, { readiness: deps.readiness, isShuttingDown: () => deps.shutdown.aborted });
  if (deps.metricsEndpoint) registerMetricsRoute(app, { metrics: deps.metrics, token: deps.metricsEndpoint.token });
  registerServiceIndexRoute(app);
  registerDocsRoutes(app, { publicUrl: deps.publicUrl, fileLimits: deps.fileLimits });
  registerConsoleRoutes(app, deps);
  if (deps.adminToken) {
    registerAdminRoutes(app, {
      adminToken: deps.adminToken, publicUrl: deps.publicUrl, accounts: deps.accounts, idempotency: deps.idempotency, accountChanged: deps.ledger.changed,
    });
  }
  const openapi = buildOpenApiDocument(deps.publicUrl);
  app.get('/api/v1/openapi.json', async () => openapi);
  return app;
}
