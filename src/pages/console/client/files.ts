import { $, api, el, pager, when, type Page, type Root } from './api.js';

interface StoredFile { id: string; url: string; kind: string; name: string; mimeType: string; sizeBytes: number; created_at: string; expires_at: string }

/** Files: uploads with previews, expiry, delete. */
export function startFiles(root: Root): void {
  const { t } = root;
  const rows = $('file-rows');
  const load = pager<StoredFile>((cursor) => api<Page<StoredFile>>('GET', `/api/v1/files?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`), (files, reset) => {
    if (reset) rows.replaceChildren();
    rows.append(...files.map((file) => {
      const preview = file.kind === 'image' ? el('img', { src: file.url, alt: file.name, class: 'thumb', loading: 'lazy' }) : el('span', {}, file.kind);
      const remove = el('button', { type: 'button', 'aria-label': `${t['console_delete'] ?? ''} ${file.name}` }, t['console_delete'] ?? '');
      remove.addEventListener('click', () => {
        if (!window.confirm(t['console_delete_confirm'] ?? '')) return;
        void api('DELETE', `/api/v1/files/${encodeURIComponent(file.id)}`).then(() => load(true));
      });
      return el('tr', { 'data-file': file.id }, el('td', {}, preview), el('td', {}, file.name), el('td', {}, `${Math.ceil(file.sizeBytes / 1024)} KB`),
        el('td', {}, when(file.created_at, root.lang)), el('td', {}, when(file.expires_at, root.lang)), el('td', {}, remove));
    }));
    if (rows.children.length === 0) rows.append(el('tr', {}, el('td', { colspan: '6' }, t['console_none'] ?? '')));
  });
  void load(true);
}
