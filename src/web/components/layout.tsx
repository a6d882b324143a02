import type { ComponentChildren } from 'preact';
import { assetUrl } from '../assets.ts';
import type { PageContext } from '../context.ts';

/** The sections of the dashboard in the order of its navigation; only built pages are listed. */
export const SECTIONS = [
  { key: 'overview', href: '/', label: 'Overview' },
  { key: 'runs', href: '/runs', label: 'Runs' },
  { key: 'exceptions', href: '/exceptions', label: 'Exceptions' },
  { key: 'customers', href: '/customers', label: 'Customers' },
  { key: 'aged-debtors', href: '/aged-debtors', label: 'Aged debtors' },
  { key: 'transactions', href: '/transactions', label: 'Transactions' },
  { key: 'connections', href: '/connections', label: 'Connections' },
  { key: 'reconciliation', href: '/reconciliation', label: 'Reconciliation' },
  { key: 'audit', href: '/audit', label: 'Audit log' },
  { key: 'settings', href: '/settings', label: 'Settings', ownerOnly: true },
] as const;
export type Section = (typeof SECTIONS)[number]['key'];

// htmx under a CSP without 'unsafe-inline' or 'unsafe-eval': no indicator <style> injected, no eval;
// error answers (4xx, 5xx) are swapped too, so a refusal is shown where the answer was expected.
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
  historyCacheSize: 0,
  responseHandling: [
    { code: '204', swap: false },
    { code: '[23]..', swap: true },
    { code: '[45]..', swap: true, error: true },
  ],
});

/** The document around every page: head, skip link, header with entity and user menu, navigation, main. */
export function Document(props: {
  lang: string;
  title: string;
  csrfToken?: string | null;
  /** `<meta http-equiv="refresh">`: seconds;url=path of this site. */
  refresh?: string | undefined;
  /** `<meta name="referrer">`, for a page whose URL holds a secret. */
  referrer?: 'no-referrer' | undefined;
  children: ComponentChildren;
}) {
  return (
    <html lang={props.lang}>
      <head>
        <meta charset="utf-8" />
        {props.referrer ? <meta name="referrer" content={props.referrer} /> : null}
        {props.refresh ? <meta http-equiv="refresh" content={props.refresh} /> : null}
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light" />
        <meta name="htmx-config" content={HTMX_CONFIG} />
        {props.csrfToken ? <meta name="csrf-token" content={props.csrfToken} /> : null}
        <title>{`${props.title} · ledgerlink`}</title>
        <link rel="stylesheet" href={assetUrl('pico.min.css')} />
        <link rel="stylesheet" href={assetUrl('app.css')} />
        <script src={assetUrl('htmx.min.js')} defer></script>
        <script src={assetUrl('app.js')} defer></script>
      </head>
      {props.children}
    </html>
  );
}

/** A signed-in page: header, navigation and the page in `<main>`. */
export function Layout(props: {
  ctx: PageContext;
  title: string;
  section: Section | null;
  children: ComponentChildren;
}) {
  const { viewer } = props.ctx;
  const others = viewer.entities.filter((e) => e.code !== viewer.entity.code);
  const sections = SECTIONS.filter((s) => !('ownerOnly' in s) || viewer.role === 'owner');
  const current = sections.find((s) => s.key === props.section);
  return (
    <Document lang={props.ctx.locale} title={props.title} csrfToken={viewer.csrfToken}>
      <body hx-headers={viewer.csrfToken ? JSON.stringify({ 'X-CSRF-Token': viewer.csrfToken }) : undefined}>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="site-header">
          <div class="brand">
            <a href="/" class="brand-name">
              ledgerlink
            </a>
            <span class="entity-name" title={`Entity ${viewer.entity.code}`}>
              {viewer.entity.name}
            </span>
          </div>
          <div class="user-menu">
            {others.length > 0 ? (
              <form class="entity-switch" data-api="/v1/auth/entity" data-next="/">
                <label for="entity-switch">Entity</label>
                <select id="entity-switch" name="entityCode">
                  {viewer.entities.map((e) => (
                    <option value={e.code} selected={e.code === viewer.entity.code}>
                      {e.name} ({e.role})
                    </option>
                  ))}
                </select>
                <button type="submit" class="secondary outline">
                  Switch
                </button>
                <p class="form-error" role="alert" data-error="form"></p>
              </form>
            ) : null}
            <span class="who">
              {viewer.user?.email ?? 'API token'} <span class="role-badge">{viewer.role}</span>
            </span>
            {viewer.user ? (
              <a href="/settings/api-keys" class="api-keys-link">
                API keys
              </a>
            ) : null}
            {viewer.user ? (
              <form data-api="/v1/auth/sign-out" data-next="/sign-in?signed-out=1" class="sign-out">
                <button type="submit" class="secondary outline">
                  Sign out
                </button>
                <p class="form-error" role="alert" data-error="form"></p>
              </form>
            ) : null}
          </div>
          <nav aria-label="Sections" class="sections">
            {/* A menu that folds on a phone, saying where you are; always open on a wider screen (app.css). */}
            <details class="nav-menu">
              <summary>
                Menu
                {current ? <span class="nav-current">: {current.label}</span> : null}
              </summary>
              <ul>
                {sections.map((s) => (
                  <li>
                    <a href={s.href} aria-current={s.key === props.section ? 'page' : undefined}>
                      {s.label}
                    </a>
                  </li>
                ))}
              </ul>
            </details>
          </nav>
        </header>
        <main id="main" class="container" tabindex={-1}>
          <div id="flash" aria-live="polite"></div>
          {props.children}
        </main>
      </body>
    </Document>
  );
}
