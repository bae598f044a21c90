import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import type { ObjectStore } from '../../storage/port.js';
import type { UrlSigner } from '../../storage/url-signer.js';

/**
 * Serves the local object store's signed URLs: `GET /objects/{target}/{key}?expires=&sig=`.
 * A bad or expired signature is 403 whether or not the object exists, so nothing leaks.
 */
export function registerObjectRoutes(
  app: FastifyInstance,
  deps: { stores: ReadonlyMap<string, ObjectStore>; signer: UrlSigner },
): void {
  app.get<{ Params: { target: string; '*': string }; Querystring: { expires?: string; sig?: string } }>(
    '/objects/:target/*',
    async (request, reply) => {
      const { target } = request.params;
      const key = request.params['*'];
      const { expires, sig } = request.query;
      if (!expires || !sig || !deps.signer.verify(target, key, expires, sig, new Date())) {
        throw new ApiError('not_found', 'This link is invalid or has expired.');
      }
      const object = await deps.stores.get(target)?.get(key);
      if (!object) throw new ApiError('not_found', 'This link is invalid or has expired.');
      const maxAge = Math.max(0, Number(expires) - Math.floor(Date.now() / 1000));
      return reply
        .header('content-type', object.contentType)
        .header('content-length', String(object.sizeBytes))
        .header('cache-control', `private, max-age=${maxAge}`)
        .header('content-disposition', `inline; filename="${key.split('/').pop() ?? 'file'}"`)
        // Uploads are served from the console's origin: never as anything but their stored type,
        // and never with the origin's rights if opened as a document (a crafted file cannot reach the session).
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "sandbox; default-src 'none'")
        .send(object.body);
    },
  );
}
