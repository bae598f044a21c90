import type { FastifyInstance } from 'fastify';
import type { ApiError } from '../errors.js';
import { toApiError } from '../http/error-envelope.js';
import { LANGS, type Lang } from './i18n.js';
import { PAGE_SECURITY_HEADERS } from './layout.js';

const HTML = 'text/html; charset=utf-8';

/** The language of a page's address: `/bn/…` is Bengali, anything else English. */
export function langOfUrl(url: string): Lang {
  return LANGS.find((lang) => lang !== 'en' && url.startsWith(`/${lang}/`)) ?? 'en';
}

/**
 * Makes `scope` a scope of pages (the docs site, the console): every answer carries the pages'
 * security headers, and `cache-control: <cacheControl>` when its route set none; every error
 * answers as the page `errorPage` makes, in the language of its address, never as the API's JSON
 * envelope (the error's own headers, such as `Retry-After`, kept).
 */
export function usePageScope(
  scope: FastifyInstance,
  options: {
    cacheControl?: string;
    errorPage: (error: ApiError, lang: Lang) => { status: number; html: string };
  },
): void {
  scope.addHook('onSend', async (_request, reply, payload) => {
    for (const [name, value] of Object.entries(PAGE_SECURITY_HEADERS)) void reply.header(name, value);
    if (options.cacheControl && !reply.hasHeader('cache-control')) void reply.header('cache-control', options.cacheControl);
    return payload;
  });
  scope.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError.code === 'internal_error') request.log.error({ err: error }, 'internal error');
    for (const [name, value] of Object.entries(apiError.headers)) void reply.header(name, value);
    const page = options.errorPage(apiError, langOfUrl(request.url));
    return reply.code(page.status).type(HTML).send(page.html);
  });
}
