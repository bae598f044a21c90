/** The console's calls to the public API: the session cookie authenticates, the page's CSRF token goes along on changes. */
import { POSITION_HEADER, positionOfEventId, positionOfHeader, SeenPosition } from '../../../../packages/sdk/src/position.js';

export interface Root {
  page: string;
  lang: string;
  base: string;
  csrf: string;
  keyId: string;
  id: string | null;
  t: Readonly<Record<string, string>>;
}

export function readRoot(): Root | null {
  const root = document.getElementById('console');
  if (!root) return null;
  const data = root.dataset;
  return {
    page: data['page'] ?? '', lang: data['lang'] ?? 'en', base: data['base'] ?? '/console', csrf: data['csrf'] ?? '',
    keyId: data['keyId'] ?? '', id: data['id'] ?? null, t: JSON.parse(data['strings'] ?? '{}') as Record<string, string>,
  };
}

export interface Issue { path: string; message: string }

/** The API's error envelope, as thrown by `api`. */
export class ApiFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: unknown) {
    super(message);
  }
  get issues(): Issue[] {
    return Array.isArray(this.details) ? (this.details as Issue[]) : [];
  }
}

let csrfToken = '';
let signInUrl = '/console/sign-in';
export function configureApi(root: Root): void {
  csrfToken = root.csrf;
  signInUrl = `${root.base}/sign-in`;
  positionKey = `rivya-position:${root.keyId}`;
  raisePosition(positionOfHeader(readStored(positionKey)));
}

/**
 * `Rivya-Position`: the largest this session has received (answers' header, events' ids), sent
 * back on every call so that no API process answers with an older task or balance than the page
 * has shown. Kept in sessionStorage, so it carries from page to page (a task made in the
 * playground, then opened). Read and kept as the SDK does.
 */
const position = new SeenPosition();
let positionKey = 'rivya-position';

function readStored(key: string): string | null {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null; // Storage refused (a sandboxed frame): the position lasts the page.
  }
}

function raisePosition(seen: number | null): void {
  const before = position.value;
  position.raise(seen);
  if (position.value === before) return;
  try {
    sessionStorage.setItem(positionKey, String(position.value));
  } catch {
    // As in readStored.
  }
}

/** Takes the position of a streamed event's id (`evt_` + 12 digits): an event seen proves the account got that far. */
export function sawEventId(id: string): void {
  raisePosition(positionOfEventId(id));
}

/** One API call. POSTs carry an `Idempotency-Key` (a retry of the same click cannot act twice). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  if (method === 'POST') headers['idempotency-key'] = crypto.randomUUID();
  position.send(headers);
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload ?? null, credentials: 'same-origin' });
  raisePosition(positionOfHeader(response.headers.get(POSITION_HEADER)));
  const text = await response.text();
  const json: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error ?? {};
    if (response.status === 401) window.location.assign(signInUrl);
    throw new ApiFailure(response.status, error.code ?? 'unknown', error.message ?? response.statusText, error.details ?? null);
  }
  return json as T;
}

export interface Page<T> { data: T[]; has_more: boolean; next_cursor: string | null }

/** Shorthand DOM helpers. */
export const $ = <E extends HTMLElement = HTMLElement>(id: string): E => document.getElementById(id) as E;

export function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

export function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

export function when(iso: string | null, lang: string, never = '—'): string {
  return iso ? new Date(iso).toLocaleString(lang === 'bn' ? 'bn-BD' : 'en-GB') : never;
}

export function showError(target: HTMLElement, error: unknown): void {
  target.textContent = error instanceof Error ? error.message : String(error);
  target.hidden = false;
}

/** A "Load more" button over a cursor-paged list. */
export function pager<T>(load: (cursor: string | null) => Promise<Page<T>>, render: (items: T[], reset: boolean) => void): (reset?: boolean) => Promise<void> {
  const more = document.getElementById('more') as HTMLButtonElement | null;
  let cursor: string | null = null;
  const next = async (reset = false): Promise<void> => {
    if (reset) cursor = null;
    const page = await load(cursor);
    render(page.data, reset);
    cursor = page.next_cursor;
    if (more) more.hidden = !page.has_more;
  };
  more?.addEventListener('click', () => void next());
  return next;
}
