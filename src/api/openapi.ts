import { describeIdempotency } from './idempotency.ts';
import { z } from 'zod';
import { ERROR_CODES } from '../domain/errors.ts';
import { type AnyRoute, minimumRole } from './route.ts';

type JsonSchema = Record<string, unknown>;

/** Schemas named with `.meta({ id })`, shared by every operation that uses them (`components.schemas`). */
type Components = Map<string, JsonSchema>;

const COMPONENT_REF = '#/components/schemas/';

/** Points zod's local `#/$defs/Name` references at the document's components. */
function rehome(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rehome);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/') ? COMPONENT_REF + v.slice(8) : rehome(v),
    ]),
  );
}

/**
 * The JSON Schema of a zod schema. Schemas with an `id` become components: zod puts them in the
 * schema's own `$defs`, which an OpenAPI document cannot point into, so they move to `components`.
 */
function toSchema(schema: z.ZodType, components: Components): JsonSchema {
  const s = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete s.$schema;
  const defs = (s.$defs ?? {}) as Record<string, JsonSchema>;
  delete s.$defs;
  for (const [id, def] of Object.entries(defs)) {
    const moved = rehome(def) as JsonSchema;
    const known = components.get(id);
    if (known && JSON.stringify(known) !== JSON.stringify(moved))
      throw new Error(`Two different schemas are named ${id} (.meta({ id })); give one another id`);
    components.set(id, moved);
  }
  // A schema that is itself named comes back as a bare `$ref` to its component.
  return rehome(s) as JsonSchema;
}

function parametersOf(schema: z.ZodType | undefined, location: 'path' | 'query', components: Components) {
  if (!schema) return [];
  const s = toSchema(schema, components);
  const props = (s.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((s.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, p]) => ({
    name,
    in: location,
    required: location === 'path' || required.has(name),
    ...(typeof p.description === 'string' ? { description: p.description } : {}),
    schema: p,
  }));
}

/** Builds the OpenAPI 3.1 document from the same route specs that validate requests. */
export function buildOpenApi(routes: AnyRoute[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  const components: Components = new Map();
  for (const r of routes) {
    const errorCodes = [
      ...new Set([
        ...(r.errors ?? []),
        ...(r.body || r.query || r.params ? (['VALIDATION_ERROR'] as const) : []),
        ...(r.auth === 'entity' || r.auth === 'entityOrAdmin' ? (['UNAUTHORIZED', 'TOKEN_EXPIRED'] as const) : []),
        ...((r.auth === 'entity' || r.auth === 'entityOrAdmin') && minimumRole(r) !== 'viewer'
          ? (['FORBIDDEN_ROLE'] as const)
          : []),
        ...((r.auth === 'entity' || r.auth === 'entityOrAdmin') && r.method !== 'GET'
          ? (['CSRF_TOKEN_INVALID'] as const)
          : []),
        ...(r.auth === 'admin' ? (['ADMIN_TOKEN_REQUIRED', 'ADMIN_API_DISABLED'] as const) : []),
      ]),
    ];
    const byStatus = new Map<number, (keyof typeof ERROR_CODES)[]>();
    for (const code of errorCodes) {
      const status = ERROR_CODES[code][0];
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    const responses: Record<string, unknown> = {
      [String(r.success.status)]: {
        description: r.success.description,
        ...(r.success.schema
          ? {
              content: {
                [r.success.contentType ?? 'application/json']: { schema: toSchema(r.success.schema, components) },
              },
            }
          : r.success.contentType
            ? { content: { [r.success.contentType]: { schema: { type: 'string', format: 'binary' } } } }
            : {}),
      },
    };
    for (const [status, codes] of [...byStatus.entries()].sort((a, b) => a[0] - b[0])) {
      responses[String(status)] = {
        description: codes.map((c) => `\`${c}\`: ${ERROR_CODES[c][1]}`).join('\n\n'),
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    const op: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: r.tags,
      parameters: [...parametersOf(r.params, 'path', components), ...parametersOf(r.query, 'query', components)],
      responses,
      ...(r.auth === 'none' ? { security: [] } : r.auth === 'admin' ? { security: [{ adminToken: [] }] } : {}),
      ...(r.auth === 'entityOrAdmin' ? { security: [{ bearer: [] }, { sessionCookie: [] }, { adminToken: [] }] } : {}),
      ...(r.auth === 'entity' || r.auth === 'entityOrAdmin' ? { 'x-required-role': minimumRole(r) } : {}),
    };
    const idempotency = describeIdempotency(r);
    if (idempotency) {
      (op.parameters as unknown[]).push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: `${idempotency} Same key with another body is refused (409 IDEMPOTENCY_KEY_REUSED).`,
        schema: { type: 'string', maxLength: 255 },
      });
    }
    if (r.body) {
      op.requestBody = {
        required: true,
        content: {
          'application/json': {
            schema: toSchema(r.body, components),
            ...(r.example !== undefined ? { example: r.example } : {}),
          },
        },
      };
    }
    if (r.multipart) {
      op.requestBody = {
        required: true,
        content: { 'multipart/form-data': { schema: toSchema(r.multipart.fields, components) } },
      };
    }
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'ledgerlink API',
      version: '0.1.0',
      description:
        'An embedded accounts-receivable ledger with AccountsIQ semantics. Amounts are decimal strings in ' +
        'responses and decimal strings or JSON numbers in requests; dates are YYYY-MM-DD. Errors are ' +
        '`{"error": {"code", "message", "details"}}`.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { sessionCookie: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            "A token from POST /v1/auth/login (the entity key pair, role owner) or a user's API key (llk_…).",
        },
        sessionCookie: {
          type: 'apiKey',
          in: 'cookie',
          name: 'll_session',
          description: 'A browser session from POST /v1/auth/sign-in; changes also need the X-CSRF-Token header.',
        },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The LEDGERLINK_ADMIN_TOKEN value.' },
      },
      schemas: {
        ...Object.fromEntries([...components.entries()].sort(([a], [b]) => a.localeCompare(b))),
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string', enum: Object.keys(ERROR_CODES) },
                message: { type: 'string' },
                details: {},
              },
            },
          },
        },
      },
    },
    'x-error-codes': Object.fromEntries(
      Object.entries(ERROR_CODES).map(([code, [status, meaning]]) => [code, { status, meaning }]),
    ),
  };
}

export type OpenApiDocument = ReturnType<typeof buildOpenApi>;
