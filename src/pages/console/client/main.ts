import { configureApi, readRoot } from './api.js';
import { startCredits } from './credits.js';
import { startFiles } from './files.js';
import { startKeys } from './keys.js';
import { startPlayground } from './playground.js';
import { startTask, startTasks } from './tasks.js';
import { startWebhooks } from './webhooks.js';

const PAGES: Record<string, (root: NonNullable<ReturnType<typeof readRoot>>) => void | Promise<void>> = {
  playground: startPlayground, tasks: startTasks, task: startTask, credits: startCredits, files: startFiles, keys: startKeys, webhooks: startWebhooks,
};

function start(): void {
  const root = readRoot();
  if (!root) return;
  configureApi(root);
  void PAGES[root.page]?.(root);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
