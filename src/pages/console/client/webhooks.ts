import { $, api, ApiFailure, el, showError, when, type Page, type Root } from './api.js';

interface Endpoint { id: string; url: string; events: string[]; created_at: string; disabled?: boolean }
interface Attempt { attempt: number; status_code: number | null; error: string | null }
interface Delivery { id: string; event_id: string; event_type: string; status: string; created_at: string; attempts: Attempt[] }

/** Webhooks: endpoints, their deliveries, send a test, rotate the secret. */
export function startWebhooks(root: Root): void {
  const { t } = root;
  const rows = $('webhook-rows');
  const formError = $('form-error');
  const showSecret = (secret: string) => { $('webhook-secret').textContent = secret; $('webhook-secret-box').hidden = false; };
  const deliveries = async (endpoint: Endpoint) => {
    const page = await api<Page<Delivery>>('GET', `/api/v1/webhook_endpoints/${encodeURIComponent(endpoint.id)}/deliveries?limit=50`);
    $('delivery-rows').replaceChildren(...page.data.map((d) => {
      const last = d.attempts[d.attempts.length - 1];
      return el('tr', { 'data-delivery': d.id, 'data-status': d.status }, el('td', {}, when(d.created_at, root.lang)), el('td', {}, d.event_type),
        el('td', {}, String(d.attempts.length)), el('td', {}, last?.status_code == null ? '—' : String(last.status_code)), el('td', {}, last?.error ?? d.status));
    }));
  };
  const button = (label: string, action: () => Promise<void>) => {
    const node = el('button', { type: 'button' }, label);
    node.addEventListener('click', () => void action().catch((error: unknown) => showError(formError, error)));
    return node;
  };
  const load = async () => {
    const page = await api<Page<Endpoint>>('GET', '/api/v1/webhook_endpoints?limit=100');
    rows.replaceChildren(...page.data.map((endpoint) => el('tr', {},
      el('td', {}, endpoint.url), el('td', {}, endpoint.events.join(', ')), el('td', {}, when(endpoint.created_at, root.lang)),
      el('td', {},
        button(t['console_webhook_test'] ?? '', async () => { await api('POST', `/api/v1/webhook_endpoints/${encodeURIComponent(endpoint.id)}/test`); await deliveries(endpoint); }),
        ' ',
        button(t['console_webhook_rotate'] ?? '', async () => showSecret((await api<{ secret: string }>('POST', `/api/v1/webhook_endpoints/${encodeURIComponent(endpoint.id)}/rotate_secret`)).secret)),
        ' ',
        button(t['console_webhook_deliveries'] ?? '', () => deliveries(endpoint)),
        ' ',
        button(t['console_delete'] ?? '', async () => { await api('DELETE', `/api/v1/webhook_endpoints/${encodeURIComponent(endpoint.id)}`); await load(); })))));
  };
  $<HTMLFormElement>('webhook-create').addEventListener('submit', (event) => {
    event.preventDefault();
    formError.hidden = true;
    const slot = $('error-url');
    slot.hidden = true;
    void api<{ secret: string }>('POST', '/api/v1/webhook_endpoints', { url: $<HTMLInputElement>('webhook-url').value }).then((created) => {
      showSecret(created.secret);
      return load();
    }, (error: unknown) => {
      const issue = error instanceof ApiFailure ? error.issues.find((i) => i.path === 'url') : undefined;
      showError(issue ? slot : formError, issue ? new Error(issue.message) : error);
    });
  });
  void load().catch((error: unknown) => showError(formError, error));
}
