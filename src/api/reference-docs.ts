import { describeIdempotency } from './idempotency.ts';
import { CLI_ERROR_CODES, ERROR_CODES } from '../domain/errors.ts';
import { REASON_CODES } from '../sync/reasons.ts';
import { RECONCILIATION_FAILURES } from '../sync/reconciliations.ts';
import { type AnyRoute, minimumRole } from './route.ts';
import { buildOpenApi } from './openapi.ts';

type Schema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  description?: string;
  anyOf?: Schema[];
  enum?: unknown[];
};

/** The name of a shared schema (`#/components/schemas/Run` → `Run`), linked to its section. */
function refName(ref: string): string {
  const name = ref.slice(ref.lastIndexOf('/') + 1);
  return `[${name}](#schema-${name.toLowerCase()})`;
}

function typeOf(s: Schema): string {
  if (s.$ref) return refName(s.$ref);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.anyOf) return [...new Set(s.anyOf.map(typeOf))].join(' or ');
  if (s.type === 'array') return `${s.items ? typeOf(s.items) : 'any'}[]`;
  return Array.isArray(s.type) ? s.type.join(' or ') : (s.type ?? 'any');
}

function fieldTable(schema: Schema | undefined, prefix = ''): string[] {
  if (!schema?.properties) return [];
  const rows: string[] = [];
  for (const [name, p] of Object.entries(schema.properties)) {
    const required = schema.required?.includes(name) ? 'yes' : '';
    rows.push(`| \`${prefix}${name}\` | ${typeOf(p)} | ${required} | ${(p.description ?? '').replace(/\|/g, '\\|')} |`);
    const nested = p.type === 'array' ? p.items : p;
    if (nested?.properties) rows.push(...fieldTable(nested, `${prefix}${name}${p.type === 'array' ? '[]' : ''}.`));
  }
  return rows;
}

/** docs/api.md: every endpoint with its fields, an example request and its error codes. */
export function renderApiReference(routes: AnyRoute[]): string {
  const doc = buildOpenApi(routes);
  const out: string[] = [
    '# API reference',
    '',
    'Generated from the route schemas by `npm run docs` (a test fails when this file is stale). The same',
    'reference is served at `/docs`, and the OpenAPI 3.1 document at `/openapi.json`.',
    '',
    'Conventions: amounts are decimal strings in responses (`"120.00"`) and decimal strings or JSON numbers',
    'in requests; dates are `YYYY-MM-DD`; errors are `{"error": {"code", "message", "details"}}`; every',
    'POST accepts an `Idempotency-Key` header. See [errors.md](errors.md) for all codes.',
    '',
    'Authentication (details in [security.md](security.md)): the entity key pair (`POST /v1/auth/login`, a',
    '20-minute bearer token, role owner); a user API key (`Authorization: Bearer llk_…`, its own role); or a',
    'browser session (`POST /v1/auth/sign-in` sets the `ll_session` cookie; every change made with it carries',
    "the session's CSRF token in `X-CSRF-Token`). Each endpoint names the least role it needs",
    '(viewer < accountant < owner); below it the answer is 403 `FORBIDDEN_ROLE`.',
    '',
  ];
  const byTag = new Map<string, AnyRoute[]>();
  for (const r of routes) byTag.set(r.tags[0] ?? 'other', [...(byTag.get(r.tags[0] ?? 'other') ?? []), r]);
  for (const [tag, list] of byTag) {
    out.push(`## ${tag}`, '');
    for (const r of list) {
      const op = (
        doc.paths[r.path] as Record<
          string,
          {
            parameters: { name: string; in: string; required: boolean; description?: string }[];
            requestBody?: { content: Record<string, { schema: Schema } | undefined> };
            responses: Record<string, { content?: Record<string, { schema: Schema } | undefined> }>;
          }
        >
      )[r.method.toLowerCase()]!;
      out.push(`### \`${r.method} ${r.path}\``, '', `${r.summary}.${r.description ? ' ' + r.description : ''}`, '');
      out.push(
        `Auth: ${{ none: 'none', entity: 'entity token, user API key or session cookie', admin: 'admin token', entityOrAdmin: 'entity token, user API key, session cookie or admin token' }[r.auth]}${r.auth === 'entity' || r.auth === 'entityOrAdmin' ? `; role: ${minimumRole(r)}` : ''}. Success: \`${r.success.status}\` ${r.success.description}`,
        '',
      );
      const idempotency = describeIdempotency(r);
      if (idempotency) out.push(idempotency, '');
      const params = op.parameters.filter((p) => p.in !== 'header');
      if (params.length) {
        out.push('| parameter | in | required | description |', '|---|---|---|---|');
        for (const p of params)
          out.push(`| \`${p.name}\` | ${p.in} | ${p.required ? 'yes' : ''} | ${p.description ?? ''} |`);
        out.push('');
      }
      const content = op.requestBody?.content;
      const body = (content?.['application/json'] ?? content?.['multipart/form-data'])?.schema;
      const rows = fieldTable(body);
      if (rows.length) out.push('| body field | type | required | description |', '|---|---|---|---|', ...rows, '');
      if (r.example !== undefined)
        out.push('Example request body:', '', '```json', JSON.stringify(r.example, null, 2), '```', '');
      const response = op.responses[String(r.success.status)]?.content?.['application/json']?.schema;
      if (response?.$ref) out.push(`Response: ${refName(response.$ref)}.`, '');
      else {
        const fields = fieldTable(response);
        if (fields.length)
          out.push('| response field | type | required | description |', '|---|---|---|---|', ...fields, '');
      }
      if (r.errors?.length) out.push(`Errors: ${r.errors.map((c) => `\`${c}\``).join(', ')}.`, '');
    }
  }
  // The shared response schemas (`.meta({ id })`), each once; the error body is described above.
  const shared = Object.entries(doc.components.schemas as Record<string, Schema>).filter(([name]) => name !== 'Error');
  if (shared.length) out.push('## Schemas', '');
  for (const [name, schema] of shared) {
    out.push(`### Schema \`${name}\``, '');
    if (schema.description) out.push(schema.description, '');
    out.push('| field | type | required | description |', '|---|---|---|---|', ...fieldTable(schema), '');
  }
  return out.join('\n');
}

/** docs/errors.md: the whole error-code table, then the reasons an exception can carry. */
export function renderErrorReference(): string {
  const out = [
    '# Error codes',
    '',
    'Generated from `src/domain/errors.ts` by `npm run docs`. Every error answers',
    '`{"error": {"code": "...", "message": "...", "details": ...}}`; `details` names the field at fault',
    '(`[{"field": "lines[0].netAmount", "message": "..."}]`) where there is one. Bad input never changes anything.',
    '',
    '| code | HTTP | meaning |',
    '|---|---|---|',
  ];
  for (const [code, [status, meaning]] of Object.entries(ERROR_CODES))
    out.push(`| \`${code}\` | ${status} | ${meaning} |`);
  out.push(
    '',
    '## Command-line codes',
    '',
    'Generated from `CLI_ERROR_CODES` in `src/domain/errors.ts`. The command line (`ledgerlink …`) answers with the',
    'codes of the table above and with these, which no HTTP request meets (they have no HTTP status): each refusal',
    'reads `error: CODE: message` on stderr with exit code 1, or with `--json` the error body above on stdout,',
    '`details` naming the option, argument or environment variable at fault.',
    '',
    '| code | what it means and what to do |',
    '|---|---|',
  );
  for (const [code, meaning] of Object.entries(CLI_ERROR_CODES))
    out.push(`| \`${code}\` | ${meaning.replace(/\|/g, '\\|')} |`);
  out.push(
    '',
    '## Exception reason codes',
    '',
    'Generated from `src/sync/reasons.ts`. A record the sync engine cannot book is parked as an exception',
    '(`GET /v1/exceptions`, `ledgerlink exceptions list`) with a `reasonCode` from one closed list: a code below,',
    'or any error code of the table above when the ledger refused to post the record (fix what that code names,',
    'then retry). Retrying (`POST /v1/exceptions/{id}/retry`, `ledgerlink exceptions retry`) processes the',
    'stored record again and resolves the exception when it goes through; a later run that books the record',
    'resolves it too. What cannot be retried is resolved by hand with a note (`POST /v1/exceptions/{id}/resolve`).',
    '',
    '| reason code | what it means and what to do |',
    '|---|---|',
  );
  for (const [code, meaning] of Object.entries(REASON_CODES))
    out.push(`| \`${code}\` | ${meaning.replace(/\|/g, '\\|')} |`);
  out.push(
    '',
    '## Reconciliation failure codes',
    '',
    'Generated from `src/sync/reconciliations.ts`. A reconciliation worked by a worker',
    '(`POST /v1/pipelines/{name}/reconciliations`, docs/reconciliation.md) that fails shows `status: failed` and',
    '`error: {"code", "message"}` at `GET /v1/reconciliations/{id}`, with a code below, or the error code of the',
    'table above that refused it (`NOT_FOUND` when its pipeline was deleted, `SECRET_UNREADABLE`, …).',
    '',
    '| code | what it means and what to do |',
    '|---|---|',
  );
  for (const [code, meaning] of Object.entries(RECONCILIATION_FAILURES))
    out.push(`| \`${code}\` | ${meaning.replace(/\|/g, '\\|')} |`);
  return out.join('\n') + '\n';
}
