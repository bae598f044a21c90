import { connect } from 'node:net';
import fc from 'fast-check';

/** The first response read from a connection: status, lower-cased headers, body. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `bytes` as they are to 127.0.0.1:`port`, half-closes, and reads until the server closes
 * (or `timeoutMs`). Null when the server closed without answering.
 */
export function sendRaw(port: number, bytes: Buffer, timeoutMs = 5000): Promise<RawAnswer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer, and the connection still open, after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseAnswer(Buffer.concat(chunks)));
    });
    socket.end(bytes);
  });
}

function parseAnswer(data: Buffer): RawAnswer | null {
  let text = data.toString('latin1');
  // Interim answers (100 Continue) come before the real one.
  while (/^HTTP\/1\.[01] 1\d\d /.test(text)) text = text.slice(text.indexOf('\r\n\r\n') + 4);
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  if (!Number.isInteger(status)) throw new Error(`not an HTTP answer: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(end + 4);
  const length = headers['content-length'];
  if (length !== undefined) body = body.slice(0, Number(length));
  return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8') };
}

/** Requests only a raw socket can send, each with the answer it must get. */
export const RAW_REQUESTS: { name: string; method: string; bytes: Buffer; status: number }[] = [
  { name: 'an unknown method', method: 'FOO', bytes: Buffer.from('FOO /api/v1/tasks HTTP/1.1\r\nHost: x\r\n\r\n'), status: 400 },
  { name: 'a request line without a target', method: 'GET', bytes: Buffer.from('GET\r\n\r\n'), status: 400 },
  { name: 'binary junk', method: 'GET', bytes: Buffer.from([0x00, 0x01, 0x02, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]), status: 400 },
  { name: 'a head over 16 KiB', method: 'GET', bytes: Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), status: 400 },
  { name: 'a header name with a space', method: 'GET', bytes: Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'), status: 400 },
  { name: 'a NUL in the target', method: 'GET', bytes: Buffer.from('GET /api/v1/tasks/a\u0000b HTTP/1.1\r\nHost: x\r\n\r\n'), status: 400 },
  {
    name: 'Content-Length with Transfer-Encoding',
    method: 'POST',
    bytes: Buffer.from('POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    status: 400,
  },
  { name: 'an undecodable path', method: 'GET', bytes: Buffer.from('GET /api/v1/tasks/%zz HTTP/1.1\r\nHost: x\r\n\r\n'), status: 404 },
  { name: 'an id over 100 characters', method: 'GET', bytes: Buffer.from(`GET /api/v1/tasks/${'a'.repeat(150)} HTTP/1.1\r\nHost: x\r\n\r\n`), status: 404 },
  { name: 'HTTP/1.0 without a Host', method: 'GET', bytes: Buffer.from('GET /healthz HTTP/1.0\r\n\r\n'), status: 200 },
  // Node hands CONNECT (a proxy's method) to a listener of its own, and drops the connection when there is none.
  { name: 'CONNECT', method: 'CONNECT', bytes: Buffer.from('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n'), status: 404 },
  { name: 'CONNECT to a path', method: 'CONNECT', bytes: Buffer.from('CONNECT /api/v1/tasks HTTP/1.1\r\nHost: x\r\n\r\n'), status: 404 },
];

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const latin1 = (max: number) => fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code)), maxLength: max });

/** A request head of any shape: known or junk methods, odd targets and versions, junk headers, bare LFs. */
export const rawRequest: fc.Arbitrary<Buffer> = fc
  .record({
    // Not HEAD: its answers have no body to check.
    method: fc.oneof(fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'get', 'G ET', ''), token.filter((name) => name !== 'HEAD')),
    target: fc.oneof(fc.constantFrom('/', '/api/v1/tasks', '/api/v1/tasks/%00', '*', 'http://x/healthz', '//', '/%', '/../../etc/passwd', ''), latin1(60).map((junk) => `/${junk}`)),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x', 'HTTP/9', 'http/1.1', ''),
    newline: fc.constantFrom('\r\n', '\r\n', '\n'),
    headers: fc.array(fc.tuple(fc.oneof(token, latin1(10)), latin1(40)), { maxLength: 4 }),
    body: fc.option(latin1(80), { nil: undefined }),
  })
  .map(({ method, target, version, newline, headers, body }) => {
    const head = [`${method} ${target} ${version}`, 'Host: x', ...headers.map(([name, value]) => `${name}: ${value}`)];
    if (body !== undefined) head.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
    return Buffer.from(`${head.join(newline)}${newline}${newline}${body ?? ''}`, 'latin1');
  });
