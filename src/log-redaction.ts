/**
 * Fields no log line may show, wherever a library puts them: credentials in request headers
 * (API keys, the admin and metrics tokens are all `Authorization: Bearer …`; an upstream's key
 * may go in `api-key`). @fastify/multipart, for one, logs the headers it hands to its parser at
 * `trace`. Our own lines never carry a key, a token or a URL with a signature (routes are logged
 * by their pattern, see http/request-log.ts); this is the net under libraries' lines.
 */
export const LOG_REDACTION = {
  paths: [
    'headers.authorization', 'headers.cookie', 'headers["api-key"]', 'headers["x-api-key"]',
    '*.headers.authorization', '*.headers.cookie', '*.headers["api-key"]', '*.headers["x-api-key"]',
    '*.*.headers.authorization', '*.*.headers.cookie', '*.*.headers["api-key"]', '*.*.headers["x-api-key"]',
  ],
  censor: '[redacted]',
};
