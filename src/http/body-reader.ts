import { validationFailed, type ValidationIssue } from '../errors.js';

/** Reads a JSON object body field by field, collecting every problem; `done()` throws them all at once. */
export function bodyReader(body: unknown, allowed: readonly string[]) {
  const issues: ValidationIssue[] = [];
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
  const b = (isObject ? body : {}) as Record<string, unknown>;
  if (!isObject && body !== undefined) issues.push({ path: '', message: 'The body must be a JSON object.' });
  for (const key of Object.keys(b)) if (!allowed.includes(key)) issues.push({ path: key, message: 'Unknown field.' });
  return {
    issues,
    string(name: string, { required = false, max = 200 } = {}): string | undefined {
      const value = b[name];
      if (value === undefined || value === null) {
        if (required) issues.push({ path: name, message: 'Required.' });
        return undefined;
      }
      if (typeof value !== 'string' || value.trim() === '' || value.length > max) {
        issues.push({ path: name, message: `Must be a non-empty string of at most ${max} characters.` });
        return undefined;
      }
      return value;
    },
    integer(name: string, { required = false, min = -1e12, max = 1e12 } = {}): number | undefined {
      const value = b[name];
      if (value === undefined || value === null) {
        if (required) issues.push({ path: name, message: 'Required.' });
        return undefined;
      }
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
        issues.push({ path: name, message: `Must be an integer from ${min} to ${max}.` });
        return undefined;
      }
      return value;
    },
    object(name: string): Record<string, unknown> | undefined {
      const value = b[name];
      if (value === undefined || value === null) return undefined;
      if (typeof value !== 'object' || Array.isArray(value)) {
        issues.push({ path: name, message: 'Must be an object.' });
        return undefined;
      }
      return value as Record<string, unknown>;
    },
    done(): void {
      if (issues.length > 0) throw validationFailed(issues);
    },
  };
}
