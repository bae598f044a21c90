import { describe, expect, it } from 'vitest';
import { findUnstorableText, MAX_JSON_DEPTH, nestsDeeperThan, unstorableText } from '../../src/http/storable-text.js';

describe('storable text', () => {
  it('counts the nesting of JSON text exactly, ignoring brackets inside strings and escaped quotes', () => {
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(nestsDeeperThan(`{"a":${'{"b":'.repeat(MAX_JSON_DEPTH - 1)}1${'}'.repeat(MAX_JSON_DEPTH)}`)).toBe(false);
    expect(nestsDeeperThan(JSON.stringify({ prompt: '['.repeat(1000) }))).toBe(false);
    expect(nestsDeeperThan(JSON.stringify({ prompt: `a\\"${'{'.repeat(100)}` }))).toBe(false);
    expect(nestsDeeperThan(`["\\\\", ${nested(MAX_JSON_DEPTH)}]`)).toBe(true);
  });

  it('refuses U+0000 and lone surrogates, and takes well-formed pairs', () => {
    expect(unstorableText('a fox \u{1F98A}')).toBeNull();
    expect(unstorableText('a\u0000b')).toMatch(/NUL/);
    expect(unstorableText('\ud800')).toMatch(/surrogate/);
    expect(unstorableText('x\udfff')).toMatch(/surrogate/);
    expect(unstorableText('\udfff\ud800')).toMatch(/surrogate/);
  });

  it('names the path of the first string or key it refuses', () => {
    expect(findUnstorableText({ model: 'sora-2', params: { referenceMediaItems: [{ name: 'ok' }, { name: '\ud800' }] } }))
      .toEqual({ path: 'params.referenceMediaItems[1].name', message: expect.stringMatching(/surrogate/) });
    expect(findUnstorableText({ params: { 'k\u0000': 1 } })).toEqual({ path: 'params.k\u0000', message: expect.stringMatching(/NUL/) });
    expect(findUnstorableText(['\u0000'])).toEqual({ path: '[0]', message: expect.stringMatching(/NUL/) });
    expect(findUnstorableText({ a: [1, null, true, { b: '\u{1F98A}' }] })).toBeNull();
  });
});
