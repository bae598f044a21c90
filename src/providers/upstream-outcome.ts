import type { TaskErrorCode } from '../domain.js';

const CONTENT_POLICY = /(content[ _-]?policy|moderation|moderat|safety|nsfw|sensitive|violat|prohibited|inappropriate)/i;
/** A reference image that could not be fetched or used. */
const REFERENCE = /(input_reference|image_urls?|reference|(image|picture)s?\b.{0,40}\b(download|fetch|load|read|decode|invalid|unsupported|format|size|dimension|match|corrupt))/i;

/**
 * The task error for a job an upstream refused or failed, from its code and message: content
 * policy, a bad reference image (only for a task that has one), or a plain upstream failure. The client sees our message for
 * the code, never the upstream's own text (which may quote URLs, keys or internal names).
 */
export function classifyUpstreamFailure(
  code: string,
  message: string,
  hasReference: boolean,
): { code: TaskErrorCode; message: string } {
  const text = `${code} ${message}`;
  if (CONTENT_POLICY.test(text)) {
    return { code: 'content_policy_violation', message: 'The provider refused the prompt or reference under its content policy.' };
  }
  if (hasReference && REFERENCE.test(text)) {
    return { code: 'invalid_reference', message: 'The provider could not use the reference image.' };
  }
  return { code: 'upstream_error', message: 'The provider could not generate the video; the credits were released.' };
}
