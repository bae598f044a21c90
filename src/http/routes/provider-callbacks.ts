import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import type { UrlSigner } from '../../storage/url-signer.js';

/** The signer scope of callback URLs: a URL signed for a task proves nothing else. */
export const CALLBACK_SCOPE = 'provider-callback';
const CALLBACK_BODY_LIMIT = 64 * 1024;

/** The callback URL given to an upstream for `taskId`, valid until `expiresAt`. */
export function callbackUrl(publicUrl: string, signer: UrlSigner, taskId: string, expiresAt: Date): string {
  return `${publicUrl}/api/v1/provider-callbacks/${encodeURIComponent(taskId)}?${signer.sign(CALLBACK_SCOPE, taskId, expiresAt)}`;
}

/**
 * The upstream job id a callback body names (Kie: `data.taskId`), if it looks like one. Only a
 * hint: it is looked up at the upstream, whose record decides.
 */
function upstreamHint(body: string): string | null {
  try {
    const parsed = JSON.parse(body) as { data?: { taskId?: unknown; task_id?: unknown } } | null;
    const id = parsed?.data?.taskId ?? parsed?.data?.task_id;
    return typeof id === 'string' && /^[\w-]{1,128}$/.test(id) ? id : null;
  } catch {
    return null;
  }
}

/**
 * `POST /api/v1/provider-callbacks/{taskId}?expires=&sig=`: an upstream says a job changed. The
 * signature is checked before the body is read (bad → 404). The body is never trusted: a valid
 * call makes the task's next status fetch from the upstream happen now, and may name the job of
 * a submission whose answer was lost, which the upstream's own record then confirms or not.
 */
export function registerProviderCallbackRoutes(
  app: FastifyInstance,
  deps: { signer: UrlSigner; wake: (taskId: string, upstreamHint: string | null) => Promise<boolean> },
): void {
  void app.register(async (scope) => {
    // Whatever the upstream sends (JSON, form, nothing, malformed) is kept as text, unparsed.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: CALLBACK_BODY_LIMIT }, (_request, body, done) => done(null, body));
    scope.post<{ Params: { taskId: string }; Querystring: { expires?: string; sig?: string }; Body: string | undefined }>(
      '/api/v1/provider-callbacks/:taskId',
      {
        onRequest: async (request) => {
          const { taskId } = request.params;
          const { expires, sig } = request.query;
          if (!expires || !sig || !deps.signer.verify(CALLBACK_SCOPE, taskId, expires, sig, new Date())) {
            throw new ApiError('not_found', 'This callback URL is invalid or has expired.');
          }
        },
      },
      async (request) => {
        const { taskId } = request.params;
        const woken = await deps.wake(taskId, typeof request.body === 'string' ? upstreamHint(request.body) : null);
        request.log.info({ task_id: taskId, woken }, 'provider callback');
        return { received: true };
      },
    );
  });
}
