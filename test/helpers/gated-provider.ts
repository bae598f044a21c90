import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInstantProvider } from '../../src/providers/instant-provider.js';
import type { Provider } from '../../src/providers/port.js';
import { ffmpegPath } from './media.js';

/**
 * A provider whose tasks run until the test lets them finish (`release`) or fail (`fail`):
 * for states that must hold still (queued, running) while a test looks at them.
 */
export function createGatedProvider() {
  const instant = createInstantProvider({ ffmpegPath, cacheDir: join(tmpdir(), 'rivya-test-instant-cache') });
  const gates = new Map<string, (outcome: 'succeed' | 'fail') => void>();
  const waiting = new Set<string>();
  const started: string[] = [];
  const provider: Provider = {
    name: 'gated',
    kind: 'local',
    resendAfterSeconds: 0,
    refuses: () => null,
    async submit(task, context) {
      started.push(task.id);
      context.reportProgress(10);
      const outcome = await new Promise<'succeed' | 'fail'>((resolve, reject) => {
        gates.set(task.id, resolve);
        waiting.add(task.id);
        context.signal.addEventListener('abort', () => reject(context.signal.reason as Error), { once: true });
      }).finally(() => waiting.delete(task.id));
      if (outcome === 'fail') return { state: 'failed', code: 'upstream_error', message: 'The provider failed.' };
      return instant.submit(task, context);
    },
    poll: instant.poll,
    async cancel() {},
  };
  return {
    provider,
    started,
    /** Tasks currently blocked in the provider. */
    waiting,
    release(taskId: string, outcome: 'succeed' | 'fail' = 'succeed') {
      gates.get(taskId)?.(outcome);
    },
    releaseAll() {
      for (const id of waiting) gates.get(id)?.('succeed');
    },
  };
}
