import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventStreamParser, type ServerSentEvent } from '../../packages/sdk/src/event-stream-parser.js';

type Item = { event: ServerSentEvent } | { retry: number } | { comment: string };

/** Runs the parser over `chunks` and returns what it reported, in order, then its last event ID. */
function parseWithId(chunks: (Uint8Array | string)[]): { items: Item[]; lastEventId: string } {
  const items: Item[] = [];
  const parser = new EventStreamParser({
    onEvent: (event) => items.push({ event }),
    onRetry: (retry) => items.push({ retry }),
    onComment: (comment) => items.push({ comment }),
  });
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return { items, lastEventId: parser.lastEventId };
}

const parse = (chunks: (Uint8Array | string)[]): Item[] => parseWithId(chunks).items;

const events = (chunks: (Uint8Array | string)[]) =>
  parse(chunks).flatMap((item) => ('event' in item ? [item.event] : []));

/** One line of a stream, as the generator makes it: a field (with its spelling) or a comment. */
type Line =
  | { kind: 'field'; name: string; value: string; spelling: 'colon-space' | 'colon' | 'bare' }
  | { kind: 'comment'; text: string };

/**
 * What the standard says a sequence of lines (blocks separated by blank lines) dispatches: an
 * interpreter written from the spec's prose, line by line, independent of the parser's text handling.
 */
function expected(blocks: Line[][], lastBlockEnded: boolean): { items: Item[]; lastEventId: string } {
  const items: Item[] = [];
  let lastEventId = '';
  /** The id as of the last blank line: what a reconnection resumes from. */
  let committed = '';
  blocks.forEach((block, index) => {
    let data: string[] = [];
    let type = '';
    for (const line of block) {
      if (line.kind === 'comment') {
        items.push({ comment: line.text });
        continue;
      }
      const value = line.spelling === 'bare' ? '' : line.value;
      if (line.name === 'data') data.push(value);
      else if (line.name === 'event') type = value;
      else if (line.name === 'id' && !value.includes('\0')) lastEventId = value;
      else if (line.name === 'retry' && /^\d+$/.test(value)) items.push({ retry: Number(value) });
    }
    const ended = index < blocks.length - 1 || lastBlockEnded;
    if (ended) committed = lastEventId;
    if (ended && data.length > 0) items.push({ event: { event: type || 'message', data: data.join('\n'), id: lastEventId } });
    data = [];
  });
  return { items, lastEventId: committed };
}

const noLineEnd = (unit: 'binary' | fc.Arbitrary<string>) => fc.string({ unit, maxLength: 12 }).filter((text) => !/[\r\n]/.test(text));
const text = fc.oneof(noLineEnd('binary'), noLineEnd(fc.constantFrom('a', ' ', ':', '\0', 'é', '😀', '1', '\uFEFF')));

const line: fc.Arbitrary<Line> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('field' as const),
      name: fc.constantFrom('data', 'data', 'data', 'event', 'id', 'retry', 'unknown', 'Data', 'ID'),
      value: fc.oneof(text, fc.stringMatching(/^\d{1,6}$/), fc.constantFrom('', ' ', ' lead', 'evt_000000000001abcdefghij')),
      spelling: fc.constantFrom('colon-space' as const, 'colon' as const, 'bare' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('comment' as const), text: text }) },
);

function lineText(item: Line): string {
  if (item.kind === 'comment') return `:${item.text}`;
  if (item.spelling === 'bare') return item.name;
  // Written "name: value" the leading space is dropped; "name:value" keeps a value's own leading space.
  return item.spelling === 'colon-space' ? `${item.name}: ${item.value}` : `${item.name}:${item.value}`;
}

/** A whole stream: its blocks, the line end after each line, a BOM or not, and where the bytes are cut. */
const stream = fc
  .record({
    blocks: fc.array(fc.array(line, { maxLength: 6 }), { minLength: 1, maxLength: 8 }),
    lastBlockEnded: fc.boolean(),
    bom: fc.boolean(),
    endings: fc.array(fc.constantFrom('\n', '\r', '\r\n'), { minLength: 64, maxLength: 64 }),
    cuts: fc.array(fc.nat(), { maxLength: 40 }),
  })
  .map(({ blocks, lastBlockEnded, bom, endings, cuts }) => {
    // "colon" with a value starting with a space would lose it, as "colon-space" would: the model says which.
    const fixed = blocks.map((block) =>
      block.map((item): Line => (item.kind === 'field' && item.spelling === 'colon' && item.value.startsWith(' ') ? { ...item, value: item.value.slice(1), spelling: 'colon-space' } : item)),
    );
    let body = bom ? '\uFEFF' : '';
    let ending = 0;
    let previous = '';
    const end = (isBlank: boolean) => {
      let chosen = endings[ending++ % endings.length]!;
      // After a CR, a blank line ended by LF alone would read as one CRLF: give it CRLF.
      if (isBlank && previous === '\r' && chosen === '\n') chosen = '\r\n';
      previous = chosen;
      body += chosen;
    };
    fixed.forEach((block, index) => {
      for (const item of block) {
        const written = lineText(item);
        // A field line that reads as empty would be a blank line: the model has no such line.
        body += written;
        end(written === '');
      }
      if (index < fixed.length - 1 || lastBlockEnded) end(true);
    });
    const bytes = new TextEncoder().encode(body);
    const positions = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
    const chunks: Uint8Array[] = [];
    let from = 0;
    for (const position of [...positions, bytes.length]) {
      chunks.push(bytes.subarray(from, position));
      from = position;
    }
    return { blocks: fixed, lastBlockEnded, body, chunks };
  });

describe('EventStreamParser', () => {
  it('reads any stream the same however its bytes are cut into chunks (property)', () => {
    fc.assert(
      fc.property(stream, ({ blocks, lastBlockEnded, chunks }) => {
        expect(parseWithId(chunks)).toEqual(expected(blocks, lastBlockEnded));
      }),
      { numRuns: 1500 },
    );
  });

  it('gives the same events for the whole text at once, byte by byte, and as text chunks (property)', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), ({ body }, cuts) => {
        const bytes = new TextEncoder().encode(body);
        const whole = parse([bytes]);
        expect(parse([...bytes].map((byte) => Uint8Array.of(byte)))).toEqual(whole);
        // Text chunks too (a caller that decodes itself), cut anywhere but inside a surrogate pair.
        const positions = [...new Set(cuts.map((cut) => cut % (body.length + 1)))]
          .filter((position) => !/[\uD800-\uDBFF]/.test(body.charAt(position - 1)))
          .sort((a, b) => a - b);
        const pieces = [...positions, body.length].map((position, index) => body.slice(index === 0 ? 0 : positions[index - 1], position));
        expect(parse(pieces)).toEqual(whole);
      }),
      { numRuns: 500 },
    );
  });

  it('reads the standard\'s examples', () => {
    expect(events(['data: YHOO\ndata: +2\ndata: 10\n\n'])).toEqual([{ event: 'message', data: 'YHOO\n+2\n10', id: '' }]);
    // "The following stream contains four blocks": a comment, two events, and a block without data.
    expect(events([': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n'])).toEqual([
      { event: 'message', data: 'first event', id: '1' },
      // A bare `id` line resets the last event ID.
      { event: 'message', data: 'second event', id: '' },
    ]);
    // Two events, the first with an empty data string, the second with one LF; the third line has no blank line after it.
    expect(events(['data\n\ndata\ndata\n\ndata:'])).toEqual([
      { event: 'message', data: '', id: '' },
      { event: 'message', data: '\n', id: '' },
    ]);
    // The same event, written with and without the space after the colon.
    expect(events(['data:test\n\ndata: test\n\n'])).toEqual([
      { event: 'message', data: 'test', id: '' },
      { event: 'message', data: 'test', id: '' },
    ]);
  });

  it('keeps the id for the events after it, ignores one with NUL, and dispatches nothing for a block without data', () => {
    const items = parse(['id: evt_1\nevent: task.running\ndata: {"a":1}\n\nid: evt_2\n\n', 'data: x\n\nid: bad\u0000id\ndata: y\n\n', 'id:\ndata: z\n\n']);
    expect(items).toEqual([
      { event: { event: 'task.running', data: '{"a":1}', id: 'evt_1' } },
      // The block with only an id dispatched nothing, but its id is the one in force.
      { event: { event: 'message', data: 'x', id: 'evt_2' } },
      { event: { event: 'message', data: 'y', id: 'evt_2' } },
      { event: { event: 'message', data: 'z', id: '' } },
    ]);
    // A block with only an id marks the position to resume from; an id whose block has not ended does not yet.
    const parser = new EventStreamParser({ onEvent: () => undefined });
    parser.push('id: evt_9\n\n');
    expect(parser.lastEventId).toBe('evt_9');
    parser.push('id: evt_10\n');
    expect(parser.lastEventId).toBe('evt_9');
    parser.end();
    expect(parser.lastEventId).toBe('evt_9');
    // A later connection's parser starts from the earlier one's id, kept for events that carry none.
    const resumed: ServerSentEvent[] = [];
    const next = new EventStreamParser({ onEvent: (event) => resumed.push(event) }, 'evt_9');
    next.push('data: no id\n\n');
    expect(resumed).toEqual([{ event: 'message', data: 'no id', id: 'evt_9' }]);
  });

  it('reports retry only for digits, and comments such as heartbeats', () => {
    expect(parse(['retry: 1500\nretry: 1.5\nretry: -1\nretry: 10x\nretry\n: heartbeat\n:\n\n'])).toEqual([
      { retry: 1500 },
      { comment: ' heartbeat' },
      { comment: '' },
    ]);
  });

  it('takes CRLF split across chunks as one line end, and CR alone as a line end', () => {
    expect(events(['data: a\r', '\n\r', '\ndata: b\r\r'])).toEqual([
      { event: 'message', data: 'a', id: '' },
      { event: 'message', data: 'b', id: '' },
    ]);
    expect(events(['data: a\r', '', '\n', '\r\n'])).toEqual([{ event: 'message', data: 'a', id: '' }]);
  });

  it('drops one leading byte order mark, even split across chunks, and only at the start', () => {
    const bom = new TextEncoder().encode('\uFEFFdata: a\n\n\uFEFFdata: b\n\n');
    expect(events([bom.subarray(0, 1), bom.subarray(1, 2), bom.subarray(2)])).toEqual([{ event: 'message', data: 'a', id: '' }]);
    // A second BOM is part of a field name ("\uFEFFdata"), which is unknown: ignored.
    expect(events(['\uFEFF\uFEFFdata: a\n\n'])).toEqual([]);
  });

  it('joins a character split across chunks', () => {
    const bytes = new TextEncoder().encode('data: 😀é\n\n');
    expect(events([...bytes].map((byte) => Uint8Array.of(byte)))).toEqual([{ event: 'message', data: '😀é', id: '' }]);
  });
});
