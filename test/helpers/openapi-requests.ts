import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

/*
 * Checks what a connector sends against a platform's official OpenAPI contract in ../shared/specs
 * (never copied into the repository): each request body against its operation's requestBody schema,
 * $refs resolved. A simulator takes the returned function as its `validate` option and records
 * every violation, so that a test fails when a payload leaves the contract. Shared by the remote
 * targets' tests (Xero here; any platform that publishes OpenAPI).
 *
 * OpenAPI 3.0 schemas are not pure JSON Schema: `nullable`, `x-*` keys and `example` are taken
 * with `strict: false`; Xero's dates (`x-is-msdate`) must be sent as YYYY-MM-DD (or Xero's own
 * "/Date(ms)/"). With `closed: true` an object may carry only the properties its schema declares:
 * the published schemas leave `additionalProperties` open, and a misspelt field would otherwise
 * pass here and be ignored by the platform.
 */

/** The repository's root, from this file (test/helpers/). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The absolute path of a file under ../shared/specs, or null when ../shared is absent. */
export function sharedSpec(relative: string): string | null {
  const path = resolve(ROOT, '..', 'shared', 'specs', relative);
  return existsSync(path) ? path : null;
}

/** Why a contract test is skipped, for `describe.skipIf(...)` titles and logs. */
export const SPEC_MISSING = (relative: string) =>
  `skipped: ../shared/specs/${relative} is absent (the official contracts live beside the repository, never in it)`;

/**
 * The validator of requests against ../shared/specs/`relative`, or undefined when ../shared is
 * absent: `file` (the test file, named in the warning) then runs without its contract checks.
 */
export function specValidator(
  file: string,
  relative: string,
  options: { closed?: boolean } = {},
): RequestValidator | undefined {
  const path = sharedSpec(relative);
  if (!path) console.warn(`${file}: contract checks ${SPEC_MISSING(relative)}`);
  return path ? openApiRequestValidator(path, options) : undefined;
}

type Schema = Record<string, unknown>;

function closeObjects(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(closeObjects);
  if (node === null || typeof node !== 'object') return;
  const o = node as Schema;
  if (o.properties && typeof o.properties === 'object' && o.additionalProperties === undefined)
    o.additionalProperties = false;
  for (const v of Object.values(o)) closeObjects(v);
}

const MS_DATE = /^(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?|\/Date\(\d+([+-]\d{4})?\)\/)$/;

export type RequestValidator = (op: {
  method: string;
  path: string;
  body: unknown;
  /** The query string's parameters: each must be one the operation declares, of its type. */
  query?: Record<string, string> | undefined;
}) => string[];

/**
 * A validator of request bodies by method and path template (`PUT`, `/Invoices`), from an OpenAPI
 * 3.0 document. A request to an operation the contract does not have, or that has no JSON body
 * there, is itself a violation.
 */
export function openApiRequestValidator(specPath: string, options: { closed?: boolean } = {}): RequestValidator {
  const spec = parse(readFileSync(specPath, 'utf8')) as {
    paths: Record<
      string,
      Record<
        string,
        {
          requestBody?: { content?: Record<string, { schema?: Schema }> };
          parameters?: (Parameter | { $ref: string })[];
        }
      >
    >;
    components: { schemas: Schema; parameters?: Record<string, Parameter> };
  };
  if (options.closed) closeObjects(spec.components.schemas);
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats.default(ajv);
  for (const f of ['double', 'float', 'int32', 'int64', 'byte', 'binary', 'password'])
    ajv.addFormat(f, { validate: () => true });
  ajv.addKeyword({
    keyword: 'x-is-msdate',
    type: 'string',
    schemaType: 'boolean',
    validate: (on: boolean, data: string) => !on || MS_DATE.test(data),
    errors: false,
  });
  ajv.addSchema({ components: spec.components }, 'spec');
  const compiled = new Map<string, ValidateFunction | string>();
  return ({ method, path, body, query }) => {
    const key = `${method.toUpperCase()} ${path}`;
    const op = spec.paths[path]?.[method.toLowerCase()];
    if (query !== undefined) {
      if (!op) return [`${key} is not an operation of the contract`];
      const problems = queryProblems(key, op.parameters ?? [], spec.components.parameters ?? {}, query);
      if (method.toUpperCase() === 'GET' || method.toUpperCase() === 'DELETE') return problems;
      if (problems.length > 0) return problems;
    }
    let v = compiled.get(key);
    if (v === undefined) {
      const schema = op?.requestBody?.content?.['application/json']?.schema;
      if (!op) v = `${key} is not an operation of the contract`;
      else if (!schema) v = `${key} takes no JSON body in the contract`;
      else v = ajv.compile({ $ref: `spec#${String((schema as { $ref?: string }).$ref ?? '').slice(1)}` });
      compiled.set(key, v);
    }
    if (typeof v === 'string') return [v];
    if (v(body)) return [];
    return (v.errors ?? []).map(
      (e) =>
        `${key}: ${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`,
    );
  };
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string; format?: string; items?: { type?: string; format?: string } };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a query value has the declared type (arrays are comma-separated, as Xero takes them). */
function fits(value: string, schema: Parameter['schema']): boolean {
  if (!schema) return true;
  if (schema.type === 'array') return value.split(',').every((v) => fits(v, schema.items));
  if (schema.type === 'integer') return /^-?\d+$/.test(value);
  if (schema.type === 'boolean') return value === 'true' || value === 'false';
  if (schema.format === 'uuid') return UUID.test(value);
  if (schema.format === 'date') return /^\d{4}-\d{2}-\d{2}$/.test(value);
  return true;
}

/** A request's query string against its operation's declared query parameters: unknown, mistyped or missing ones. */
function queryProblems(
  key: string,
  declared: (Parameter | { $ref: string })[],
  shared: Record<string, Parameter>,
  query: Record<string, string>,
): string[] {
  const params = declared
    .map((p) => ('$ref' in p ? shared[p.$ref.split('/').pop()!] : p))
    .filter((p): p is Parameter => p !== undefined && p.in === 'query');
  const out: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    const p = params.find((x) => x.name === name);
    if (!p) out.push(`${key}: the query parameter ${name} is not declared by the contract`);
    else if (!fits(value, p.schema))
      out.push(`${key}: the query parameter ${name}=${value} is not of the declared type ${JSON.stringify(p.schema)}`);
  }
  for (const p of params)
    if (p.required && !(p.name in query)) out.push(`${key}: the query parameter ${p.name} is required`);
  return out;
}
