import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import type { UrlSigner } from '../../storage/url-signer.js';

/** The signer scope of callback URLs: a URL signed for a task proves nothing else. */
export const CALLBACK_SCOPE = 'provider-callback';

/** The callback URL given to an upstream for `taskId`, valid until `expiresAt`. */
export function callbackUrl(publicUrl: string, signer: UrlSigner, taskId: string, expiresAt: Date): string {
  return `${publicUrl}/api/v1/provider-callbacks/${encodeURIComponent(taskId)}?${signer.sign(CALLBACK_SCOPE, taskId, expiresAt)}`;
}

/**
 * `POST /api/v1/provider-callbacks/{taskId}?expires=&sig=`: an upstream says a job changed.
 * The body is never read, let alone trusted: a valid call only makes the task's next status
 * fetch from the upstream happen now instead of at its next poll. A bad signature is 404.
 */
export function registerProviderCallbackRoutes(
  app: FastifyInstance,
  deps: { signer: UrlSigner; wake: (taskId: string) => Promise<boolean> },
): void {
  void app.register(async (scope) => {
    // Whatever the upstream sends (JSON, form, nothing, malformed) is drained unparsed.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, _body, done) => done(null, null));
    scope.post<{ Params: { taskId: string }; Querystring: { expires?: string; sig?: string } }>(
      '/api/v1/provider-callbacks/:taskId',
      async (request) => {
        const { taskId } = request.params;
        const { expires, sig } = request.query;
        if (!expires || !sig || !deps.signer.verify(CALLBACK_SCOPE, taskId, expires, sig, new Date())) {
          throw new ApiError('not_found', 'This callback URL is invalid or has expired.');
        }
        const woken = await deps.wake(taskId);
        request.log.info({ task_id: taskId, woken }, 'provider callback');
        return { received: true };
      },
    );
  });
}
