import { z } from 'zod';
import { ERROR_CODES } from '../domain/errors.ts';
import type { AnyRoute } from './route.ts';

type JsonSchema = Record<string, unknown>;

function toSchema(schema: z.ZodType): JsonSchema {
  const s = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete s.$schema;
  return s;
}

function parametersOf(schema: z.ZodType | undefined, location: 'path' | 'query') {
  if (!schema) return [];
  const s = toSchema(schema);
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
  for (const r of routes) {
    const errorCodes = [
      ...new Set([
        ...(r.errors ?? []),
        ...(r.body || r.query || r.params ? (['VALIDATION_ERROR'] as const) : []),
        ...(r.auth === 'entity' || r.auth === 'entityOrAdmin' ? (['UNAUTHORIZED', 'TOKEN_EXPIRED'] as const) : []),
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
          ? { content: { [r.success.contentType ?? 'application/json']: { schema: toSchema(r.success.schema) } } }
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
      parameters: [...parametersOf(r.params, 'path'), ...parametersOf(r.query, 'query')],
      responses,
      ...(r.auth === 'none' ? { security: [] } : r.auth === 'admin' ? { security: [{ adminToken: [] }] } : {}),
      ...(r.auth === 'entityOrAdmin' ? { security: [{ bearer: [] }, { adminToken: [] }] } : {}),
    };
    if (r.method === 'POST' && (r.write ?? true)) {
      (op.parameters as unknown[]).push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'Same key and body answer the first response again; same key with another body is refused (409).',
        schema: { type: 'string', maxLength: 255 },
      });
    }
    if (r.body) {
      op.requestBody = {
        required: true,
        content: {
          'application/json': { schema: toSchema(r.body), ...(r.example !== undefined ? { example: r.example } : {}) },
        },
      };
    }
    if (r.multipart) {
      op.requestBody = { required: true, content: { 'multipart/form-data': { schema: toSchema(r.multipart.fields) } } };
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
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A token from POST /v1/auth/login.' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The LEDGERLINK_ADMIN_TOKEN value.' },
      },
      schemas: {
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
