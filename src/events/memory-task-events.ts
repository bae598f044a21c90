import type { TaskEvents } from './port.js';

/** Task events inside one process. */
export function createMemoryTaskEvents(): TaskEvents {
  const waiters = new Map<string, Set<() => void>>();
  return {
    publish(taskId) {
      const set = waiters.get(taskId);
      if (!set) return;
      waiters.delete(taskId);
      for (const wake of set) wake();
    },
    next(taskId, timeoutMs, signal) {
      return new Promise<void>((resolve) => {
        let set = waiters.get(taskId);
        if (!set) {
          set = new Set();
          waiters.set(taskId, set);
        }
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          const current = waiters.get(taskId);
          current?.delete(done);
          if (current?.size === 0) waiters.delete(taskId);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal?.addEventListener('abort', done, { once: true });
        set.add(done);
      });
    },
    async close() {
      for (const set of waiters.values()) for (const wake of set) wake();
      waiters.clear();
    },
  };
}
