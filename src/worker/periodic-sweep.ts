import type { FastifyBaseLogger } from 'fastify';

/**
 * Runs `sweep` every `intervalMs` (never two at once: a tick that finds one running skips), or at
 * once with `sweepOnce` (which waits for a running one first). The sweepers of tasks and of webhook
 * deliveries share it.
 */
export function periodicSweep(sweep: () => Promise<void>, options: { intervalMs: number; logger: FastifyBaseLogger; failure: string }) {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  return {
    /** Runs one sweep now (tests, and start-up). */
    async sweepOnce(): Promise<void> {
      while (running) await running;
      running = sweep().finally(() => (running = null));
      await running;
    },
    start(): void {
      timer = setInterval(() => {
        if (running) return;
        running = sweep()
          .catch((error: unknown) => options.logger.error({ err: error }, options.failure))
          .finally(() => (running = null));
      }, options.intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      if (running) await running.catch(() => {});
    },
  };
}
