import type { ValidationIssue } from '../errors.js';

/**
 * How deep a JSON body may nest. The deepest body the API reads is a reference item's field
 * (`params.referenceMediaItems[0].name`: depth 4); past this, a body is refused before anything
 * that recurses over it (the idempotency fingerprint, the validators) can exhaust the stack.
 */
export const MAX_JSON_DEPTH = 32;

// With the `u` flag a well-formed surrogate pair is one code point: this matches lone halves only.
const UNSTORABLE = /\u0000|\p{Cs}/u;

/**
 * Why PostgreSQL cannot store `text` (as text or jsonb): it holds U+0000, or a lone UTF-16
 * surrogate (not Unicode text; it has no UTF-8 form). Null when it can.
 */
export function unstorableText(text: string): string | null {
  const found = UNSTORABLE.exec(text)?.[0];
  if (found === undefined) return null;
  return found === '\u0000'
    ? 'NUL characters (\\u0000) are not allowed in text.'
    : 'Lone surrogates (such as \\ud800) are not Unicode text and are not allowed.';
}

/**
 * True when JSON `text` nests arrays and objects deeper than `maxDepth`. Read from the text,
 * before it is parsed: a megabyte of `[` costs a parse half a second, this scan a millisecond.
 * Exact for valid JSON; invalid JSON fails to parse anyway.
 */
export function nestsDeeperThan(text: string, maxDepth = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c) index++; // a backslash escapes the next character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x7b || char === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (char === 0x7d || char === 0x5d) {
      depth--;
    }
  }
  return false;
}

/**
 * The first string (or key) of a parsed JSON value that `unstorableText` refuses, with its path
 * (`params.referenceMediaItems[0].name`); null if none. Iterative, so no depth can exhaust the stack.
 */
export function findUnstorableText(root: unknown): ValidationIssue | null {
  const pending: [value: unknown, path: string][] = [[root, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path] = next;
    if (typeof value === 'string') {
      const problem = unstorableText(value);
      if (problem) return { path, message: problem };
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => pending.push([item, `${path}[${index}]`]));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        const at = path ? `${path}.${key}` : key;
        const problem = unstorableText(key);
        if (problem) return { path: at, message: problem };
        pending.push([item, at]);
      }
    }
  }
  return null;
}
