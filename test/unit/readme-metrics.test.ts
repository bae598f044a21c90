import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/port.js';
import type { JobQueue } from '../../src/jobs/port.js';
import { createMetrics } from '../../src/metrics.js';

/** The README's "Operating it" section: what an operator is told the service exports. */
async function operatingSection(): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('## Operating it');
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

/** `a_{b,c}_d` → `a_b_d`, `a_c_d`; a trailing `{label}` (one word) names a label and is dropped. */
function expandBraces(name: string): string[] {
  if (/\{[a-z_]+\}$/.test(name)) return expandBraces(name.replace(/\{[a-z_]+\}$/, ''));
  const match = /\{([^}]*)\}/.exec(name);
  if (!match) return [name];
  return match[1]!.split(',').flatMap((part) => expandBraces(name.replace(match[0], part)));
}

/** The series a registry holds, by name: type and label names (read without collecting anything). */
function seriesOf(): Map<string, { type: string; labels: string[] }> {
  // The sources are only read on a scrape; listing the series does not scrape.
  const metrics = createMetrics({ db: {} as Database, queue: {} as JobQueue, countTasks: async () => ({ queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 }) });
  return new Map(
    metrics.registry.getMetricsAsArray().map((metric) => [
      metric.name,
      { type: String(metric.type), labels: [...((metric as unknown as { labelNames?: string[] }).labelNames ?? [])].sort() },
    ]),
  );
}

describe('the README\'s metrics', () => {
  it('table lists every rivya_ series the service exports, with its type and labels, and no other', async () => {
    const section = await operatingSection();
    const rows = [...section.matchAll(/^\| `(rivya_[a-z_]+)` \| (\w+) \|([^|]*)\|/gm)].map((match) => ({
      name: match[1]!,
      type: match[2]!,
      labels: [...match[3]!.matchAll(/`([a-z_]+)`/g)].map((label) => label[1]!).sort(),
    }));
    const series = seriesOf();
    const exported = [...series.keys()].filter((name) => name.startsWith('rivya_')).sort();
    expect(rows.map((row) => row.name).sort()).toEqual(exported);
    for (const row of rows) expect({ name: row.name, ...series.get(row.name) }).toEqual(row);
  });

  it('names only process and Node.js series that exist', async () => {
    const section = await operatingSection();
    const named = [...section.matchAll(/`((?:process|nodejs)_[a-z_{},]+)`/g)].flatMap((match) => expandBraces(match[1]!));
    expect(named.length).toBeGreaterThan(10);
    const series = seriesOf();
    expect(named.filter((name) => !series.has(name))).toEqual([]);
  });
});
