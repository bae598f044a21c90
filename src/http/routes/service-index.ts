import type { FastifyInstance } from 'fastify';
import Negotiator from 'negotiator';
import { SERVICE_VERSION } from '../../version.js';

/** Where things are, relative to the service's root. */
export const SERVICE_LINKS = {
  docs: '/docs',
  openapi: '/api/v1/openapi.json',
  models: '/api/v1/models',
  health: '/healthz',
  readiness: '/readyz',
} as const;

/** What `GET /` answers an API client. */
export function serviceIndex() {
  return {
    name: 'Rivya',
    description: 'Asynchronous video generation (sora-2, sora-2-pro) paid in credits.',
    version: SERVICE_VERSION,
    api: { version: 'v1', base: '/api/v1' },
    links: SERVICE_LINKS,
  };
}

const LINK_TEXT: Readonly<Record<keyof typeof SERVICE_LINKS, string>> = {
  docs: 'Documentation',
  openapi: 'OpenAPI document (the whole contract)',
  models: 'Model catalog',
  health: 'Health',
  readiness: 'Readiness',
};

/** The same, as a page for a browser. Its text is all ours: nothing from the request is in it. */
function page(index: ReturnType<typeof serviceIndex>): string {
  const links = Object.entries(index.links)
    .map(([key, href]) => `<li><a href="${href}">${LINK_TEXT[key as keyof typeof SERVICE_LINKS]}</a> <code>${href}</code></li>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${index.name}</title></head>
<body>
<h1>${index.name} <small>${index.version}</small></h1>
<p>${index.description} The API is at <code>${index.api.base}</code>; authenticate with <code>Authorization: Bearer &lt;API key&gt;</code>.</p>
<ul>
${links}
</ul>
</body>
</html>
`;
}

/**
 * `GET /`: the service's name, version and where its API, catalog and OpenAPI document are.
 * JSON, unless the client prefers HTML (a browser): then a small page with the same links.
 */
export function registerServiceIndexRoute(app: FastifyInstance): void {
  const json = serviceIndex();
  const html = page(json);
  app.get('/', async (request, reply) => {
    void reply.header('vary', 'Accept');
    if (new Negotiator(request.raw).mediaType(['application/json', 'text/html']) === 'text/html') {
      return reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', "default-src 'none'")
        .send(html);
    }
    return json;
  });
}
