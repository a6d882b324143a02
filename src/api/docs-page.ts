import type { OpenApiDocument } from './openapi.ts';

function esc(s: unknown): string {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters: { name: string; in: string; required: boolean; description?: string; schema: unknown }[];
  requestBody?: { content: Record<string, { schema: unknown; example?: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
}

/** A schema as JSON, with references to shared schemas (`#/components/schemas/Run`) linked to them. */
function schemaBlock(schema: unknown): string {
  const json = esc(JSON.stringify(schema, null, 2)).replace(
    /&quot;#\/components\/schemas\/(\w+)&quot;/g,
    (_, name: string) => `&quot;<a href="#schema-${name}">#/components/schemas/${name}</a>&quot;`,
  );
  return `<details><summary>schema</summary><pre>${json}</pre></details>`;
}

/**
 * A readable API reference rendered on the server from the OpenAPI document: no script and no
 * assets from elsewhere, so it works offline.
 */
/** Where the reference page's stylesheet is served (the page's policy allows no inline style). */
export const DOCS_STYLESHEET_PATH = '/docs.css';

export const DOCS_CSS = `body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1d2330}
nav{width:320px;height:100vh;overflow:auto;position:sticky;top:0;background:#f4f5f8;padding:1em;box-sizing:border-box;font-size:13px}
nav ul{list-style:none;padding:0;margin:0 0 1em}nav a{color:#1d2330;text-decoration:none}
main{flex:1;padding:1em 2em;max-width:980px}section{border-top:1px solid #dde;padding:.5em 0 1em}
pre{background:#f6f8fa;padding:.75em;overflow:auto;font-size:13px}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #dde;padding:.25em .5em;text-align:left;vertical-align:top}
.m{font-size:12px;padding:.1em .4em;border-radius:3px;color:#fff;background:#555}.get{background:#2f7d32}.post{background:#1f5fbf}.put{background:#a66300}.delete{background:#b3261e}
`;

export function renderDocsPage(doc: OpenApiDocument): string {
  const byTag = new Map<string, { method: string; path: string; op: Operation }[]>();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(methods)) {
      const op = raw as Operation;
      const tag = op.tags[0] ?? 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), { method: method.toUpperCase(), path, op }]);
    }
  }
  const nav = [...byTag.entries()]
    .map(
      ([tag, ops]) =>
        `<h3>${esc(tag)}</h3><ul>${ops.map((o) => `<li><a href="#${esc(o.op.operationId)}"><b>${o.method}</b> ${esc(o.path)}</a></li>`).join('')}</ul>`,
    )
    .join('');
  const sections = [...byTag.entries()]
    .map(([tag, ops]) => {
      const items = ops
        .map(({ method, path, op }) => {
          const params = op.parameters.length
            ? `<table><tr><th>name</th><th>in</th><th>required</th><th>description</th></tr>${op.parameters
                .map(
                  (p) =>
                    `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : ''}</td><td>${esc(p.description ?? '')}</td></tr>`,
                )
                .join('')}</table>`
            : '';
          const body = op.requestBody?.content['application/json'] ?? op.requestBody?.content['multipart/form-data'];
          const bodyHtml = body
            ? `<h4>Request body</h4>${body.example !== undefined ? `<pre>${esc(JSON.stringify(body.example, null, 2))}</pre>` : ''}${schemaBlock(body.schema)}`
            : '';
          const responses = Object.entries(op.responses)
            .map(([status, r]) => {
              const content = r.content ? Object.values(r.content)[0] : undefined;
              return `<tr><td>${esc(status)}</td><td>${esc(r.description)
                .replace(/`([^`]+)`/g, '<code>$1</code>')
                .replace(
                  /\n\n/g,
                  '<br>',
                )}${content && status.startsWith('2') ? schemaBlock(content.schema) : ''}</td></tr>`;
            })
            .join('');
          return `<section id="${esc(op.operationId)}"><h3><span class="m ${method.toLowerCase()}">${method}</span> <code>${esc(path)}</code></h3>
<p><b>${esc(op.summary)}</b></p>${op.description ? `<p>${esc(op.description)}</p>` : ''}${params}${bodyHtml}
<h4>Responses</h4><table>${responses}</table></section>`;
        })
        .join('');
      return `<h2>${esc(tag)}</h2>${items}`;
    })
    .join('');
  const schemas = Object.entries(doc.components.schemas)
    .filter(([name]) => name !== 'Error')
    .map(
      ([name, schema]) =>
        `<section id="schema-${esc(name)}"><h3><code>${esc(name)}</code></h3>${schemaBlock(schema)}</section>`,
    )
    .join('');
  const errors = Object.entries(doc['x-error-codes'])
    .map(([code, e]) => `<tr><td><code>${esc(code)}</code></td><td>${e.status}</td><td>${esc(e.meaning)}</td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ledgerlink API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${DOCS_STYLESHEET_PATH}"></head><body><nav><h2>ledgerlink</h2><p><a href="/openapi.json">openapi.json</a> · <a href="#errors">error codes</a></p>${nav}</nav>
<main><h1>${esc(doc.info.title)} ${esc(doc.info.version)}</h1><p>${esc(doc.info.description)}</p>
<p>Authenticate with <code>POST /v1/auth/login</code> and send <code>Authorization: Bearer &lt;token&gt;</code>. Every POST accepts an <code>Idempotency-Key</code> header.</p>
${sections}${schemas ? `<h2 id="schemas">Schemas</h2>${schemas}` : ''}<h2 id="errors">Error codes</h2><table><tr><th>code</th><th>status</th><th>meaning</th></tr>${errors}</table></main></body></html>`;
}
