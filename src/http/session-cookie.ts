import type { FastifyReply, FastifyRequest } from 'fastify';

/** The console session's cookie. */
export const SESSION_COOKIE = 'rivya_session';

/** The value of the session cookie of a request, or null. */
export function sessionTokenOf(request: FastifyRequest): string | null {
  const header = request.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return /^rvs_[0-9A-Za-z]{43}$/.test(value) ? value : null;
    }
  }
  return null;
}

/** True when the page is served over https: directly, or behind a proxy at an https public URL. */
function servedOverHttps(request: FastifyRequest, publicUrl: string | undefined): boolean {
  return request.protocol === 'https' || (publicUrl ?? '').startsWith('https:');
}

/**
 * Sets the session cookie: `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
 * request carries it), `Secure` over https, expiring with the session (fixed, not sliding).
 */
export function setSessionCookie(reply: FastifyReply, request: FastifyRequest, token: string, maxAgeSeconds: number, publicUrl?: string): void {
  const secure = servedOverHttps(request, publicUrl) ? '; Secure' : '';
  void reply.header('set-cookie', `${SESSION_COOKIE}=${token}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`);
}

export function clearSessionCookie(reply: FastifyReply, request: FastifyRequest, publicUrl?: string): void {
  const secure = servedOverHttps(request, publicUrl) ? '; Secure' : '';
  void reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure}`);
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

/**
 * Why a state-changing request that relies on the cookie is refused as cross-site, or null: a
 * browser's `Sec-Fetch-Site: cross-site` (or `same-site`: a sibling subdomain is another
 * site's page too), or an `Origin` that is neither the public URL's nor the request's own.
 */
export function sameSiteRefusal(request: FastifyRequest, publicUrl: string | undefined): string | null {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return `A request from another site (Sec-Fetch-Site: ${site}) cannot use the console session.`;
  const origin = request.headers.origin;
  if (origin !== undefined) {
    const allowed = new Set([originOf(publicUrl ?? ''), `${request.protocol}://${request.host}`].filter(Boolean));
    if (!allowed.has(origin)) return `A request from another origin (${origin}) cannot use the console session.`;
  }
  return null;
}
