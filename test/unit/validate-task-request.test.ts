import { describe, expect, it } from 'vitest';
import { MODELS } from '../../src/catalog/models.js';
import { codePointLength, validateTaskRequest } from '../../src/catalog/validate-task-request.js';

function issuesOf(body: unknown) {
  const result = validateTaskRequest(body);
  if (result.ok) throw new Error('expected validation to fail');
  return result.issues;
}

describe('validateTaskRequest', () => {
  it.each(MODELS.flatMap((model) => [[`${model.id} minimal`, model.examples.minimal], [`${model.id} reference`, model.examples.reference]]))(
    'accepts the seed example: %s',
    (_name, example) => {
      const result = validateTaskRequest(example);
      expect(result.ok).toBe(true);
    },
  );

  it('fills defaults and normalizes numbers and booleans to option strings', () => {
    const result = validateTaskRequest({ model: 'sora-2', prompt: 'x', params: { n_frames: 15, remove_watermark: true } });
    expect(result.ok && result.request.params).toEqual({
      n_frames: '15', aspect_ratio: 'landscape', remove_watermark: 'true', upload_method: 's3',
    });
  });

  it('gives sora-2-pro no size by default, and accepts size when given', () => {
    const plain = validateTaskRequest({ model: 'sora-2-pro', prompt: 'x' });
    expect(plain.ok && plain.request.params['size']).toBeUndefined();
    const high = validateTaskRequest({ model: 'sora-2-pro', prompt: 'x', params: { size: 'high' } });
    expect(high.ok && high.request.params['size']).toBe('high');
  });

  it('treats size on sora-2 as an unknown key', () => {
    expect(issuesOf({ model: 'sora-2', prompt: 'x', params: { size: 'high' } })).toEqual([
      expect.objectContaining({ path: 'params.size', message: expect.stringContaining('Unknown parameter') }),
    ]);
  });

  it('reports every problem at once', () => {
    const issues = issuesOf({
      model: 'sora-2', prompt: '   ', extra: 1, client_request_id: 5,
      params: { n_frames: 12, aspect_ratio: 'square', remove_watermark: 'yes', upload_method: 3, colour: 'red' },
    });
    expect(issues.map((issue) => issue.path).sort()).toEqual([
      'client_request_id', 'extra', 'params.aspect_ratio', 'params.colour', 'params.n_frames',
      'params.remove_watermark', 'params.upload_method', 'prompt',
    ]);
  });

  it('refuses bodies that are not objects, and missing or unknown models', () => {
    expect(issuesOf([])[0]?.path).toBe('');
    expect(issuesOf('text')[0]?.path).toBe('');
    expect(issuesOf({ prompt: 'x' })).toEqual([expect.objectContaining({ path: 'model' })]);
    expect(issuesOf({ model: 'sora-3', prompt: 'x' })[0]?.message).toContain('sora-2, sora-2-pro');
    expect(issuesOf({ model: 7, prompt: 'x' })[0]?.path).toBe('model');
  });

  it('counts the prompt in Unicode code points, not UTF-16 units', () => {
    const emoji = '🎬'.repeat(10000);
    expect(emoji.length).toBe(20000);
    expect(codePointLength(emoji)).toBe(10000);
    expect(validateTaskRequest({ model: 'sora-2', prompt: emoji }).ok).toBe(true);
    expect(issuesOf({ model: 'sora-2', prompt: `${emoji}x` })[0]).toMatchObject({ path: 'prompt', message: expect.stringContaining('10001') });
  });

  it('refuses empty, blank and non-string prompts', () => {
    for (const prompt of ['', ' \n\t ', 5, null]) {
      expect(issuesOf({ model: 'sora-2', prompt })[0]?.path).toBe('prompt');
    }
  });

  it('limits client_request_id to 128 characters and echoes it', () => {
    expect(issuesOf({ model: 'sora-2', prompt: 'x', client_request_id: 'a'.repeat(129) })[0]?.path).toBe('client_request_id');
    const ok = validateTaskRequest({ model: 'sora-2', prompt: 'x', client_request_id: 'a'.repeat(128) });
    expect(ok.ok && ok.request.clientRequestId).toBe('a'.repeat(128));
  });

  it('takes webhook_url (1–2048 characters) and webhook_events ["all"] beside it; terminal events only by default', () => {
    const plain = validateTaskRequest({ model: 'sora-2', prompt: 'x' });
    expect(plain.ok && [plain.request.webhookUrl, plain.request.webhookEvents]).toEqual([null, 'terminal']);
    const all = validateTaskRequest({ model: 'sora-2', prompt: 'x', webhook_url: 'https://example.com/h', webhook_events: ['all'] });
    expect(all.ok && [all.request.webhookUrl, all.request.webhookEvents]).toEqual(['https://example.com/h', 'all']);
    const terminal = validateTaskRequest({ model: 'sora-2', prompt: 'x', webhook_url: 'https://example.com/h', webhook_events: null });
    expect(terminal.ok && terminal.request.webhookEvents).toBe('terminal');
    const longest = `https://example.com/${'a'.repeat(2048 - 20)}`;
    expect(validateTaskRequest({ model: 'sora-2', prompt: 'x', webhook_url: longest }).ok).toBe(true);
    expect(issuesOf({ model: 'sora-2', prompt: 'x', webhook_url: `${longest}a` })).toEqual([
      { path: 'webhook_url', message: 'Must be a URL of 1 to 2048 characters, got 2049.' },
    ]);
    expect(issuesOf({ model: 'sora-2', prompt: 'x', webhook_url: ['https://example.com'] })[0]?.path).toBe('webhook_url');
    for (const events of [['all', 'all'], [], 'all', ['task.succeeded']]) {
      expect(issuesOf({ model: 'sora-2', prompt: 'x', webhook_url: 'https://example.com/h', webhook_events: events })).toEqual([
        { path: 'webhook_events', message: expect.stringContaining('Must be ["all"]') },
      ]);
    }
    expect(issuesOf({ model: 'sora-2', prompt: 'x', webhook_events: ['all'] })).toEqual([
      { path: 'webhook_events', message: 'Only with webhook_url: it says which events go there.' },
    ]);
  });

  it('checks reference items against the upload policy', () => {
    const item = { url: 'https://x.test/a.png', kind: 'image', name: 'a.png', mimeType: 'image/png' };
    expect(issuesOf({ model: 'sora-2', prompt: 'x', params: { referenceMediaItems: [item, item] } })[0]?.message).toContain('At most 1');
    const paths = issuesOf({
      model: 'sora-2', prompt: 'x',
      params: { referenceMediaItems: [{ url: 'ftp://x', kind: 'video', name: '', mimeType: 'video/mp4', extra: true }] },
    }).map((issue) => issue.path);
    expect(paths.sort()).toEqual([
      'params.referenceMediaItems[0].extra', 'params.referenceMediaItems[0].kind',
      'params.referenceMediaItems[0].name', 'params.referenceMediaItems[0].url',
    ]);
    expect(issuesOf({ model: 'sora-2', prompt: 'x', params: { referenceMediaItems: [{ ...item, mimeType: 'image/gif' }] } })[0]?.path)
      .toBe('params.referenceMediaItems[0].mimeType');
    expect(issuesOf({ model: 'sora-2', prompt: 'x', params: { referenceMediaItems: 'a' } })[0]?.path).toBe('params.referenceMediaItems');
  });

  it('says "Required" for each missing field of a reference item, never "undefined"', () => {
    const bare = issuesOf({ model: 'sora-2', prompt: 'x', params: { referenceMediaItems: [{ url: 'https://x.test/a.png', name: 'a.png' }] } });
    expect(bare).toEqual([
      { path: 'params.referenceMediaItems[0].kind', message: 'Required: one of "image" for sora-2.' },
      { path: 'params.referenceMediaItems[0].mimeType', message: 'Required: one of image/jpeg, image/png, image/webp.' },
    ]);
    const noType = issuesOf({
      model: 'sora-2-pro', prompt: 'x', params: { referenceMediaItems: [{ url: 'https://x.test/a.png', kind: 'image', name: 'a.png' }] },
    });
    expect(noType).toEqual([
      { path: 'params.referenceMediaItems[0].mimeType', message: 'Required: one of image/jpeg, image/png, image/webp for kind image.' },
    ]);
    const empty = issuesOf({ model: 'sora-2', prompt: 'x', params: { referenceMediaItems: [{}] } });
    expect(empty.map((issue) => issue.path)).toEqual(['url', 'kind', 'mimeType', 'name'].map((field) => `params.referenceMediaItems[0].${field}`));
    for (const issue of empty) expect(issue.message).toMatch(/^Required/);
    expect(JSON.stringify([bare, noType, empty])).not.toContain('undefined');
  });

  it('takes a reference item as {file_id} alone; other fields beside it are optional but still checked', () => {
    const withItems = (...items: unknown[]) => ({ model: 'sora-2', prompt: 'x', params: { referenceMediaItems: items } });
    const ok = validateTaskRequest(withItems({ file_id: 'file_abc123' }));
    expect(ok.ok && ok.request.referenceMediaItems).toEqual([{ fileId: 'file_abc123' }]);
    const full = validateTaskRequest(withItems({ file_id: 'file_abc', url: 'https://x.test/a.png', kind: 'image', name: 'a.png', mimeType: 'image/png' }));
    expect(full.ok && full.request.referenceMediaItems).toEqual([
      { fileId: 'file_abc', url: 'https://x.test/a.png', kind: 'image', name: 'a.png', mimeType: 'image/png' },
    ]);
    for (const bad of ['', 'abc', 'task_abc', 'file_a b', 7, null, `file_${'a'.repeat(65)}`]) {
      expect(issuesOf(withItems({ file_id: bad }))).toEqual([{ path: 'params.referenceMediaItems[0].file_id', message: expect.stringContaining('file_') }]);
    }
    expect(issuesOf(withItems({ file_id: 'file_a', kind: 'video', mimeType: 'image/gif', name: '', url: 'ftp://x' })).map((issue) => issue.path)).toEqual(
      ['url', 'kind', 'mimeType', 'name'].map((field) => `params.referenceMediaItems[0].${field}`),
    );
  });

  it('names params.<key> for a model parameter sent at the top level (keys from the catalog)', () => {
    expect(issuesOf({ model: 'sora-2', prompt: 'x', n_frames: '15' })).toEqual([
      { path: 'n_frames', message: 'Unknown field; did you mean params.n_frames? Model parameters go inside params.' },
    ]);
    const pro = issuesOf({ model: 'sora-2-pro', prompt: 'x', size: 'high', referenceMediaItems: [] });
    expect(pro.map((issue) => issue.message)).toEqual([
      expect.stringContaining('did you mean params.size?'), expect.stringContaining('did you mean params.referenceMediaItems?'),
    ]);
    // size exists for sora-2-pro only: sora-2 is told so rather than sent to a param it does not have.
    expect(issuesOf({ model: 'sora-2', prompt: 'x', size: 'high' })[0]?.message).toBe(
      'Unknown field; size is a parameter of sora-2-pro only (inside params).',
    );
    // Without a known model, any model's parameter is suggested; other keys stay plain.
    expect(issuesOf({ prompt: 'x', aspect_ratio: 'portrait' }).find((issue) => issue.path === 'aspect_ratio')?.message)
      .toContain('did you mean params.aspect_ratio?');
    expect(issuesOf({ model: 'sora-2', prompt: 'x', colour: 'red' })).toEqual([{ path: 'colour', message: 'Unknown field.' }]);
  });
});
