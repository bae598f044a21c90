// An upstream that holds its jobs running for hours: the Kie.ai mock, in a process of its own so
// the status fetches the worker makes are not served by the process that generates the load.
// Run: node bin/run-ts.js bench/hold-upstream.ts   (prints "hold upstream at <url>"; API key kie-test-key)
import { startMockKie } from '../test/helpers/mock-kie.js';

const HOURS = 6;

const kie = await startMockKie({ defaultScenario: { outcome: 'success', durationMs: HOURS * 3600_000, result: 'mp4' } });
process.stdout.write(`hold upstream at ${kie.url}\n`);
