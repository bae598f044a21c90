/** Text made safe to place in HTML content or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Dictionary prose as HTML: escaped, with `backticked` spans as `<code>`. */
export function prose(text: string): string {
  return escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>');
}

/** Dictionary prose as Markdown: backticks already are Markdown's code spans. */
export function proseMarkdown(text: string): string {
  return text;
}

/** `{name}` placeholders filled in from `values`. */
export function fill(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

/** A table as HTML: a caption-less, labelled table with header cells scoped to their column. */
export function htmlTable(label: string, columns: readonly string[], rows: readonly (readonly string[])[], options: { code?: readonly number[] } = {}): string {
  const codeColumns = new Set(options.code ?? []);
  const head = columns.map((column) => `<th scope="col">${escapeHtml(column)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${row.map((cell, i) => (codeColumns.has(i) ? `<td><code>${escapeHtml(cell)}</code></td>` : `<td class="text">${prose(cell)}</td>`)).join('')}</tr>`)
    .join('\n');
  return scrollRegion(label, `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`);
}

/**
 * A wide table in a region that scrolls sideways on a narrow screen: labelled, and focusable so
 * a keyboard can scroll it (axe's `scrollable-region-focusable`). `table` is the `<table>` HTML.
 */
export function scrollRegion(label: string, table: string): string {
  return `<div class="table-scroll" role="region" aria-label="${escapeHtml(label)}" tabindex="0">${table}</div>`;
}

/** A table as Markdown (pipes in cells escaped). */
export function markdownTable(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(columns), `|${columns.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

/**
 * A code block with a copy button (the button works through /assets/site.js; the code stays
 * selectable without it). Its `<pre>` scrolls sideways when a line is wider than the screen (a
 * 360 px phone), so it is a labelled, focusable region a keyboard can reach and scroll.
 */
export function codeBlock(code: string, options: { label: string; copyLabel: string; copiedLabel: string; language?: string }): string {
  return `<figure class="code">
<figcaption>${escapeHtml(options.label)}</figcaption>
<button type="button" class="copy" data-copy data-copied="${escapeHtml(options.copiedLabel)}">${escapeHtml(options.copyLabel)}</button>
<pre tabindex="0" role="region" aria-label="${escapeHtml(options.label)}"><code${options.language ? ` class="language-${options.language}"` : ''}>${escapeHtml(code)}</code></pre>
</figure>`;
}
