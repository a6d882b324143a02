import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

/*
 * Checks what a connector sends against a platform's official OpenAPI contract in ../shared/specs
 * (never copied into the repository): each request body against its operation's requestBody schema,
 * $refs resolved, and each query parameter against the operation's declared ones (name and type). A simulator takes the returned function as its `validate` option and records
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

type Schema = Record<string, unknown>;
type Parameter = { $ref?: string; name?: string; in?: string; schema?: { type?: string } };

function closeObjects(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(closeObjects);
  if (node === null || typeof node !== 'object') return;
  const o = node as Schema;
  if (o.properties && typeof o.properties === 'object' && o.additionalProperties === undefined)
    o.additionalProperties = false;
  for (const v of Object.values(o)) closeObjects(v);
}

const MS_DATE = /^(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?|\/Date\(\d+([+-]\d{4})?\)\/)$/;

/** Checks one request: its JSON body, and the query parameters it sends when `query` is given. */
export type RequestValidator = (op: {
  method: string;
  path: string;
  query?: Record<string, string>;
  body: unknown;
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
      Record<string, { requestBody?: { content?: Record<string, { schema?: Schema }> }; parameters?: Parameter[] }>
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
  /** The query parameters an operation declares, by name, $refs resolved. */
  const queryParameters = (op: { parameters?: Parameter[] }): Map<string, Parameter> => {
    const resolved = (op.parameters ?? []).map((p) =>
      p.$ref ? spec.components.parameters?.[p.$ref.split('/').pop() ?? ''] : p,
    );
    return new Map(resolved.filter((p): p is Parameter => p?.in === 'query').map((p) => [p.name!, p]));
  };
  const queryErrors = (key: string, op: { parameters?: Parameter[] }, query: Record<string, string>): string[] => {
    const declared = queryParameters(op);
    return Object.entries(query).flatMap(([name, value]) => {
      const p = declared.get(name);
      if (!p) return [`${key}: query parameter ${name} is not a parameter of the operation`];
      const type = p.schema?.type;
      const fits =
        type === 'integer'
          ? /^-?\d+$/.test(value)
          : type === 'boolean'
            ? value === 'true' || value === 'false'
            : type === 'number'
              ? /^-?\d+(\.\d+)?$/.test(value)
              : true;
      return fits ? [] : [`${key}: query parameter ${name}=${value} is not of type ${String(type)}`];
    });
  };
  return ({ method, path, query, body }) => {
    const key = `${method.toUpperCase()} ${path}`;
    const op = spec.paths[path]?.[method.toLowerCase()];
    const inQuery = op && query ? queryErrors(key, op, query) : [];
    let v = compiled.get(key);
    if (v === undefined) {
      const schema = op?.requestBody?.content?.['application/json']?.schema;
      if (!op) v = `${key} is not an operation of the contract`;
      else if (!schema) v = `${key} takes no JSON body in the contract`;
      else v = ajv.compile({ $ref: `spec#${String((schema as { $ref?: string }).$ref ?? '').slice(1)}` });
      compiled.set(key, v);
    }
    if (typeof v === 'string') return [v, ...inQuery];
    if (v(body)) return inQuery;
    return inQuery.concat(
      (v.errors ?? []).map(
        (e) =>
          `${key}: ${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`,
      ),
    );
  };
}
