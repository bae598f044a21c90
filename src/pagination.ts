import { validationFailed } from './errors.js';

/** A page of a list, newest first. */
export interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/** Cursors are opaque to clients: the position (a sequence number) of the last item they saw. */
export function encodeCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ s: seq })).toString('base64url');
}

/** Decodes a cursor; a malformed one is a `validation_failed` on `cursor`. */
export function decodeCursor(cursor: string | undefined): number | null {
  if (cursor === undefined || cursor === '') return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const seq = (value as { s?: unknown }).s;
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0) return seq;
  } catch {
    // fall through to the error below
  }
  throw validationFailed([{ path: 'cursor', message: 'Not a cursor returned by this list.' }]);
}

/** Turns `limit + 1` rows fetched newest first into a page. */
export function toPage<Row extends { seq: number | string }, T>(rows: Row[], limit: number, map: (row: Row) => T): Page<T> {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return {
    data: pageRows.map(map),
    has_more: hasMore,
    next_cursor: hasMore && last ? encodeCursor(Number(last.seq)) : null,
  };
}
