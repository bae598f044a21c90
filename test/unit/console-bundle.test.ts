import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildConsoleBundle } from '../../src/pages/console/bundle.js';

describe("the console's client script", () => {
  it('bundles into one file within the 150 KB gzipped budget, with nothing a strict CSP refuses', async () => {
    const bytes = await buildConsoleBundle({ write: false });
    const gzipped = gzipSync(bytes).length;
    console.log(`console.js: ${bytes.length} bytes, ${gzipped} gzipped`);
    expect(bytes.length).toBeGreaterThan(1000);
    expect(gzipped).toBeLessThanOrEqual(150 * 1024);
    const text = bytes.toString('utf8');
    // No eval or string-compiled functions ('unsafe-eval' is not allowed), no other origin.
    expect(text).not.toMatch(/\beval\(|new Function\(/);
    expect(text).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });
});
