import { describe, expect, it } from 'vitest';
import { DependencyUnavailableError } from '../../src/errors.js';
import { toApiError } from '../../src/http/error-envelope.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService } from '../helpers/test-service.js';

describe.each(BACKENDS)('when the store is unreachable, on $name', (backend) => {
  it('answers 503 service_unavailable with Retry-After, and /readyz fails', async () => {
    const service = await startTestService(backend, { worker: false });
    const app = service.runtime.app!;
    try {
      const { auth } = await service.newAccount(10);
      expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
      await service.runtime.db.close();
      const ready = await app.inject({ url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().error.details.checks).toContainEqual({ name: 'database', ok: false });
      const response = await app.inject({ url: '/api/v1/account', headers: auth });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json().error).toMatchObject({ code: 'service_unavailable', details: null });
      expect(response.json().error.message).not.toMatch(/pglite|postgres|ECONN/i);
      expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await service.close().catch(() => {});
    }
  });
});

describe('while shutting down', () => {
  it('refuses new requests with 503 and Retry-After', async () => {
    const service = await startTestService(BACKENDS[0]!, { worker: false });
    const app = service.runtime.app!;
    const stopping = service.close();
    const response = await app.inject({ url: '/api/v1/models' });
    await stopping;
    expect([503]).toContain(response.statusCode);
    expect(response.json().error.code).toBe('service_unavailable');
    expect(response.headers['retry-after']).toBeDefined();
  });
});

describe.each(BACKENDS)('a real bug in a statement, on $name', (backend) => {
  it('answers 500 internal_error, not 503', async () => {
    const service = await startTestService(backend, { worker: false });
    const app = service.runtime.app!;
    try {
      const { auth } = await service.newAccount(10);
      // The ledger's table is gone: every read of it is an SQL error, with the database up.
      await service.runtime.db.query('ALTER TABLE ledger_entries RENAME TO ledger_entries_gone');
      const response = await app.inject({ url: '/api/v1/account/ledger', headers: auth });
      expect(response.statusCode).toBe(500);
      expect(response.json().error.code).toBe('internal_error');
      expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await service.close().catch(() => {});
    }
  });
});

describe('the error envelope', () => {
  it('answers 503 for DependencyUnavailableError only: errors that merely look like an outage are internal', () => {
    expect(toApiError(new DependencyUnavailableError('database')).code).toBe('service_unavailable');
    for (const lookalike of [
      new Error('Connection terminated unexpectedly'),
      new Error('PGlite is closed'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('the database system is shutting down'), { code: '57P01' }),
      Object.assign(new Error('SlowDown'), { name: 'TimeoutError', $metadata: { httpStatusCode: 503 } }),
    ]) {
      expect(toApiError(lookalike).code).toBe('internal_error');
    }
  });
});

describe('internal errors', () => {
  it('never carry the internal message to the client', () => {
    const error = toApiError(new Error('duplicate key value violates unique constraint "secret_table_pkey"'));
    expect(error.code).toBe('internal_error');
    expect(error.message).not.toContain('secret_table');
    expect(error.status).toBe(500);
  });
});
