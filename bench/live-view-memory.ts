// What the live view (src/events/live-view.ts) costs in memory: 100,000 unfinished tasks held,
// as polls put them there, measured as the heap's growth after a full GC, next to the weight the
// view counts them at (its byte budget, RIVYA_LIVE_VIEW_BYTES, is spent at that rate).
//   npm run bench:view-memory [-- tasks=100000 prompt=300]
import type { TaskRecord } from '../src/domain.js';
import { createLiveView } from '../src/events/live-view.js';
import { presentUnfinishedTask } from '../src/tasks/present-task.js';
import { newId } from '../src/ids.js';

const args = Object.fromEntries(process.argv.slice(2).map((arg) => arg.split('=') as [string, string]));
const TASKS = Number(args['tasks'] ?? 100_000);
// A prompt of a few sentences; the seeds allow up to 10,000 characters.
const PROMPT_CHARS = Number(args['prompt'] ?? 300);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('Run with node --expose-gc (npm run bench:view-memory does).');

/** A running task as a poll reads it from the database: each one's strings its own, as parsed rows are. */
function runningTask(index: number): TaskRecord {
  const now = new Date(Date.UTC(2026, 10, 29, 0, 0, 0, index));
  const prompt = `${index} `.padEnd(PROMPT_CHARS, 'A fox walks through fresh snow at dawn, slow camera pan. ');
  return {
    id: newId('task'), accountId: `acct_${index % 1000}`, model: 'sora-2-pro', prompt,
    params: JSON.parse(`{"size":"high","n_frames":"15","aspect_ratio":"landscape","remove_watermark":"false","upload_method":"s3"}`) as Record<string, string>,
    referenceFiles: [], clientRequestId: index % 2 === 0 ? `order-${index}` : null,
    status: 'running', progress: index % 100, reservedCredits: 75, finalCredits: 0, result: null, error: null,
    provider: 'kie', upstreamId: `kie-${index}`, submittedAt: now, upstreamHint: null, attempts: 1, webhookUrl: null, webhookEvents: 'terminal',
    deadlineAt: now, createdAt: now, updatedAt: now, changedAt: now, startedAt: now, completedAt: null,
  };
}

const feed = { onNotice: () => () => {}, onLost: () => () => {}, onGap: () => () => {} };
const view = createLiveView(feed, { maxTaskBytes: Number.MAX_SAFE_INTEGER });
gc();
const before = process.memoryUsage().heapUsed;
for (let index = 0; index < TASKS; index++) {
  const task = runningTask(index);
  await view.readTask(task.accountId, task.id, async () => ({ value: presentUnfinishedTask(task), position: index }));
}
gc();
const after = process.memoryUsage().heapUsed;
const { tasks, taskBytes } = view.size();
const measured = (after - before) / tasks;
process.stdout.write(
  `live view: ${tasks.toLocaleString('en')} unfinished tasks (prompts of ${PROMPT_CHARS} characters) held in ` +
    `${((after - before) / 1e6).toFixed(1)} MB of heap (target < 100 MB): ${measured.toFixed(0)} bytes a task; ` +
    `the view counts them at ${(taskBytes / tasks).toFixed(0)} bytes a task (${(taskBytes / 1e6).toFixed(1)} MB of its budget)\n`,
);
