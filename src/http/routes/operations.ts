import type { FastifyInstance } from 'fastify';
import { errorBody } from '../error-envelope.js';

export interface ReadinessCheck {
  name: string;
  ok: boolean;
}

export interface OperationsDeps {
  /** Checks every dependency this process needs. */
  readiness: () => Promise<ReadinessCheck[]>;
  isShuttingDown: () => boolean;
}

/** `/healthz` (the process is alive) and `/readyz` (it can serve: stores reachable); `/metrics` is in ./metrics.ts. */
export function registerOperationsRoutes(app: FastifyInstance, deps: OperationsDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    const checks = deps.isShuttingDown() ? [{ name: 'shutting_down', ok: false }] : await deps.readiness();
    const ready = checks.every((check) => check.ok);
    if (ready) return { status: 'ready', checks };
    void reply.header('retry-after', '5');
    const failing = checks.filter((check) => !check.ok).map((check) => check.name);
    return reply
      .code(503)
      .send(errorBody('service_unavailable', `Not ready: ${failing.join(', ')}.`, { checks }, request.id));
  });
}
