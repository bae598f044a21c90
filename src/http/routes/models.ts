import type { FastifyInstance } from 'fastify';
import { findModel, MODELS } from '../../catalog/models.js';
import { ApiError } from '../../errors.js';

/** The public model catalog: no authentication. */
export function registerModelRoutes(app: FastifyInstance): void {
  app.get('/api/v1/models', async () => ({ data: MODELS }));
  app.get<{ Params: { id: string } }>('/api/v1/models/:id', async (request) => {
    const model = findModel(request.params.id);
    if (!model) throw new ApiError('not_found', `Model ${request.params.id} not found.`);
    return model;
  });
}
