import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { FILE_KINDS } from '../../src/files/media-types.js';
import { BACKENDS } from '../helpers/backends.js';
import { ffmpegPath, makeMedia } from '../helpers/media.js';
import { useGatedService } from '../helpers/test-service.js';
import { alterSignature } from '../helpers/wait-for.js';

/** A multipart body with one part. */
function multipart(field: string, filename: string, type: string | null, bytes: Buffer) {
  const boundary = `----rivya${Math.random().toString(16).slice(2)}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`;
  return {
    payload: Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

const samples: Record<string, Buffer> = {};
beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rivya-files-'));
  samples['png'] = await readFile(await makeMedia(join(dir, 'a.png'), 'image'));
  samples['jpg'] = await readFile(await makeMedia(join(dir, 'a.jpg'), 'image'));
  samples['mp4'] = await readFile(await makeMedia(join(dir, 'a.mp4'), 'video', 2));
  samples['wav'] = await readFile(await makeMedia(join(dir, 'a.wav'), 'audio', 3));
  // A flat 64x64 image compresses to a few hundred bytes: less than the head the type is sniffed from.
  await promisify(execFile)(ffmpegPath, ['-v', 'error', '-f', 'lavfi', '-i', 'color=c=red:s=64x64', '-frames:v', '1', join(dir, 'tiny.png')]);
  samples['tiny'] = await readFile(join(dir, 'tiny.png'));
  await writeFile(join(dir, 'x'), '');
});

describe.each(BACKENDS)('Files API on $name', (backend) => {
  const ctx = useGatedService(backend);
  const upload = (auth: Record<string, string>, filename: string, type: string | null, bytes: Buffer, field = 'file') => {
    const body = multipart(field, filename, type, bytes);
    return ctx.app.inject({ method: 'POST', url: '/api/v1/files', headers: { ...auth, ...body.headers }, payload: body.payload });
  };
  const uploadsOnDisk = async () => {
    const root = join(ctx.service.runtime.config.dataDir, 'objects', 's3', 'uploads');
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        if (entry.isDirectory()) await walk(join(dir, entry.name));
        else found.push(join(dir, entry.name));
      }
    };
    await walk(root);
    return found;
  };

  it('stores an image smaller than the bytes its type is judged from', async () => {
    const { auth } = await ctx.service.newAccount(100);
    expect(samples['tiny']!.length).toBeLessThan(4100);
    const response = await upload(auth, 'tiny.png', null, samples['tiny']!);
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toMatchObject({ kind: 'image', mimeType: 'image/png', sizeBytes: samples['tiny']!.length, width: 64, height: 64 });
  });

  it('stores an image: 201, sniffed type, measured dimensions, a signed URL that serves it', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const response = await upload(auth, 'photo.png', 'image/png', samples['png']!);
    expect(response.statusCode).toBe(201);
    const file = response.json();
    expect(file).toMatchObject({ kind: 'image', name: 'photo.png', mimeType: 'image/png', sizeBytes: samples['png']!.length, width: 640, height: 360 });
    expect(file.id).toMatch(/^file_/);
    expect(file.durationToken).toBeUndefined();
    expect(Date.parse(file.expires_at) - Date.parse(file.created_at)).toBe(7 * 86_400_000);
    const url = new URL(file.url);
    const served = await ctx.app.inject({ url: url.pathname + url.search });
    expect(served.statusCode).toBe(200);
    expect(served.rawPayload.equals(samples['png']!)).toBe(true);
    expect((await ctx.app.inject({ url: url.pathname + alterSignature(url.search) })).statusCode).toBe(404);
    expect((await ctx.app.inject({ url: `${url.pathname}/../../../../secret${url.search}` })).statusCode).toBe(404);
    expect((await ctx.app.inject({ url: `/api/v1/files/${file.id}`, headers: auth })).json()).toMatchObject({ id: file.id, width: 640 });
  });

  it('sniffs the type however the bytes arrive (the first few alone)', async () => {
    const { accountId } = await ctx.service.newAccount(100);
    const account = (await ctx.service.runtime.accounts.getAccount(accountId))!;
    const png = samples['png']!;
    const stream = Readable.from((async function* () {
      yield png.subarray(0, 6);
      await new Promise((resolve) => setTimeout(resolve, 20));
      yield png.subarray(6, 100);
      yield png.subarray(100);
    })());
    const view = await ctx.service.runtime.fileService.upload(account, { stream, filename: 'split.png', declaredType: 'image/png' });
    expect(view).toMatchObject({ mimeType: 'image/png', sizeBytes: png.length, width: 640 });
  });

  it('accepts an undeclared type, judging by the bytes', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const response = await upload(auth, 'photo.bin', 'application/octet-stream', samples['jpg']!);
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ mimeType: 'image/jpeg', kind: 'image' });
  });

  it('refuses a PNG named .jpg and declared image/jpeg, and text declared image/png', async () => {
    const { auth, accountId } = await ctx.service.newAccount(100);
    const renamed = await upload(auth, 'photo.jpg', 'image/jpeg', samples['png']!);
    expect(renamed.statusCode).toBe(400);
    expect(renamed.json().error).toMatchObject({ code: 'validation_failed', details: [{ path: 'file', message: expect.stringContaining('image/png') }] });
    const text = await upload(auth, 'photo.png', 'image/png', Buffer.from('hello, I am text, not an image\n'.repeat(20)));
    expect(text.statusCode).toBe(400);
    expect(text.json().error.details[0].message).toContain('Unsupported');
    expect((await ctx.app.inject({ url: '/api/v1/files', headers: auth })).json().data).toEqual([]);
    expect((await uploadsOnDisk()).filter((path) => path.includes(accountId))).toEqual([]);
  });

  it('refuses a body with more than the one part "file", keeping nothing', async () => {
    const { auth, accountId } = await ctx.service.newAccount(100);
    const boundary = '----rivyaTwoParts';
    const partOf = (name: string, filename: string | null, bytes: Buffer) => Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n${filename ? 'Content-Type: image/png\r\n' : ''}\r\n`),
      bytes, Buffer.from('\r\n'),
    ]);
    const send = (...partsOf: Buffer[]) => ctx.app.inject({
      method: 'POST', url: '/api/v1/files', headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: Buffer.concat([...partsOf, Buffer.from(`--${boundary}--\r\n`)]),
    });
    const twoFiles = await send(partOf('file', 'a.png', samples['png']!), partOf('file', 'b.png', samples['tiny']!));
    expect(twoFiles.statusCode, twoFiles.body).toBe(400);
    expect(twoFiles.json().error.details[0].message).toMatch(/one part only/);
    const fileThenField = await send(partOf('file', 'a.png', samples['png']!), partOf('purpose', null, Buffer.from('reference')));
    expect(fileThenField.statusCode).toBe(400);
    const fieldThenFile = await send(partOf('purpose', null, Buffer.from('reference')), partOf('file', 'a.png', samples['png']!));
    expect(fieldThenFile.statusCode).toBe(400);
    expect(fieldThenFile.json().error.details[0].path).toBe('purpose');
    expect((await ctx.app.inject({ url: '/api/v1/files', headers: auth })).json().data).toEqual([]);
    expect((await uploadsOnDisk()).filter((path) => path.includes(accountId))).toEqual([]);
    expect((await send(partOf('file', 'a.png', samples['png']!))).statusCode).toBe(201);
  });

  it('replays an upload repeated with its Idempotency-Key, and refuses another file under the same key', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const keyed = (key: string, filename: string, bytes: Buffer) => {
      const body = multipart('file', filename, 'image/png', bytes);
      return ctx.app.inject({
        method: 'POST', url: '/api/v1/files', headers: { ...auth, ...body.headers, 'idempotency-key': key }, payload: body.payload,
      });
    };
    const first = await keyed('upload-1', 'a.png', samples['png']!);
    expect(first.statusCode).toBe(201);
    const again = await keyed('upload-1', 'a.png', samples['png']!);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().id).toBe(first.json().id);
    // Other bytes, or the same bytes under another name, are another request.
    const otherFile = await keyed('upload-1', 'a.png', samples['tiny']!);
    expect(otherFile.statusCode).toBe(409);
    expect(otherFile.json().error.code).toBe('idempotency_conflict');
    expect((await keyed('upload-1', 'b.png', samples['png']!)).statusCode).toBe(409);
    // A task create cannot reuse an upload's key either.
    const create = await ctx.app.inject({
      method: 'POST', url: '/api/v1/tasks', headers: { ...auth, 'idempotency-key': 'upload-1' }, payload: { model: 'sora-2', prompt: 'x' },
    });
    expect(create.statusCode).toBe(409);
    expect((await ctx.app.inject({ url: '/api/v1/files', headers: auth })).json().data).toHaveLength(1);
  });

  it('cuts off an 11 MB image with 413 and leaves nothing behind', async () => {
    const { auth, accountId } = await ctx.service.newAccount(100);
    const big = Buffer.concat([samples['png']!, Buffer.alloc(11_000_000, 1)]);
    const response = await upload(auth, 'big.png', 'image/png', big);
    expect(response.statusCode).toBe(413);
    expect(response.json().error).toMatchObject({ code: 'payload_too_large', details: { kind: 'image', max_bytes: 10_000_000 } });
    // The rest of the body is read and dropped (a client still sending can read the answer): the connection stays.
    expect(response.headers['connection']).not.toBe('close');
    expect((await uploadsOnDisk()).filter((path) => path.includes(accountId))).toEqual([]);
    const { rows } = await ctx.service.runtime.db.query('SELECT 1 FROM files WHERE account_id = $1', [accountId]);
    expect(rows).toEqual([]);
    const dirs = await readdir(join(ctx.service.runtime.config.dataDir, 'objects', 's3', 'uploads')).catch(() => []);
    expect(dirs).not.toContain(accountId);
  });

  it('measures video and audio durations and issues duration tokens', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const video = (await upload(auth, 'clip.mp4', 'video/mp4', samples['mp4']!)).json();
    expect(video).toMatchObject({ kind: 'video', mimeType: 'video/mp4', width: 320, height: 240, durationSeconds: 2 });
    expect(video.durationToken).toMatch(/^v1\./);
    const audioResponse = await upload(auth, 'tone.wav', null, samples['wav']!);
    const audio = audioResponse.json();
    expect(audio).toMatchObject({ kind: 'audio', mimeType: 'audio/wav', durationSeconds: 3 });
    expect(audio.width).toBeUndefined();
  });

  it('lists with cursors, deletes, and refuses malformed uploads', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await upload(auth, `p${i}.png`, 'image/png', samples['png']!)).json().id);
    const first = (await ctx.app.inject({ url: '/api/v1/files?limit=2', headers: auth })).json();
    expect(first.data.map((f: { id: string }) => f.id)).toEqual([ids[2], ids[1]]);
    const rest = (await ctx.app.inject({ url: `/api/v1/files?limit=2&cursor=${first.next_cursor}`, headers: auth })).json();
    expect(rest.data.map((f: { id: string }) => f.id)).toEqual([ids[0]]);
    const url = new URL((await ctx.app.inject({ url: `/api/v1/files/${ids[0]}`, headers: auth })).json().url);
    expect((await ctx.app.inject({ method: 'DELETE', url: `/api/v1/files/${ids[0]}`, headers: auth })).json()).toEqual({ id: ids[0], deleted: true });
    expect((await ctx.app.inject({ url: `/api/v1/files/${ids[0]}`, headers: auth })).statusCode).toBe(404);
    expect((await ctx.app.inject({ url: url.pathname + url.search })).statusCode).toBe(404);
    expect((await ctx.app.inject({ method: 'DELETE', url: `/api/v1/files/${ids[0]}`, headers: auth })).statusCode).toBe(404);
    const other = await ctx.service.newAccount(10);
    expect((await ctx.app.inject({ url: `/api/v1/files/${ids[1]}`, headers: other.auth })).statusCode).toBe(404);
    expect((await upload(auth, 'p.png', 'image/png', samples['png']!, 'image')).json().error.details[0].path).toBe('image');
    const json = await ctx.app.inject({ method: 'POST', url: '/api/v1/files', headers: auth, payload: { file: 'x' } });
    expect(json.statusCode).toBe(400);
  });

  it('deletes expired files, bytes and rows, when the sweeper passes', async () => {
    const { auth } = await ctx.service.newAccount(100);
    const file = (await upload(auth, 'old.png', 'image/png', samples['png']!)).json();
    await ctx.service.runtime.db.query(`UPDATE files SET expires_at = now() - interval '1 second' WHERE id = $1`, [file.id]);
    expect((await ctx.app.inject({ url: `/api/v1/files/${file.id}`, headers: auth })).statusCode).toBe(404);
    await ctx.service.runtime.sweeper.sweepOnce();
    const { rows } = await ctx.service.runtime.db.query('SELECT 1 FROM files WHERE id = $1', [file.id]);
    expect(rows).toEqual([]);
    expect((await uploadsOnDisk()).some((path) => path.includes(file.id))).toBe(false);
  });

  describe('reference modes', () => {
    const item = (file: { url: string; kind: string; name: string; mimeType: string }) => ({ url: file.url, kind: file.kind, name: file.name, mimeType: file.mimeType });

    it('accepts the caller\'s live image and refuses anything else', async () => {
      const owner = await ctx.service.newAccount(100);
      const other = await ctx.service.newAccount(100);
      const image = (await upload(owner.auth, 'ref.png', 'image/png', samples['png']!)).json();
      const theirs = (await upload(other.auth, 'ref.png', 'image/png', samples['png']!)).json();
      const create = (auth: Record<string, string>, items: unknown[]) =>
        ctx.create(auth, { model: 'sora-2', prompt: 'animate', params: { referenceMediaItems: items } });

      const ok = await create(owner.auth, [item(image)]);
      expect(ok.statusCode).toBe(201);
      expect(ok.json().params.referenceMediaItems).toEqual([{ file_id: image.id, kind: 'image', name: 'ref.png', mimeType: 'image/png' }]);
      ctx.gated.release(ok.json().id);

      const foreign = await create(owner.auth, [item(theirs)]);
      expect(foreign.json().error.details).toEqual([{ path: 'params.referenceMediaItems[0].url', message: expect.any(String) }]);
      const elsewhere = await create(owner.auth, [{ ...item(image), url: 'https://cdn.example.com/reference-image.png' }]);
      expect(elsewhere.json().error.details[0].path).toBe('params.referenceMediaItems[0].url');
      const wrongType = await create(owner.auth, [{ ...item(image), mimeType: 'image/jpeg' }]);
      expect(wrongType.json().error.details[0].path).toBe('params.referenceMediaItems[0].mimeType');
      const two = await create(owner.auth, [item(image), item(image)]);
      expect(two.json().error.details[0].message).toContain('At most 1');
      await ctx.app.inject({ method: 'DELETE', url: `/api/v1/files/${image.id}`, headers: owner.auth });
      const deleted = await create(owner.auth, [item(image)]);
      expect(deleted.statusCode).toBe(400);
    });

    it('takes a file by its file_id alone, filling url, kind, name and type from the file; refuses any other file', async () => {
      const owner = await ctx.service.newAccount(100);
      const other = await ctx.service.newAccount(100);
      const image = (await upload(owner.auth, 'ref.png', 'image/png', samples['png']!)).json();
      const second = (await upload(owner.auth, 'second.png', 'image/png', samples['png']!)).json();
      const video = (await upload(owner.auth, 'clip.mp4', 'video/mp4', samples['mp4']!)).json();
      const theirs = (await upload(other.auth, 'theirs.png', 'image/png', samples['png']!)).json();
      const create = (items: unknown[], model = 'sora-2') =>
        ctx.create(owner.auth, { model, prompt: 'animate', params: { referenceMediaItems: items } });
      const refusedAt = async (items: unknown[]) => {
        const response = await create(items);
        expect(response.statusCode, response.body).toBe(400);
        expect(response.json().error.code).toBe('validation_failed');
        return response.json().error.details.map((detail: { path: string }) => detail.path);
      };

      const short = await create([{ file_id: image.id }]);
      expect(short.statusCode, short.body).toBe(201);
      expect(short.json().params.referenceMediaItems).toEqual([{ file_id: image.id, kind: 'image', name: 'ref.png', mimeType: 'image/png' }]);
      ctx.gated.release(short.json().id);
      // Fields given beside file_id must agree with the file; a name of the caller's own is kept.
      const agreeing = await create([{ file_id: image.id, url: image.url, kind: 'image', mimeType: 'image/png', name: 'my name.png' }], 'sora-2-pro');
      expect(agreeing.statusCode, agreeing.body).toBe(201);
      expect(agreeing.json().params.referenceMediaItems).toEqual([{ file_id: image.id, kind: 'image', name: 'my name.png', mimeType: 'image/png' }]);
      ctx.gated.release(agreeing.json().id);

      expect(await refusedAt([{ file_id: theirs.id }])).toEqual(['params.referenceMediaItems[0].file_id']);
      expect(await refusedAt([{ file_id: 'file_0000000000000000000000' }])).toEqual(['params.referenceMediaItems[0].file_id']);
      expect(await refusedAt([{ file_id: 'task_0000000000000000000000' }])).toEqual(['params.referenceMediaItems[0].file_id']);
      expect(await refusedAt([{ file_id: image.id, url: second.url }])).toEqual(['params.referenceMediaItems[0].url']);
      expect(await refusedAt([{ file_id: image.id, url: theirs.url }])).toEqual(['params.referenceMediaItems[0].url']);
      expect(await refusedAt([{ file_id: image.id, url: 'https://cdn.example.com/reference-image.png' }])).toEqual(['params.referenceMediaItems[0].url']);
      expect(await refusedAt([{ file_id: image.id, mimeType: 'image/jpeg' }])).toEqual(['params.referenceMediaItems[0].mimeType']);
      expect(await refusedAt([{ file_id: image.id, kind: 'video' }])).toEqual(['params.referenceMediaItems[0].kind']);
      // A file of a kind the model does not take (the Sora models take images).
      expect(await refusedAt([{ file_id: video.id }])).toEqual(['params.referenceMediaItems[0].file_id']);
      await ctx.app.inject({ method: 'DELETE', url: `/api/v1/files/${second.id}`, headers: owner.auth });
      expect(await refusedAt([{ file_id: second.id }])).toEqual(['params.referenceMediaItems[0].file_id']);
      // Only the two tasks made hold or took credits (6 + 75).
      expect((await ctx.app.inject({ url: '/api/v1/account', headers: owner.auth })).json().credits.available).toBe(100 - 6 - 75);
    });

    it('replays a create repeated with its Idempotency-Key after its reference file was deleted, holding credits once', async () => {
      const { auth } = await ctx.service.newAccount(100);
      const image = (await upload(auth, 'ref.png', 'image/png', samples['png']!)).json();
      const body = { model: 'sora-2', prompt: 'animate', params: { referenceMediaItems: [{ file_id: image.id }] } };
      const first = await ctx.create(auth, body, { 'idempotency-key': 'create-then-clean-up' });
      expect(first.statusCode, first.body).toBe(201);
      expect((await ctx.app.inject({ method: 'DELETE', url: `/api/v1/files/${image.id}`, headers: auth })).statusCode).toBe(200);
      // The retry of a create whose answer was lost is that create's answer, whatever became of its file since.
      const retry = await ctx.create(auth, body, { 'idempotency-key': 'create-then-clean-up' });
      expect(retry.statusCode, retry.body).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.json().id).toBe(first.json().id);
      ctx.gated.release(first.json().id);
      // A new request naming the deleted file is refused, and does not bind its key.
      const fresh = await ctx.create(auth, body, { 'idempotency-key': 'after-the-delete' });
      expect(fresh.statusCode).toBe(400);
      expect(fresh.json().error.details[0].path).toBe('params.referenceMediaItems[0].file_id');
      const other = await ctx.create(auth, { model: 'sora-2', prompt: 'no reference' }, { 'idempotency-key': 'after-the-delete' });
      expect(other.statusCode, other.body).toBe(201);
      ctx.gated.release(other.json().id);
      const ledger = (await ctx.app.inject({ url: '/api/v1/account/ledger', headers: auth })).json().data;
      expect(ledger.filter((entry: { type: string }) => entry.type === 'hold')).toHaveLength(2);
    });

    it('checks duration tokens: forged, swapped, foreign or for a deleted file are refused', async () => {
      const runtime = ctx.service.runtime;
      const owner = await ctx.service.newAccount(100);
      const other = await ctx.service.newAccount(100);
      const account = (await runtime.accounts.getAccount(owner.accountId))!;
      const otherAccount = (await runtime.accounts.getAccount(other.accountId))!;
      const video = (await upload(owner.auth, 'a.mp4', 'video/mp4', samples['mp4']!)).json();
      const audio = (await upload(owner.auth, 'a.wav', 'audio/wav', samples['wav']!)).json();
      const theirs = (await upload(other.auth, 'a.mp4', 'video/mp4', samples['mp4']!)).json();
      // A policy that takes video and audio, as a future model's would (the Sora models take images only).
      const policy = { description: '', max_files: 1, kinds: (['video', 'audio'] as const).map((kind) => ({ kind, max_bytes: 1e9, mime_types: FILE_KINDS[kind] })) };
      const resolve = (token: string | undefined, file = video, who = account) =>
        runtime.fileService.resolveReferences(who, [{ ...item(file), kind: file.kind as 'video', ...(token !== undefined ? { durationToken: token } : {}) }], policy);

      await expect(resolve(video.durationToken)).resolves.toEqual([expect.objectContaining({ fileId: video.id, kind: 'video' })]);
      const token: string = video.durationToken;
      const flipped = (index: number) => `${token.slice(0, index)}${token[index] === 'A' ? 'B' : 'A'}${token.slice(index + 1)}`;
      for (const forged of [flipped(5), flipped(token.length - 2), `${token}x`, token.replace('v1.', 'v2.'), '']) {
        await expect(resolve(forged)).rejects.toMatchObject({ code: 'validation_failed' });
      }
      await expect(resolve(audio.durationToken)).rejects.toMatchObject({ details: [{ path: 'params.referenceMediaItems[0].durationToken' }] });
      await expect(resolve(theirs.durationToken)).rejects.toMatchObject({ code: 'validation_failed' });
      await expect(resolve(theirs.durationToken, theirs, account)).rejects.toMatchObject({ details: [{ path: 'params.referenceMediaItems[0].url' }] });
      await expect(resolve(video.durationToken, video, otherAccount)).rejects.toMatchObject({ code: 'validation_failed' });
      await ctx.app.inject({ method: 'DELETE', url: `/api/v1/files/${video.id}`, headers: owner.auth });
      await expect(resolve(video.durationToken)).rejects.toMatchObject({ code: 'validation_failed' });
    });
  });
});
