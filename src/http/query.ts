import { validationFailed, type ValidationIssue } from '../errors.js';
import { ApiError } from '../errors.js';
import { unstorableText } from './storable-text.js';
import { decodeCursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../pagination.js';

type Query = Record<string, unknown>;

/** Reads query parameters, collecting every problem; `done()` throws them all at once. */
export function queryReader(query: unknown, allowed: readonly string[]) {
  const q = (query ?? {}) as Query;
  const issues: ValidationIssue[] = [];
  for (const key of Object.keys(q)) {
    if (!allowed.includes(key)) issues.push({ path: key, message: `Unknown query parameter. Allowed: ${allowed.join(', ')}.` });
  }
  const text = (name: string): string | undefined => {
    const value = q[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      issues.push({ path: name, message: 'Give this parameter once.' });
      return undefined;
    }
    const unstorable = unstorableText(value);
    if (unstorable) {
      issues.push({ path: name, message: unstorable });
      return undefined;
    }
    return value;
  };
  return {
    string: text,
    number(name: string, min: number, max: number, fallback: number, integer = true): number {
      const raw = text(name);
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
        issues.push({ path: name, message: `Must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}".` });
        return fallback;
      }
      return value;
    },
    oneOf<T extends string>(name: string, options: readonly T[]): T | undefined {
      const raw = text(name);
      if (raw === undefined) return undefined;
      if (!(options as readonly string[]).includes(raw)) {
        issues.push({ path: name, message: `Must be one of ${options.join(', ')}, got "${raw}".` });
        return undefined;
      }
      return raw as T;
    },
    /** The `cursor` parameter, checked to be one this API issued. */
    cursor(): string | undefined {
      const raw = text('cursor');
      try {
        decodeCursor(raw);
        return raw;
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        issues.push({ path: 'cursor', message: 'Not a cursor returned by this list.' });
        return undefined;
      }
    },
    limit(): number {
      return this.number('limit', 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE);
    },
    /** Reports a problem the caller found in a parameter it read (thrown by `done()` with the others). */
    problem(path: string, message: string): void {
      issues.push({ path, message });
    },
    done(): void {
      if (issues.length > 0) throw validationFailed(issues);
    },
  };
}
