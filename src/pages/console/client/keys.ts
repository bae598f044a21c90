import { $, api, el, showError, when, type Page, type Root } from './api.js';

interface Key { id: string; prefix: string; name: string | null; created_at: string; last_used_at: string | null }

/** API keys: list, create (the secret shown once, with a copy button), revoke (its own key only after a confirmation). */
export function startKeys(root: Root): void {
  const { t } = root;
  const rows = $('key-rows');
  const formError = $('form-error');
  const load = async () => {
    const page = await api<Page<Key>>('GET', '/api/v1/keys?limit=100');
    rows.replaceChildren(...page.data.map((key) => {
      const own = key.id === root.keyId;
      const revoke = el('button', { type: 'button', 'data-revoke': key.id, 'aria-label': `${t['console_revoke'] ?? ''} ${key.prefix}` }, t['console_revoke'] ?? '');
      revoke.addEventListener('click', () => {
        if (own && !window.confirm(t['console_revoke_own'] ?? '')) return;
        void api('DELETE', `/api/v1/keys/${encodeURIComponent(key.id)}`).then(() => {
          if (own) window.location.assign(`${root.base}/sign-in`);
          else return load();
        }, (error: unknown) => showError(formError, error));
      });
      return el('tr', { 'data-key': key.id },
        el('td', {}, el('code', {}, key.prefix), own ? ` (${t['console_this_session'] ?? ''})` : ''), el('td', {}, key.name ?? ''),
        el('td', {}, when(key.created_at, root.lang)), el('td', {}, when(key.last_used_at, root.lang, t['console_never'])), el('td', {}, revoke));
    }));
  };
  $<HTMLFormElement>('key-create').addEventListener('submit', (event) => {
    event.preventDefault();
    formError.hidden = true;
    const name = $<HTMLInputElement>('key-name').value.trim();
    void api<{ key: string }>('POST', '/api/v1/keys', name ? { name } : {}).then((created) => {
      $('key-secret').textContent = created.key;
      $('key-created').hidden = false;
      $<HTMLInputElement>('key-name').value = '';
      return load();
    }, (error: unknown) => showError(formError, error));
  });
  void load().catch((error: unknown) => showError(formError, error));
}
