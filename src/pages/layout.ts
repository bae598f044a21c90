import { escapeHtml } from './html.js';
import { DICTIONARIES, LANG_NAMES, LANGS, localePath, type Lang } from './i18n.js';

/** The headers every page carries: a strict CSP (nothing inline, nothing from another origin) and friends. */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'x-frame-options': 'DENY',
};

export interface NavLink {
  /** Language-neutral path (`/docs/errors`); the layout puts it under the page's language. */
  path: string;
  label: string;
}

export interface PageSpec {
  lang: Lang;
  title: string;
  description: string;
  /** The page's language-neutral path: the language switch and `hreflang` links point at it in each language. */
  path: string;
  /** The navigation of the section (docs, console), with the current page marked. */
  nav: readonly NavLink[];
  navLabel: string;
  /** The page's main content, HTML. */
  main: string;
  /** Extra same-origin scripts and stylesheets (`/assets/...`); the site's own are always there. */
  scripts?: readonly string[];
  stylesheets?: readonly string[];
}

/** A whole page: the shared shell of the docs site and the console. */
export function renderPage(page: PageSpec): string {
  const t = DICTIONARIES[page.lang];
  const alternates = LANGS.map(
    (lang) => `<link rel="alternate" hreflang="${lang}" href="${escapeHtml(localePath(lang, page.path))}">`,
  ).join('\n');
  const switches = LANGS.filter((lang) => lang !== page.lang)
    .map((lang) => `<a href="${escapeHtml(localePath(lang, page.path))}" hreflang="${lang}" lang="${lang}" rel="alternate">${escapeHtml(DICTIONARIES[page.lang].language_switch)} <span class="lang-name">(${escapeHtml(LANG_NAMES[lang])})</span></a>`)
    .join(' ');
  const nav = page.nav
    .map((link) => {
      const current = link.path === page.path ? ' aria-current="page"' : '';
      return `<li><a href="${escapeHtml(localePath(page.lang, link.path))}"${current}>${escapeHtml(link.label)}</a></li>`;
    })
    .join('\n');
  const stylesheets = ['/assets/site.css', ...(page.stylesheets ?? [])].map((href) => `<link rel="stylesheet" href="${escapeHtml(href)}">`).join('\n');
  const scripts = ['/assets/site.js', ...(page.scripts ?? [])].map((src) => `<script src="${escapeHtml(src)}" defer></script>`).join('\n');
  return `<!doctype html>
<html lang="${page.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)} · ${escapeHtml(t.site_name)}</title>
<meta name="description" content="${escapeHtml(page.description)}">
<link rel="alternate" hreflang="x-default" href="${escapeHtml(localePath('en', page.path))}">
${alternates}
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
${stylesheets}
${scripts}
</head>
<body>
<a class="skip-link" href="#main">${escapeHtml(t.skip_to_content)}</a>
<header class="site-header">
<a class="brand" href="${escapeHtml(localePath(page.lang, '/docs'))}">${escapeHtml(t.site_name)}</a>
<nav class="lang-switch" aria-label="${escapeHtml(t.language_label)}">${switches}</nav>
</header>
<div class="site-body">
<nav class="site-nav" aria-label="${escapeHtml(page.navLabel)}">
<ul>
${nav}
</ul>
</nav>
<main id="main" tabindex="-1">
${page.main}
</main>
</div>
<footer class="site-footer"><p>${escapeHtml(t.footer_text)}</p></footer>
</body>
</html>
`;
}
