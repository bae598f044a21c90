import type { TaskErrorCode } from '../domain.js';

const CONTENT_POLICY = /(content[ _-]?policy|moderation|moderat|safety|nsfw|sensitive|violat|prohibited|inappropriate)/i;
const REFERENCE = /(image|reference|input_reference|image_urls?)/i;

/**
 * The task error for a job an upstream refused or failed, from its code and message: content
 * policy, a bad reference image, or a plain upstream failure. The client sees our message for
 * the code, never the upstream's own text (which may quote URLs, keys or internal names).
 */
export function classifyUpstreamFailure(code: string, message: string): { code: TaskErrorCode; message: string } {
  const text = `${code} ${message}`;
  if (CONTENT_POLICY.test(text)) {
    return { code: 'content_policy_violation', message: 'The provider refused the prompt or reference under its content policy.' };
  }
  if (REFERENCE.test(text)) {
    return { code: 'invalid_reference', message: 'The provider could not use the reference image.' };
  }
  return { code: 'upstream_error', message: 'The provider could not generate the video; the credits were released.' };
}
