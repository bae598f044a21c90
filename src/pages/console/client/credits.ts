import { $, api, el, fill, pager, when, type Page, type Root } from './api.js';

interface LedgerEntry { id: string; type: string; amount: number; task_id: string | null; balance_after: number; created_at: string }

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** Credits spent per day (captures, and negative adjusts) over the last 30 days, as SVG bars: no chart library. */
function drawChart(root: Root, entries: LedgerEntry[]): void {
  const days: { day: string; spent: number }[] = [];
  const today = new Date();
  for (let i = 29; i >= 0; i--) {
    const day = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    days.push({ day: day.toISOString().slice(0, 10), spent: 0 });
  }
  const byDay = new Map(days.map((entry) => [entry.day, entry]));
  for (const entry of entries) {
    if (entry.type !== 'capture') continue;
    const slot = byDay.get(entry.created_at.slice(0, 10));
    if (slot) slot.spent += Math.abs(entry.amount);
  }
  const max = Math.max(1, ...days.map((d) => d.spent));
  const total = days.reduce((sum, d) => sum + d.spent, 0);
  const width = 600;
  const height = 160;
  const barWidth = width / days.length;
  const summary = fill(root.t['console_chart_summary'] ?? '', { total });
  const chart = svg('svg', { viewBox: `-16 0 ${width + 32} ${height + 20}`, role: 'img', 'aria-label': `${root.t['console_chart_title'] ?? ''}: ${summary}` });
  chart.append(svg('line', { x1: 0, y1: height, x2: width, y2: height, class: 'axis' }));
  days.forEach((d, i) => {
    const h = (d.spent / max) * (height - 10);
    const bar = svg('rect', { x: i * barWidth + 2, y: height - h, width: barWidth - 4, height: h, class: 'bar', 'data-day': d.day, 'data-spent': d.spent });
    const title = svg('title', {});
    title.textContent = `${d.day}: ${d.spent}`;
    bar.append(title);
    chart.append(bar);
    if (i % 5 === 4) {
      const label = svg('text', { x: i * barWidth + barWidth / 2, y: height + 14, 'text-anchor': 'middle' });
      label.textContent = d.day.slice(5);
      chart.append(label);
    }
  });
  $('chart').replaceChildren(chart, el('figcaption', {}, summary));
}

/** Credits: balance, held, available; the ledger with paging; the 30-day chart. */
export function startCredits(root: Root): void {
  void api<{ credits: { balance: number; held: number; available: number } }>('GET', '/api/v1/account').then((account) => {
    $('credits-balance').textContent = String(account.credits.balance);
    $('credits-held').textContent = String(account.credits.held);
    $('credits-available').textContent = String(account.credits.available);
  });
  const rows = $('ledger-rows');
  const limit = new URLSearchParams(window.location.search).get('limit') ?? '25';
  const load = pager<LedgerEntry>((cursor) => api<Page<LedgerEntry>>('GET', `/api/v1/account/ledger?limit=${encodeURIComponent(limit)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`), (entries) => {
    rows.append(...entries.map((entry) => el('tr', { 'data-type': entry.type },
      el('td', {}, when(entry.created_at, root.lang)), el('td', {}, entry.type), el('td', {}, String(entry.amount)), el('td', {}, String(entry.balance_after)),
      el('td', {}, entry.task_id ? el('a', { href: `${root.base}/tasks/${entry.task_id}` }, entry.task_id) : ''))));
  });
  void load(true);
  // The chart reads the last 30 days of the ledger, a page of 100 at a time.
  void (async () => {
    const since = Date.now() - 30 * 86_400_000;
    const entries: LedgerEntry[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const page: Page<LedgerEntry> = await api<Page<LedgerEntry>>('GET', `/api/v1/account/ledger?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      entries.push(...page.data);
      const last = page.data[page.data.length - 1];
      if (!page.has_more || !last || Date.parse(last.created_at) < since) break;
      cursor = page.next_cursor;
    }
    drawChart(root, entries);
  })();
}
