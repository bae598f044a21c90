import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryTaskEvents } from '../../src/events/memory-task-events.js';
import type { TaskEvents } from '../../src/events/port.js';
import { createPostgresTaskEvents } from '../../src/events/postgres-task-events.js';
import { POSTGRES_AVAILABLE, POSTGRES_URL } from '../helpers/backends.js';

const opened: TaskEvents[] = [];
const track = (events: TaskEvents) => (opened.push(events), events);
const BACKENDS: { name: string; create(): TaskEvents; shared: boolean }[] = [
  { name: 'memory', create: () => track(createMemoryTaskEvents()), shared: false },
  ...(POSTGRES_AVAILABLE
    ? [{ name: 'postgres', create: () => track(createPostgresTaskEvents({ connectionString: POSTGRES_URL, logger: pino({ level: 'silent' }) })), shared: true }]
    : []),
];

afterAll(async () => {
  await Promise.all(opened.map((events) => events.close()));
});

describe.each(BACKENDS)('TaskEvents port contract on $name', ({ create, shared }) => {
  it('wakes a waiter when its task is announced, not for other tasks', async () => {
    const events = create();
    const started = Date.now();
    const waiting = events.next('task_a', 5000);
    setTimeout(() => events.publish('task_b'), 50);
    setTimeout(() => events.publish('task_a'), 150);
    await waiting;
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(2000);
  });

  it('returns after the timeout, or when aborted', async () => {
    const events = create();
    let started = Date.now();
    await events.next('task_none', 200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    const abort = new AbortController();
    started = Date.now();
    setTimeout(() => abort.abort(), 50);
    await events.next('task_none', 5000, abort.signal);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it.runIf(shared)('wakes waiters in other processes', async () => {
    const [publisher, subscriber] = [create(), create()];
    await new Promise((resolve) => setTimeout(resolve, 300)); // both listening
    const started = Date.now();
    const waiting = subscriber.next('task_remote', 5000);
    setTimeout(() => publisher.publish('task_remote'), 50);
    await waiting;
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
