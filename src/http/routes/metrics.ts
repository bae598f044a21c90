import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import { bearerTokenCheck } from '../bearer-token.js';

export interface MetricsRouteDeps {
  metrics: Metrics;
  /** When set, `/metrics` answers only `Authorization: Bearer <token>` (RIVYA_METRICS_TOKEN); others get 401. */
  token: string | null;
}

/** `GET /metrics`: the Prometheus text exposition of the service's and the process's series. */
export function registerMetricsRoute(app: FastifyInstance, deps: MetricsRouteDeps): void {
  const authorized = deps.token === null ? () => true : bearerTokenCheck(deps.token);
  app.get('/metrics', async (request, reply) => {
    if (!authorized(request)) {
      throw new ApiError('unauthorized', 'Send the metrics token as "Authorization: Bearer <RIVYA_METRICS_TOKEN>".');
    }
    const text = await deps.metrics.registry.metrics();
    return reply.header('content-type', deps.metrics.registry.contentType).send(text);
  });
}
