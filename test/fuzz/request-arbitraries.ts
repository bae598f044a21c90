import fc from 'fast-check';
import { MODELS } from '../../src/catalog/models.js';
import type { ParamKind, RouteSpec } from './route-specs.js';

/** Real values the generators mix with junk, so requests also get past the first checks. */
export interface Fixtures {
  /** The fuzzed account's API key, and another account's. */
  key: string;
  otherKey: string;
  adminToken: string;
  /** Real values of each kind of path parameter (own and foreign ids, model ids, targets…). */
  ids: Readonly<Record<ParamKind, readonly string[]>>;
  /** Valid `expires=…&sig=…` of a real object, and of the fuzzed account's ended task's callback URL. */
  signedQuery: { object: string; callback: string };
  /** The signed URL of the fuzzed account's file. */
  fileUrl: string;
  /** A small, valid PNG. */
  png: Buffer;
}

/** One request for `app.inject`. */
export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

/** Percent-encodes any string; a lone surrogate becomes the invalid UTF-8 of its code unit (`%ED%A0%80`). */
function encode(text: string): string {
  return text.replace(/[\s\S]/gu, (char) => {
    const unit = char.charCodeAt(0);
    if (char.length > 1 || unit < 0xd800 || unit > 0xdfff) return encodeURIComponent(char);
    return [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)].map((byte) => `%${byte.toString(16).toUpperCase()}`).join('');
  });
}

/** Strings a careless or hostile client sends: empty, blank, NUL, lone surrogates, long, odd Unicode. */
export const junkText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\ud83e\udd8a', '\u202e', '\ufeff', 'null', 'true', '0', '-1', '..', '../../etc/passwd', '%00', '%zz', '<script>', "'; DROP TABLE tasks; --"),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.integer({ min: 129, max: 20_000 }).map((length) => 'x'.repeat(length)),
);

/** Numbers at the edges: huge, tiny, negative, fractional, unsafe. */
const junkNumberText = fc.constantFrom(
  '0', '-0', '-1', '1.5', '1e400', '-1e400', '1e-400', '9007199254740993', '123456789012345678901234567890', '0x10', '1e3', 'NaN', 'Infinity',
);

/** A JSON value of any shape, or a known field's plausible value. */
const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  junkText,
  fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 1e21, Number.MAX_SAFE_INTEGER + 2, 1e12, -1e12, 6, 10, 15)),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }),
);

function taskParams(fixtures: Fixtures): fc.Arbitrary<unknown> {
  const keys = [...new Set(MODELS.flatMap((model) => model.params.map((param) => param.key)))];
  const options = [...new Set(MODELS.flatMap((model) => model.params.flatMap((param) => param.options)))];
  const referenceItem = fc.record(
    {
      url: fc.oneof(fc.constant(fixtures.fileUrl), fc.webUrl(), junkText),
      kind: fc.oneof(fc.constantFrom('image', 'video', 'audio'), junkText),
      name: fc.oneof(fc.constant('a.png'), junkText),
      mimeType: fc.oneof(fc.constantFrom('image/png', 'image/jpeg', 'video/mp4'), junkText),
      durationToken: junkText,
      file_id: fc.oneof(fc.constantFrom(...fixtures.ids.file), junkText),
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    fc.dictionary(fc.oneof(fc.constantFrom(...keys), junkText), fc.oneof(fc.constantFrom(...options), junkValue), { maxKeys: 5 }).chain((params) =>
      fc.oneof(
        fc.constant(params),
        fc.array(fc.oneof(referenceItem, junkValue), { maxLength: 3 }).map((items) => ({ ...params, referenceMediaItems: items })),
      ),
    ),
    junkValue,
  );
}

/** Plausible values for the fields a route reads; junk for the rest. */
function fieldValue(field: string, fixtures: Fixtures): fc.Arbitrary<unknown> {
  switch (field) {
    case 'model':
      return fc.oneof(fc.constantFrom(...MODELS.map((model) => model.id)), junkValue);
    case 'prompt':
      return fc.oneof(fc.constant('a fox in the snow'), junkValue);
    case 'params':
      return taskParams(fixtures);
    case 'limits':
      return fc.oneof(
        fc.dictionary(fc.oneof(fc.constantFrom('creates_per_minute', 'requests_per_minute', 'active_tasks'), junkText), junkValue, { maxKeys: 4 }),
        junkValue,
      );
    case 'amount':
    case 'credits':
      return fc.oneof(fc.integer({ min: -2000, max: 2000 }), junkValue);
    case 'url':
      return fc.oneof(fc.constantFrom('https://93.184.215.14/hook', 'https://127.0.0.1/', 'http://[::1]/'), fc.webUrl(), junkValue);
    case 'events':
      return fc.oneof(fc.subarray(['task.queued', 'task.running', 'task.progress', 'task.succeeded', 'task.failed', 'task.canceled', '*']), fc.array(junkValue, { maxLength: 3 }), junkValue);
    case 'disabled':
      return fc.oneof(fc.boolean(), junkValue);
    default:
      return junkValue;
  }
}

/** A JSON object of the route's fields (any subset, any values) and some junk keys. */
function nearlyValidJson(fields: readonly string[], fixtures: Fixtures): fc.Arbitrary<string> {
  const known = fc.record(Object.fromEntries(fields.map((field) => [field, fieldValue(field, fixtures)])), { requiredKeys: [] });
  const extra = fc.dictionary(junkText, junkValue, { maxKeys: 2 });
  return fc.tuple(known, fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: extra })).map(([a, b]) => JSON.stringify({ ...b, ...a }));
}

/** Every path to a value inside `value` (object keys and array indexes). */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
  return [prefix, ...entries.flatMap(([key, item]) => pathsOf(item, [...prefix, key]))];
}

/** `example` with up to two of its values replaced by junk, removed, or joined by a junk key (or as it is). */
function brokenExample(example: Readonly<Record<string, unknown>>, fixtures: Fixtures): fc.Arbitrary<string> {
  const base = JSON.parse(JSON.stringify(example).replaceAll('$FILE_URL', fixtures.fileUrl)) as Record<string, unknown>;
  const paths = pathsOf(base).filter((path) => path.length > 0);
  const edit = fc.tuple(fc.constantFrom(...paths), fc.constantFrom('replace', 'replace', 'remove', 'add'), junkValue, junkText);
  return fc.array(edit, { minLength: 0, maxLength: 2 }).map((edits) => {
    const body = structuredClone(base);
    for (const [path, how, value, key] of edits) {
      const parent = path.slice(0, -1).reduce<unknown>((node, step) => (node as Record<string | number, unknown> | undefined)?.[step], body);
      const last = path[path.length - 1] as string | number;
      if (parent === undefined || parent === null || typeof parent !== 'object') continue;
      const target = parent as Record<string | number, unknown>;
      if (how === 'replace') target[last] = value;
      else if (how === 'remove') delete target[last];
      else if (!Array.isArray(parent)) target[key] = value;
    }
    return JSON.stringify(body);
  });
}

/** JSON text that is not what anyone means: deep, truncated, escaped junk, odd roots. */
const oddJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
  fc.integer({ min: 20, max: 20_000 }).map((depth) => `{"model":"sora-2","prompt":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`),
  fc.integer({ min: 20, max: 20_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc.integer({ min: 1, max: 5000 }).map((depth) => '['.repeat(depth)),
  junkNumberText.map((number) => `{"model":"sora-2","prompt":"x","params":{"n_frames":${number}},"credits":${number},"amount":${number}}`),
  fc.constantFrom(
    '{"prompt":"\\ud800"}', '{"name":"\\udc00x"}', '{"\\ud800":1}', '{"prompt":"a\\u0000b"}', '{"\\u0000":1}', '{"__proto__":{"admin":true}}',
    '{"constructor":{"prototype":{}}}', '{"a":1,"a":2}', 'null', '[]', '""', '0', 'true', '{', '}', '{"a":', '"unterminated', '\ufeff{}', '{} {}',
    '{"reason":"x","amount":1e400}', '{"limits":{"active_tasks":1e400}}',
  ),
  fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.nat()).map(([value, cut]) => {
    const text = JSON.stringify(value);
    return text.slice(0, cut % Math.max(1, text.length));
  }),
);

/** A valid upload of the PNG, broken in one way (or not at all): the structure, a header, the bytes. */
function brokenUpload(fixtures: Fixtures): fc.Arbitrary<{ contentType: string; payload: Buffer }> {
  const breaks = [
    'none', 'no-closing-boundary', 'lf-only', 'boundary-elsewhere', 'no-boundary-param', 'truncated', 'part-after', 'field-before',
    'wrong-name', 'nul-filename', 'surrogate-filename', 'long-filename', 'declared-jpeg', 'bytes-damaged', 'empty-file', 'no-filename',
  ] as const;
  return fc.tuple(fc.constantFrom(...breaks), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([broken, at, junk]) => {
    const nl = broken === 'lf-only' ? '\n' : '\r\n';
    const name = broken === 'wrong-name' ? 'image' : 'file';
    const filenames: Partial<Record<(typeof breaks)[number], string>> = {
      'nul-filename': `filename="a.png"; filename*=utf-8''a%00b.png`,
      'surrogate-filename': `filename*=utf-8''%ED%A0%80.png`,
      'long-filename': `filename="${'n'.repeat(300)}\ud83e\udd8a.png"`,
      'no-filename': '',
    };
    const filename = filenames[broken] ?? 'filename="a.png"';
    const type = broken === 'declared-jpeg' ? 'image/jpeg' : 'image/png';
    let bytes = fixtures.png;
    if (broken === 'bytes-damaged') bytes = Buffer.concat([fixtures.png.subarray(0, 1 + (at % fixtures.png.length)), Buffer.from(junk)]);
    if (broken === 'empty-file') bytes = Buffer.alloc(0);
    const part = (head: string, body: Buffer) => [Buffer.from(`--b${nl}${head}${nl}${nl}`, 'utf8'), body, Buffer.from(nl)];
    const chunks = [
      ...(broken === 'field-before' ? part('Content-Disposition: form-data; name="purpose"', Buffer.from('x')) : []),
      ...part(`Content-Disposition: form-data; name="${name}"${filename ? `; ${filename}` : ''}${nl}Content-Type: ${type}`, bytes),
      ...(broken === 'part-after' ? part('Content-Disposition: form-data; name="file"; filename="b.png"', fixtures.png) : []),
      Buffer.from(broken === 'no-closing-boundary' ? '' : `--b--${nl}`),
    ];
    let payload = Buffer.concat(chunks);
    if (broken === 'truncated') payload = payload.subarray(0, at % payload.length);
    const contentTypes: Partial<Record<(typeof breaks)[number], string>> = {
      'boundary-elsewhere': 'multipart/form-data; boundary=c',
      'no-boundary-param': 'multipart/form-data',
    };
    return { contentType: contentTypes[broken] ?? 'multipart/form-data; boundary=b', payload };
  });
}

/** Free-form multipart bodies: any boundary, parts, names, file names, types and endings. */
function freeFormMultipart(fixtures: Fixtures): fc.Arbitrary<{ contentType: string; payload: Buffer }> {
  const boundary = fc.oneof(fc.constant('b0undary'), fc.stringMatching(/^[A-Za-z0-9'()+_,./:=?-]{1,70}$/), fc.constant('x'.repeat(200)));
  const part = fc.record({
    name: fc.oneof({ weight: 3, arbitrary: fc.constant('file') }, { weight: 1, arbitrary: fc.constantFrom('', 'files', '__proto__', 'constructor', 'toString') }, { weight: 1, arbitrary: junkText }),
    filename: fc.option(fc.oneof(fc.constant('a.png'), fc.constantFrom('../../x.png', 'a\u0000b.png', '\ud800.png', '"quoted".png'), junkText), { nil: undefined }),
    encodedFilename: fc.option(fc.constantFrom("utf-8''a%00b.png", "utf-8''%ED%A0%80.png", "utf-8''%F0%9F%A6%8A.png", "bogus''%zz"), { nil: undefined }),
    type: fc.option(fc.oneof(fc.constantFrom('image/png', 'image/jpeg', 'application/octet-stream', 'text/plain', 'application/json'), junkText), { nil: undefined }),
    bytes: fc.oneof(
      { weight: 1, arbitrary: fc.constant(fixtures.png) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.concat([fixtures.png.subarray(0, 16), Buffer.from(bytes)])) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
      { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
    ),
  });
  return fc
    .record({
      boundary,
      header: fc.constantFrom('boundary', 'none', 'quoted', 'other', 'mixed', 'empty'),
      newline: fc.constantFrom('\r\n', '\r\n', '\n'),
      preamble: fc.constantFrom('', 'junk before\r\n'),
      parts: fc.array(part, { minLength: 0, maxLength: 3 }),
      ending: fc.constantFrom('close', 'close', 'none', 'no-final-newline', 'dashes-only', 'garbage'),
    })
    .map(({ boundary: b, header, newline: nl, preamble, parts, ending }) => {
      const contentType = {
        boundary: `multipart/form-data; boundary=${b}`,
        none: 'multipart/form-data',
        quoted: `multipart/form-data; boundary="${b}"`,
        other: 'multipart/form-data; boundary=not-the-one',
        mixed: `multipart/mixed; boundary=${b}`,
        empty: 'multipart/form-data; boundary=',
      }[header];
      const chunks: Buffer[] = [Buffer.from(preamble)];
      for (const p of parts) {
        let disposition = `form-data; name="${p.name}"`;
        if (p.filename !== undefined) disposition += `; filename="${p.filename}"`;
        if (p.encodedFilename !== undefined) disposition += `; filename*=${p.encodedFilename}`;
        const head = `--${b}${nl}Content-Disposition: ${disposition}${nl}${p.type !== undefined ? `Content-Type: ${p.type}${nl}` : ''}${nl}`;
        chunks.push(Buffer.from(head, 'utf8'), p.bytes, Buffer.from(nl));
      }
      const endings = { close: `--${b}--${nl}`, none: '', 'no-final-newline': `--${b}--`, 'dashes-only': '--', garbage: `--${b}--${nl}trailing junk --${b}${nl}` };
      chunks.push(Buffer.from(endings[ending]));
      return { contentType, payload: Buffer.concat(chunks) };
    });
}

/** Multipart bodies: a valid upload broken in one way, and free-form ones getting everything wrong. */
function multipartBody(fixtures: Fixtures): fc.Arbitrary<{ contentType: string; payload: Buffer }> {
  return fc.oneof(brokenUpload(fixtures), freeFormMultipart(fixtures));
}

/** A path parameter, already percent-encoded: a real value, a well-formed stranger, or junk. */
function pathParam(kind: ParamKind, fixtures: Fixtures): fc.Arbitrary<string> {
  const real = fixtures.ids[kind];
  const prefix = {
    task: 'task_', file: 'file_', account: 'acct_', key: 'key_', model: 'sora-', target: '', 'object-key': 'uploads/',
    'webhook-endpoint': 'we_', 'webhook-delivery': 'dlv_', unknown: '',
  }[kind];
  const arbitraries: fc.Arbitrary<string>[] = [
    fc.stringMatching(/^[A-Za-z0-9]{22}$/).map((tail) => `${prefix}${tail}`),
    fc.constantFrom('%00', `${prefix}%00`, '%zz', '%', '%e0%a4', '%ED%A0%80', '%C0%AE', '..', '.', '%2e%2e', '%2F', 'a%2Fb', '%20', '%0A', '%FF', '~', '%F0%9F%A6%8A', 'null', 'undefined', '0', '-1'),
    fc.integer({ min: 90, max: 400 }).map((length) => `${prefix}${'a'.repeat(length)}`),
    junkText.filter((text) => text.length > 0).map(encode),
  ];
  if (kind === 'object-key') arbitraries.push(fc.constantFrom('../../../../etc/passwd', 'uploads/%2e%2e/%2e%2e/secret', 'a//b', ''));
  if (real.length === 0) return fc.oneof(...arbitraries);
  // A real id half the time: requests that name something real get past the lookup, to the body's checks and the credits.
  const realIds = fc.constantFrom(...real.map((value) => (kind === 'object-key' ? value : encodeURIComponent(value))));
  return fc.oneof({ weight: arbitraries.length, arbitrary: realIds }, ...arbitraries.map((arbitrary) => ({ weight: 1, arbitrary })));
}

/** A query string: the route's own parameters and strangers, with junk or plausible values, sometimes repeated. */
function queryString(spec: RouteSpec, fixtures: Fixtures): fc.Arbitrary<string> {
  const names = fc.oneof(
    ...(spec.query.length > 0 ? [{ weight: 4, arbitrary: fc.constantFrom(...spec.query) }] : []),
    { weight: 1, arbitrary: fc.constantFrom('x', '', '__proto__', 'limit[]', 'constructor', 'wait') },
  );
  const value = fc.oneof(
    fc.constantFrom('', '1', '0', '-1', '100', '101', '1e400', '0.5', '60', '61', 'NaN', 'queued', 'succeeded', 'sora-2', 'abc', '%00', '%zz', '%ED%A0%80', '%FF'),
    junkNumberText,
    fc.base64String({ maxLength: 40 }).map(encodeURIComponent),
    junkText.map(encode),
  );
  const pairs = fc.array(fc.tuple(names, value), { maxLength: 4 }).map((entries) => entries.map(([name, v]) => `${encodeURIComponent(name)}=${v}`).join('&'));
  const signed = spec.signed ? [fc.constant(fixtures.signedQuery[spec.signed])] : [];
  return fc.oneof({ weight: 2, arbitrary: fc.constant('') }, { weight: 3, arbitrary: pairs }, ...signed.map((arbitrary) => ({ weight: 2, arbitrary })));
}

/** Header values Node accepts (visible Latin-1 and space): what a client can send at all. */
const headerJunk = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((code) => String.fromCharCode(code)), maxLength: 300 });

/**
 * `Rivya-Position` values: whole numbers the server takes (1–16 digits up to 2^53 − 1), and what it
 * refuses — signs, fractions, spaces, two values (a header sent twice arrives joined: `5, 6`),
 * 17 digits, one past 2^53 − 1, junk. Clients send it on every request.
 */
export const positionValues: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.oneof(fc.constantFrom('0', '1', '0000000000000001', String(Number.MAX_SAFE_INTEGER)), fc.nat().map(String)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '', ' ', '-1', '+1', '1.5', '1e3', '0x10', ' 7', '7 ', '5, 6', '5,6', String(Number.MAX_SAFE_INTEGER + 1), '99999999999999999',
      '00000000000000000', 'NaN', 'Infinity', '\u00b2', `evt_${'0'.repeat(11)}1abcdefghij`,
    ),
  },
  { weight: 1, arbitrary: headerJunk },
);

/** `Authorization`: the right credential for the route most often, else another, none, or junk. */
function authorization(spec: RouteSpec, fixtures: Fixtures): fc.Arbitrary<string | undefined> {
  const own = spec.caller === 'admin' ? fixtures.adminToken : fixtures.key;
  return fc.oneof(
    { weight: 5, arbitrary: fc.constant(`Bearer ${own}`) },
    { weight: 1, arbitrary: fc.constantFrom(`Bearer ${fixtures.otherKey}`, `Bearer ${fixtures.adminToken}`, `Bearer ${fixtures.key}`, `bearer   ${own}  `, `Bearer ${own}x`, `Basic ${own}`, 'Bearer', 'Bearer ', 'Bearer a b', `Bearer ${own}\u00ff`) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: headerJunk.map((token) => `Bearer ${token}`) },
  );
}

/** A request to the route `method url`, described by `spec`: every part of it may be malformed. */
export function requestFor(method: string, url: string, spec: RouteSpec, fixtures: Fixtures): fc.Arbitrary<FuzzRequest> {
  const params = Object.entries(spec.params);
  const path = fc.tuple(...params.map(([, kind]) => pathParam(kind, fixtures))).map((values) => {
    let filled = url;
    params.forEach(([name], index) => {
      filled = name === '*' ? filled.replace('*', values[index] ?? '') : filled.replace(`:${name}`, values[index] ?? '');
    });
    return filled;
  });
  const jsonBody = spec.body === 'multipart'
    ? oddJsonText
    : fc.oneof(
      ...(spec.example ? [{ weight: 3, arbitrary: brokenExample(spec.example, fixtures) }] : []),
      { weight: 2, arbitrary: nearlyValidJson(spec.body === 'none' ? [] : spec.body, fixtures) },
      { weight: 2, arbitrary: oddJsonText },
    );
  const body: fc.Arbitrary<{ contentType: string | undefined; payload: string | Buffer | undefined }> = fc.oneof(
    { weight: spec.body === 'none' ? 4 : 1, arbitrary: fc.constant({ contentType: undefined, payload: undefined }) },
    {
      weight: spec.body === 'multipart' ? 1 : 4,
      arbitrary: fc.tuple(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'APPLICATION/JSON'), jsonBody)
        .map(([contentType, payload]) => ({ contentType, payload })),
    },
    { weight: spec.body === 'multipart' ? 5 : 1, arbitrary: multipartBody(fixtures) },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.oneof(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/vnd.api+json', 'application/json, text/plain', '*/*', ';', ''), headerJunk),
        fc.oneof(oddJsonText, fc.uint8Array({ maxLength: 500 }).map((bytes) => Buffer.from(bytes))),
      ).map(([contentType, payload]) => ({ contentType, payload })),
    },
    { weight: 1, arbitrary: oddJsonText.map((payload) => ({ contentType: undefined, payload })) },
  );
  const idempotencyKey = fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.stringMatching(/^[\x21-\x7e]{1,40}$/) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'has space', 'é', 'k'.repeat(256), 'k'.repeat(255), '\u00ff\u00fe') },
  );
  const extraHeaders = fc.oneof(
    { weight: 4, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.constantFrom({ accept: 'text/event-stream' }, { 'x-request-id': 'req_forged' }, { 'accept-encoding': 'gzip' }, { 'accept-version': '1' }, { 'x-forwarded-for': '1.2.3.4' }) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('x-junk', 'accept', 'if-none-match', 'range', 'expect'), headerJunk).map(([name, value]) => ({ [name]: value })) },
  );
  const position = fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: positionValues });
  const lengthSkew = fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -50, max: 50 }) });
  return fc
    .record({ path, query: queryString(spec, fixtures), body, auth: authorization(spec, fixtures), idempotencyKey, position, extraHeaders, lengthSkew })
    .map(({ path: p, query, body: { contentType, payload }, auth, idempotencyKey: key, position: seen, extraHeaders: extra, lengthSkew: skew }) => {
      const headers: Record<string, string> = { ...extra };
      if (auth !== undefined) headers['authorization'] = auth;
      if (key !== undefined) headers['idempotency-key'] = key;
      if (seen !== undefined) headers['rivya-position'] = seen;
      if (contentType !== undefined) headers['content-type'] = contentType;
      if (payload !== undefined && skew !== 0) headers['content-length'] = String(Math.max(0, Buffer.byteLength(payload) + skew));
      return { method, url: query ? `${p}?${query}` : p, headers, ...(payload !== undefined ? { payload } : {}) };
    });
}
