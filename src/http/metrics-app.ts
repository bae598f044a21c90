import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import { newId } from '../ids.js';
import type { Metrics } from '../metrics.js';
import { sendError } from './error-envelope.js';
import { registerRequestLog } from './request-log.js';
import { registerMetricsRoute } from './routes/metrics.js';

export interface MetricsAppDeps {
  metrics: Metrics;
  /** RIVYA_METRICS_TOKEN: `/metrics` answers only `Authorization: Bearer <token>` when set. */
  token: string | null;
  logger: FastifyBaseLogger;
}

/**
 * The listener of `RIVYA_METRICS_PORT`: `/metrics` alone, kept off the public port (and served
 * by worker processes too, which have no API). Answers in the API's error envelope.
 */
export function createMetricsApp(deps: MetricsAppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    genReqId: () => newId('req'),
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    forceCloseConnections: true,
  });
  app.decorateRequest('auth', null);
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  registerRequestLog(app, deps.metrics);
  app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new ApiError('not_found', `No route ${request.method} ${request.url.split('?')[0]}: this port serves /metrics.`)),
  );
  registerMetricsRoute(app, { metrics: deps.metrics, token: deps.token });
  return app;
}
