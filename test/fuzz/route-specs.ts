/**
 * What the fuzz suite knows of each route: who may call it, the query parameters and JSON fields
 * it reads (the generators use them, alongside junk, to get past the first checks), and what
 * its path parameters name. The routes fuzzed are the app's own, as it registers them: one
 * without an entry here is fuzzed with what its URL says (`specOf`); an entry for a route the
 * app no longer has fails the suite.
 */
export type Caller = 'key' | 'admin' | 'public';

/** What a path parameter names: its real values come from the suite's fixtures. */
export type ParamKind = 'task' | 'file' | 'model' | 'account' | 'key' | 'target' | 'object-key' | 'webhook-endpoint' | 'webhook-delivery' | 'unknown';

export interface RouteSpec {
  caller: Caller;
  params: Readonly<Record<string, ParamKind>>;
  query: readonly string[];
  /** JSON fields read from the body; `multipart` for an upload; `none` when it reads none. */
  body: readonly string[] | 'multipart' | 'none';
  /** Whose signature its `?expires=&sig=` carries: the suite has a valid one of each. */
  signed?: 'object' | 'callback';
  /** A valid body, which the generators break in one or two places (`$FILE_URL`: a real file's URL). */
  example?: Readonly<Record<string, unknown>>;
  /** A page of the site (HTML, Markdown, text or an asset): its errors are pages too, never the JSON envelope. */
  page?: true;
  /** A console page: unauthenticated it redirects (303) to sign-in; a refused request (a malformed body, a bad key, a cross-site form) is the sign-in page again, with its 4xx status. */
  console?: true;
}

const TASK_FIELDS = ['model', 'prompt', 'params', 'client_request_id', 'webhook_url', 'webhook_events'] as const;

export const ROUTE_SPECS: Readonly<Record<string, RouteSpec>> = {
  'GET /api/v1/models': { caller: 'public', params: {}, query: [], body: 'none' },
  'GET /api/v1/models/:id': { caller: 'public', params: { id: 'model' }, query: [], body: 'none' },
  'POST /api/v1/tasks': {
    caller: 'key', params: {}, query: [], body: TASK_FIELDS,
    example: {
      model: 'sora-2', prompt: 'a fox in the snow', client_request_id: 'c-1', webhook_url: 'https://93.184.215.14/hook', webhook_events: ['all'],
      params: { n_frames: '10', aspect_ratio: 'portrait', referenceMediaItems: [{ url: '$FILE_URL', kind: 'image', name: 'a.png', mimeType: 'image/png' }] },
    },
  },
  'GET /api/v1/tasks': { caller: 'key', params: {}, query: ['limit', 'cursor', 'status', 'model', 'client_request_id'], body: 'none' },
  'GET /api/v1/tasks/:id': { caller: 'key', params: { id: 'task' }, query: ['wait'], body: 'none' },
  'POST /api/v1/tasks/:id/cancel': { caller: 'key', params: { id: 'task' }, query: [], body: 'none' },
  // Event streams end: a task's after its terminal event (the fixtures' tasks have ended), the
  // account's (Accept: text/event-stream) after the service's short RIVYA_SSE_MAX_DURATION_MS in the suite.
  'GET /api/v1/tasks/:id/events': { caller: 'key', params: { id: 'task' }, query: ['after'], body: 'none' },
  'GET /api/v1/events': { caller: 'key', params: {}, query: ['after', 'types', 'limit'], body: 'none' },
  'POST /api/v1/files': { caller: 'key', params: {}, query: [], body: 'multipart' },
  'GET /api/v1/files': { caller: 'key', params: {}, query: ['limit', 'cursor'], body: 'none' },
  'GET /api/v1/files/:id': { caller: 'key', params: { id: 'file' }, query: [], body: 'none' },
  'DELETE /api/v1/files/:id': { caller: 'key', params: { id: 'file' }, query: [], body: 'none' },
  'GET /api/v1/account': { caller: 'key', params: {}, query: [], body: 'none' },
  'GET /api/v1/account/ledger': { caller: 'key', params: {}, query: ['limit', 'cursor'], body: 'none' },
  'GET /api/v1/keys': { caller: 'key', params: {}, query: ['limit', 'cursor'], body: 'none' },
  // Creates stop at the account's cap of live keys (409); the fixture key is the target account's (404 here).
  'POST /api/v1/keys': { caller: 'key', params: {}, query: [], body: ['name'], example: { name: 'ci' } },
  'DELETE /api/v1/keys/:id': { caller: 'key', params: { id: 'key' }, query: [], body: 'none' },
  'POST /api/v1/webhook_endpoints': {
    caller: 'key', params: {}, query: [], body: ['url', 'events', 'description'],
    example: { url: 'https://93.184.215.14/hook', events: ['task.succeeded', 'task.failed'], description: 'orders' },
  },
  'GET /api/v1/webhook_endpoints': { caller: 'key', params: {}, query: ['limit', 'cursor'], body: 'none' },
  'GET /api/v1/webhook_endpoints/:id': { caller: 'key', params: { id: 'webhook-endpoint' }, query: [], body: 'none' },
  'PATCH /api/v1/webhook_endpoints/:id': {
    caller: 'key', params: { id: 'webhook-endpoint' }, query: [], body: ['url', 'events', 'description', 'disabled'],
    example: { url: 'https://93.184.215.14/other', events: ['*'], description: null, disabled: false },
  },
  'DELETE /api/v1/webhook_endpoints/:id': { caller: 'key', params: { id: 'webhook-endpoint' }, query: [], body: 'none' },
  'POST /api/v1/webhook_endpoints/:id/rotate_secret': { caller: 'key', params: { id: 'webhook-endpoint' }, query: [], body: 'none' },
  'POST /api/v1/webhook_endpoints/:id/test': { caller: 'key', params: { id: 'webhook-endpoint' }, query: [], body: 'none' },
  'GET /api/v1/webhook_endpoints/:id/deliveries': { caller: 'key', params: { id: 'webhook-endpoint' }, query: ['limit', 'cursor'], body: 'none' },
  'POST /api/v1/webhook_endpoints/:id/deliveries/:deliveryId/retry': {
    caller: 'key', params: { id: 'webhook-endpoint', deliveryId: 'webhook-delivery' }, query: [], body: 'none',
  },
  'GET /api/v1/webhook_secret': { caller: 'key', params: {}, query: [], body: 'none' },
  'POST /api/v1/webhook_secret/rotate': { caller: 'key', params: {}, query: [], body: 'none' },
  'GET /objects/:target/*': { caller: 'public', params: { target: 'target', '*': 'object-key' }, query: ['expires', 'sig'], body: 'none', signed: 'object' },
  'POST /api/v1/provider-callbacks/:taskId': {
    caller: 'public', params: { taskId: 'task' }, query: ['expires', 'sig'], body: ['data', 'code', 'msg'], signed: 'callback',
    example: { code: 200, data: { taskId: 'up-1', state: 'success' } },
  },
  'GET /healthz': { caller: 'public', params: {}, query: [], body: 'none' },
  'GET /readyz': { caller: 'public', params: {}, query: [], body: 'none' },
  'GET /metrics': { caller: 'public', params: {}, query: [], body: 'none' },
  'GET /api/v1/openapi.json': { caller: 'public', params: {}, query: [], body: 'none' },
  'GET /': { caller: 'public', params: {}, query: [], body: 'none' },
  'GET /docs': { caller: 'public', params: {}, query: [], body: 'none', page: true },
  'GET /docs/:page': { caller: 'public', params: { page: 'unknown' }, query: [], body: 'none', page: true },
  'GET /docs/models/:id': { caller: 'public', params: { id: 'model' }, query: [], body: 'none', page: true },
  'GET /bn/docs': { caller: 'public', params: {}, query: [], body: 'none', page: true },
  'GET /bn/docs/:page': { caller: 'public', params: { page: 'unknown' }, query: [], body: 'none', page: true },
  'GET /bn/docs/models/:id': { caller: 'public', params: { id: 'model' }, query: [], body: 'none', page: true },
  'GET /llms.txt': { caller: 'public', params: {}, query: [], body: 'none', page: true },
  'GET /assets/:file': { caller: 'public', params: { file: 'unknown' }, query: [], body: 'none', page: true },
  'GET /assets/swagger-ui/:file': { caller: 'public', params: { file: 'unknown' }, query: [], body: 'none', page: true },
  'GET /console': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /console/tasks': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /console/credits': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /console/files': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /console/keys': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /console/webhooks': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /console/sign-in': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /console/tasks/:id': { caller: 'public', params: { id: 'task' }, query: [], body: 'none', page: true, console: true },
  'POST /console/sign-in': { caller: 'public', params: {}, query: [], body: ['key'], example: { key: 'rv_x' }, page: true, console: true },
  'POST /console/sign-out': { caller: 'public', params: {}, query: [], body: ['csrf_token'], example: { csrf_token: 'x' }, page: true, console: true },
  'GET /bn/console': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /bn/console/tasks': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /bn/console/credits': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /bn/console/files': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /bn/console/keys': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /bn/console/webhooks': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /bn/console/sign-in': { caller: 'public', params: {}, query: [], body: 'none', page: true, console: true },
  'GET /bn/console/tasks/:id': { caller: 'public', params: { id: 'task' }, query: [], body: 'none', page: true, console: true },
  'POST /bn/console/sign-in': { caller: 'public', params: {}, query: [], body: ['key'], example: { key: 'rv_x' }, page: true, console: true },
  'POST /bn/console/sign-out': { caller: 'public', params: {}, query: [], body: ['csrf_token'], example: { csrf_token: 'x' }, page: true, console: true },
  'GET /assets/console.js': { caller: 'public', params: {}, query: [], body: 'none', page: true },
  'GET /assets/console.css': { caller: 'public', params: {}, query: [], body: 'none', page: true },
  'GET /admin/v1/openapi.json': { caller: 'admin', params: {}, query: [], body: 'none' },
  'POST /admin/v1/accounts': { caller: 'admin', params: {}, query: [], body: ['name', 'credits', 'limits'], example: { name: 'n', credits: 5, limits: { active_tasks: 3 } } },
  'GET /admin/v1/accounts/:id': { caller: 'admin', params: { id: 'account' }, query: [], body: 'none' },
  'PATCH /admin/v1/accounts/:id': { caller: 'admin', params: { id: 'account' }, query: [], body: ['limits'], example: { limits: { requests_per_minute: 100 } } },
  'POST /admin/v1/accounts/:id/keys': { caller: 'admin', params: { id: 'account' }, query: [], body: ['name'], example: { name: 'k' } },
  'DELETE /admin/v1/keys/:id': { caller: 'admin', params: { id: 'key' }, query: [], body: 'none' },
  'POST /admin/v1/accounts/:id/credits': { caller: 'admin', params: { id: 'account' }, query: [], body: ['amount', 'reason'], example: { amount: 5, reason: 'r' } },
  // Any other address or method under the console: a not-found page under the pages' headers.
  ...consoleNotFoundSpecs(),
};

function consoleNotFoundSpecs(): Record<string, RouteSpec> {
  const specs: Record<string, RouteSpec> = {};
  for (const base of ['/console', '/bn/console']) {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const body: RouteSpec['body'] = ['POST', 'PUT', 'PATCH'].includes(method) ? [] : 'none';
      specs[`${method} ${base}/*`] = { caller: 'public', params: { '*': 'unknown' }, query: [], body, page: true, console: true };
      if (method !== 'GET') specs[`${method} ${base}`] = { caller: 'public', params: {}, query: [], body, page: true, console: true };
    }
  }
  return specs;
}

/**
 * The spec of `method url`. A HEAD route the app derives from a GET one is fuzzed as that GET is;
 * a route without an entry is fuzzed with what its URL says: its parameters (of no known kind),
 * the caller its prefix implies, and JSON bodies of any fields when its method takes a body.
 * Null when its URL cannot be filled in (a regular-expression or multi-parameter segment).
 */
export function specOf(method: string, url: string): { spec: RouteSpec; listed: boolean } | null {
  const listed = ROUTE_SPECS[`${method} ${url}`] ?? (method === 'HEAD' ? ROUTE_SPECS[`GET ${url}`] : undefined);
  if (listed) return { spec: listed, listed: true };
  if (!/^(\/([\w.~-]+|:\w+|\*))*\/?$/.test(url)) return null;
  const params = Object.fromEntries(
    [...url.matchAll(/:(\w+)|\*/g)].map((match): [string, ParamKind] => [match[1] ?? '*', 'unknown']),
  );
  const caller: Caller = url.startsWith('/admin/') ? 'admin' : url.startsWith('/api/') ? 'key' : 'public';
  return { spec: { caller, params, query: [], body: ['POST', 'PUT', 'PATCH'].includes(method) ? [] : 'none' }, listed: false };
}
