import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RouteOptions,
} from 'fastify';
import multipart from '@fastify/multipart';
import { randomUUID, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.ts';
import { DomainError, ERROR_CODES, type ErrorCode, type FieldProblem, isDomainError } from '../domain/errors.ts';
import { recordAudit } from '../ledger/audit.ts';
import { authenticate } from '../ledger/sessions.ts';
import { secretsEqual } from '../ledger/secrets.ts';
import { dateRuleViolation } from '../ledger/periods.ts';
import { canonicalJson, parseJsonExact } from '../domain/json.ts';
import type { AnyRoute, Principal, RouteContext } from './route.ts';
import { type AppConfig, AppServices } from './services.ts';
import { allRoutes } from './routes/index.ts';
import type { SyncService } from '../sync/service.ts';
import { buildOpenApi } from './openapi.ts';
import { renderDocsPage } from './docs-page.ts';

function errorBody(code: string, message: string, details?: unknown) {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

function zodProblems(err: z.ZodError, location: string): FieldProblem[] {
  return err.issues.map((i) => ({
    field: [location, ...i.path.map(String)].filter(Boolean).join('.'),
    message: i.message,
  }));
}

/** A schema may name a more specific code than VALIDATION_ERROR in an issue's `params.errorCode`. */
function issueCode(err: z.ZodError): ErrorCode {
  for (const i of err.issues) {
    const code: unknown =
      i.code === 'custom' ? (i.params as { errorCode?: unknown } | undefined)?.errorCode : undefined;
    if (typeof code === 'string' && code in ERROR_CODES) return code as ErrorCode;
  }
  return 'VALIDATION_ERROR';
}

function toFastifyPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

async function resolvePrincipal(
  route: AnyRoute,
  request: FastifyRequest,
  services: AppServices,
  db: Queryable,
): Promise<Principal> {
  if (route.auth === 'none') return { kind: 'anonymous', actor: 'anonymous' };
  const header = request.headers.authorization ?? '';
  const token = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
  const { adminToken } = services.config;
  if (route.auth === 'admin' && !adminToken) throw new DomainError('ADMIN_API_DISABLED');
  if (!token) {
    throw new DomainError(route.auth === 'admin' ? 'ADMIN_TOKEN_REQUIRED' : 'UNAUTHORIZED', undefined);
  }
  if ((route.auth === 'admin' || route.auth === 'entityOrAdmin') && adminToken && secretsEqual(token, adminToken)) {
    return { kind: 'admin', actor: 'admin' };
  }
  if (route.auth === 'admin') throw new DomainError('ADMIN_TOKEN_REQUIRED');
  const session = await authenticate(db, token);
  const entity = await services.entity(db, session.entityId);
  if (!entity) throw new DomainError('UNAUTHORIZED');
  return { kind: 'entity', entity, credentialId: session.credentialId, actor: `credential:${session.credentialId}` };
}

function parseWith<T>(schema: z.ZodType<T> | undefined, value: unknown, location: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value);
  if (!r.success) {
    const problems = zodProblems(r.error, location);
    throw new DomainError(issueCode(r.error), problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
  }
  return r.data;
}

interface IdempotencyRow {
  request_hash: string;
  response_status: number;
  response_body: unknown;
}

interface Outcome {
  status: number;
  body: unknown;
  replayed: boolean;
}

async function runRoute(
  route: AnyRoute,
  request: FastifyRequest,
  reply: FastifyReply,
  services: AppServices,
): Promise<Outcome> {
  const db = services.db;
  const log = request.log as unknown as Logger;
  const params = parseWith(route.params, request.params, 'params');
  const query = parseWith(route.query, request.query, 'query');
  const rawBody = route.rawBody ? (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)) : undefined;
  if (
    route.body &&
    !rawBody &&
    (request.body === undefined || request.body === null) &&
    !route.body.safeParse(undefined).success
  ) {
    throw new DomainError('VALIDATION_ERROR', 'body: a JSON body is required', [
      { field: 'body', message: 'required' },
    ]);
  }
  const body = rawBody ? undefined : parseWith(route.body, request.body, 'body');
  const write = route.write ?? route.method !== 'GET';

  const execute = async (conn: Queryable): Promise<Outcome> => {
    const principal = await resolvePrincipal(route, request, services, conn);
    const audits: Promise<void>[] = [];
    let audited = false;
    let status = route.success.status;
    const ctx: RouteContext<unknown, unknown, unknown> = {
      params,
      query,
      body,
      ...(rawBody ? { rawBody } : {}),
      db: conn,
      principal,
      get entity() {
        if (principal.kind !== 'entity') throw new DomainError('UNAUTHORIZED', 'This endpoint needs an entity token.');
        return principal.entity;
      },
      services,
      log,
      requestId: request.id,
      request,
      reply,
      setStatus: (s: number) => {
        status = s;
      },
      audit: async (entry) => {
        audited = true;
        const p = recordAudit(conn, {
          ...entry,
          entityId:
            entry.entityId !== undefined ? entry.entityId : principal.kind === 'entity' ? principal.entity.id : null,
          actor: principal.actor,
          requestId: request.id,
        });
        audits.push(p);
        return p;
      },
    };

    const idemKey = write && route.method === 'POST' ? request.headers['idempotency-key'] : undefined;
    const key =
      typeof idemKey === 'string' && idemKey.length > 0 && principal.kind !== 'anonymous' ? idemKey : undefined;
    const scope = principal.kind === 'entity' ? principal.entity.id : principal.kind;
    const hash = key
      ? createHash('sha256')
          .update(`${route.method} ${request.url.split('?')[0]} ${canonicalJson(request.body)}`)
          .digest('hex')
      : '';
    if (key) {
      if (key.length > 255) {
        throw new DomainError('VALIDATION_ERROR', 'Idempotency-Key: at most 255 characters', [
          { field: 'header.Idempotency-Key', message: 'at most 255 characters' },
        ]);
      }
      const claimed = await conn.query(
        `INSERT INTO idempotency_keys (scope, key, method, path, request_hash, response_status, response_body)
         VALUES ($1, $2, $3, $4, $5, 0, 'null') ON CONFLICT (scope, key) DO NOTHING RETURNING key`,
        [scope, key, route.method, route.path, hash],
      );
      if (claimed.rows.length === 0) {
        const { rows } = await conn.query<IdempotencyRow>(
          'SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE scope = $1 AND key = $2',
          [scope, key],
        );
        const prior = rows[0]!;
        if (prior.request_hash !== hash) throw new DomainError('IDEMPOTENCY_KEY_REUSED');
        return { status: prior.response_status, body: prior.response_body, replayed: true };
      }
    }
    const result = await route.handler(ctx);
    await Promise.all(audits);
    if (write && !audited) {
      await ctx.audit({ action: `${route.method} ${route.path}`, objectType: route.tags[0] ?? null, after: result });
    }
    if (key) {
      await conn.query(
        'UPDATE idempotency_keys SET response_status = $3, response_body = $4 WHERE scope = $1 AND key = $2',
        [scope, key, status, JSON.stringify(result ?? null)],
      );
    }
    return { status, body: result, replayed: false };
  };

  return write ? db.transaction(execute) : execute(db);
}

export interface BuildOptions {
  db: Database;
  config: AppConfig;
  logger?: Logger | boolean;
  /** Extra routes. */
  routes?: AnyRoute[];
  /** The sync engine behind the pipeline, run, exception, webhook and import endpoints. */
  sync?: SyncService;
}

/** Builds the HTTP application (not yet listening). */
export async function buildServer(options: BuildOptions): Promise<FastifyInstance> {
  const services = new AppServices(options.db, options.config, options.sync ?? null);
  const app: FastifyInstance = Fastify({
    ...(typeof options.logger === 'object' ? { loggerInstance: options.logger } : { logger: options.logger ?? false }),
    bodyLimit: options.config.bodyLimitBytes,
    // One line per request from the onResponse hook below instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
    },
  }) as unknown as FastifyInstance;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, parseJsonExact(text));
    } catch (err) {
      done(new DomainError('INVALID_JSON', `The body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });

  app.setErrorHandler((err: unknown, request, reply) => {
    const domain = isDomainError(err) ? err : dateRuleViolation(err);
    if (domain) {
      return reply.status(domain.status).send(errorBody(domain.code, domain.message, domain.details));
    }
    const fe = err as { code?: string; statusCode?: number; message?: string };
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return reply.status(413).send(errorBody('PAYLOAD_TOO_LARGE', ERROR_CODES.PAYLOAD_TOO_LARGE[1]));
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return reply.status(415).send(errorBody('UNSUPPORTED_MEDIA_TYPE', ERROR_CODES.UNSUPPORTED_MEDIA_TYPE[1]));
    if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
      return reply.status(400).send(errorBody('INVALID_JSON', fe.message ?? 'invalid body'));
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send(errorBody('VALIDATION_ERROR', fe.message ?? 'bad request'));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorBody('INTERNAL_ERROR', ERROR_CODES.INTERNAL_ERROR[1]));
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send(errorBody('ROUTE_NOT_FOUND', `No endpoint ${request.method} ${request.url.split('?')[0]}`)),
  );

  // The access log: method, path, status and time at info; what was asked (headers redacted) at debug.
  app.addHook('onResponse', async (request, reply) => {
    const path = request.url.split('?')[0];
    const ms = Math.round(reply.elapsedTime);
    request.log.debug({ req: request }, 'request');
    request.log.info(
      { method: request.method, path, status: reply.statusCode, ms },
      `${request.method} ${path} ${reply.statusCode} ${ms}ms`,
    );
  });

  const routes = [...allRoutes, ...(options.routes ?? [])];
  for (const route of routes) {
    const routeOptions: RouteOptions = {
      method: route.method,
      url: toFastifyPath(route.path),
      handler: async (request, reply) => {
        const outcome = await runRoute(route, request, reply, services);
        if (reply.sent) return reply;
        if (outcome.replayed) reply.header('Idempotent-Replayed', 'true');
        if (route.success.contentType && Buffer.isBuffer(outcome.body)) {
          return reply.status(outcome.status).type(route.success.contentType).send(outcome.body);
        }
        if (outcome.body === undefined || outcome.status === 204) return reply.status(outcome.status).send();
        return reply.status(outcome.status).type('application/json; charset=utf-8').send(JSON.stringify(outcome.body));
      },
    };
    if (route.multipart) {
      // Uploads parse multipart/form-data in a scope of their own; every other route still answers 415 to it.
      void app.register(async (scope) => {
        await scope.register(multipart, { limits: { fileSize: options.config.bodyLimitBytes, files: 1, fields: 20 } });
        scope.route(routeOptions);
      });
      continue;
    }
    if (!route.rawBody) app.route(routeOptions);
    else {
      // A signed body must reach the handler as the bytes that were signed: such a route gets a
      // parser of its own that keeps the Buffer, in its own plugin scope so that every other
      // route keeps the exact JSON parser above.
      void app.register(async (scope) => {
        scope.removeAllContentTypeParsers();
        scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
        scope.route(routeOptions);
      });
    }
  }

  const openapi = buildOpenApi(routes);
  app.get('/openapi.json', async (_req, reply) => reply.type('application/json').send(openapi));
  const docsHtml = renderDocsPage(openapi);
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(docsHtml));
  return app;
}
