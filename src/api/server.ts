import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RouteOptions,
} from 'fastify';
import multipart from '@fastify/multipart';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import type { Logger } from 'pino';
import { type Database, type Queryable, isDatabaseUnavailable, isStorageFull, retryConflicts } from '../db/database.ts';
import { DomainError, ERROR_CODES, type ErrorCode, type FieldProblem, isDomainError } from '../domain/errors.ts';
import { recordAudit } from '../ledger/audit.ts';
import { purgeLoginFailures } from '../ledger/sessions.ts';
import { dateRuleViolation } from '../ledger/periods.ts';
import { refreshAllGlBalances } from '../ledger/reports/gl-balances.ts';
import { refreshAllOpenItems } from '../ledger/reports/open-items.ts';
import { canonicalJson, parseJsonExact } from '../domain/json.ts';
import { type AnyRoute, JsonText, type Principal, type RouteContext } from './route.ts';
import { checkCsrf } from './cookie-auth.ts';
import { ANONYMOUS, checkRole, principalOf } from './principal.ts';
import { setSecurityHeaders } from './security-headers.ts';
import { type AppConfig, AppServices } from './services.ts';
import { allRoutes } from './routes/index.ts';
import type { SyncService } from '../sync/service.ts';
import { buildOpenApi } from './openapi.ts';
import { DOCS_CSS, DOCS_STYLESHEET_PATH, renderDocsPage } from './docs-page.ts';
import { registerDashboard } from '../web/plugin.ts';
import {
  claimKey,
  type IdempotencyClaim,
  idempotencyModeOf,
  purgeExpired,
  recordOutcome,
  releaseKey,
  requestHash,
} from './idempotency.ts';
import { assertStorableText, MAX_JSON_DEPTH, nestsDeeperThan } from './text-guard.ts';
import { readUpload, type Upload, uploadFingerprint, uploadLimits } from './uploads.ts';
import { FailedAuthThrottle } from './auth-throttle.ts';

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

function parseWith<T>(schema: z.ZodType<T> | undefined, value: unknown, location: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value);
  if (!r.success) {
    const problems = zodProblems(r.error, location);
    throw new DomainError(issueCode(r.error), problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
  }
  return r.data;
}

interface Outcome {
  status: number;
  body: unknown;
  /** The `Location` header: set by the route, or stored with a replayed answer. */
  location?: string | null | undefined;
  replayed: boolean;
}

// Who is calling is settled in onRequest, before the body is read; the route finds it here.
const principals = new WeakMap<FastifyRequest, Principal>();
const uploads = new WeakMap<FastifyRequest, Upload>();

const PURGE_INTERVAL_MS = 10 * 60 * 1000;
/** How often the open items caches are brought up to date between page views: cheap when nothing changed. */
const OPEN_ITEMS_REFRESH_MS = 60 * 1000;

/** Bodies of anonymous callers (login) are small: nobody unauthenticated gets the server to read megabytes. */
export const ANONYMOUS_BODY_LIMIT_BYTES = 16 * 1024;

/** The `Idempotency-Key` header, if sent: printable ASCII, at most 255 characters. */
function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const given = request.headers['idempotency-key'];
  const key = Array.isArray(given) ? given.join(',') : given;
  if (key === undefined || key === '') return undefined;
  const problem =
    key.length > 255 ? 'at most 255 characters' : /^[\x21-\x7e]+$/.test(key) ? null : 'printable ASCII only';
  if (problem) {
    throw new DomainError('VALIDATION_ERROR', `Idempotency-Key: ${problem}`, [
      { field: 'header.Idempotency-Key', message: problem },
    ]);
  }
  return key;
}

/** The claim for this request's Idempotency-Key, or null when the route runs without one. */
function idempotencyClaim(
  route: AnyRoute,
  request: FastifyRequest,
  principal: Principal,
  upload: Upload | undefined,
): IdempotencyClaim | null {
  const mode = idempotencyModeOf(route);
  if (mode === null) return null;
  const key = idempotencyKeyOf(request);
  if (key === undefined) return null;
  if (typeof mode === 'object') {
    if ('refuse' in mode) {
      throw new DomainError('IDEMPOTENCY_KEY_NOT_SUPPORTED', `Idempotency-Key: ${mode.refuse}`, [
        { field: 'header.Idempotency-Key', message: mode.refuse },
      ]);
    }
    return null;
  }
  if (principal.kind === 'anonymous') return null; // refused at start-up (buildServer): never reached
  const payload = upload ? uploadFingerprint(upload) : request.body;
  return {
    scope: principal.kind === 'entity' ? principal.entity.id : principal.kind,
    key,
    hash: requestHash(route.method, request.url, canonicalJson(payload ?? null)),
    secret: mode === 'secret',
  };
}

async function runRoute(
  route: AnyRoute,
  request: FastifyRequest,
  reply: FastifyReply,
  services: AppServices,
): Promise<Outcome> {
  const db = services.db;
  const log = request.log as unknown as Logger;
  const principal = principals.get(request) ?? ANONYMOUS;
  assertStorableText(request.params, 'params');
  assertStorableText(request.query, 'query');
  if (!route.rawBody) assertStorableText(request.body, 'body');
  const params = parseWith(route.params, request.params, 'params');
  const query = parseWith(route.query, request.query, 'query');
  const upload = uploads.get(request);
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
  const claim = idempotencyClaim(route, request, principal, upload);
  const ttl = services.config.idempotencyTtlSeconds;

  const execute = async (conn: Queryable): Promise<Outcome> => {
    if (claim && write) {
      const prior = await claimKey(conn, claim, route, ttl);
      if (prior) return { ...prior, replayed: true };
    }
    const audits: Promise<void>[] = [];
    let audited = false;
    let status = route.success.status;
    const ctx: RouteContext<unknown, unknown, unknown> = {
      params,
      query,
      body,
      ...(rawBody ? { rawBody } : {}),
      ...(upload ? { upload } : {}),
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

    const result = await route.handler(ctx);
    await Promise.all(audits);
    if (write && !audited) {
      await ctx.audit({ action: `${route.method} ${route.path}`, objectType: route.tags[0] ?? null, after: result });
    }
    const header = reply.getHeader('location');
    const location = typeof header === 'string' ? header : null;
    if (claim && write) await recordOutcome(conn, claim, { status, body: result, location });
    return { status, body: result, location, replayed: false };
  };

  // A deadlock or serialization failure that lock ordering did not prevent is retried, never a 500.
  if (write) return retryConflicts(() => db.transaction(execute));
  if (!claim) return execute(db);
  // A route that commits its own transactions (runs, imports, retries): the key is claimed first,
  // in a statement of its own, so that a concurrent retry sees it and waits its turn.
  const prior = await claimKey(db, claim, route, ttl);
  if (prior) return { ...prior, replayed: true };
  let outcome: Outcome;
  try {
    outcome = await execute(db);
  } catch (err) {
    await releaseKey(db, claim).catch((releaseErr: unknown) =>
      log.warn({ err: releaseErr }, 'could not release an Idempotency-Key claim; it is taken over after 15 minutes'),
    );
    throw err;
  }
  await recordOutcome(db, claim, outcome);
  return outcome;
}

// Query parameters that carry credentials: an OAuth callback's code and state, tokens.
const SECRET_QUERY = /([?&](?:code|state|code_verifier|token|access_token|refresh_token|id_token)=)[^&#]*/gi;

/** A request URL as logged: the values of credential-bearing query parameters replaced. */
export function loggableUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1[redacted]');
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
  // The access log: method, path, status and time at info; what was asked (headers redacted) at
  // debug. And the request in the latency histogram, by route template.
  const answered = (request: FastifyRequest, reply: FastifyReply): void => {
    const path = request.url.split('?')[0];
    const ms = Math.round(reply.elapsedTime);
    services.metrics.observeRequest(
      request.method,
      request.routeOptions.url,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    request.log.debug(
      { req: { method: request.method, url: loggableUrl(request.url), host: request.host, remoteAddress: request.ip } },
      'request',
    );
    request.log.info(
      { method: request.method, path, status: reply.statusCode, ms },
      `${request.method} ${path} ${reply.statusCode} ${ms}ms`,
    );
  };
  const app: FastifyInstance = Fastify({
    ...(typeof options.logger === 'object' ? { loggerInstance: options.logger } : { logger: options.logger ?? false }),
    bodyLimit: options.config.bodyLimitBytes,
    // One line per request from the onResponse hook below instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
    },
    // A URL the router cannot read (a broken %-escape, a path segment over 100 characters) is
    // answered before any hook runs: without this, Fastify writes its own body and none of our headers.
    frameworkErrors: (err: { code?: string }, request: FastifyRequest, reply: FastifyReply) => {
      setSecurityHeaders(request, reply, services);
      const problem = 'the path is not a valid URL (a broken %-escape, or a segment over 100 characters)';
      const body = errorBody('VALIDATION_ERROR', `${problem} (${err.code ?? 'bad URL'})`, [
        { field: 'url', message: problem },
      ]);
      void reply.status(400).type('application/json; charset=utf-8').send(JSON.stringify(body));
      // Answered before routing, so without the onResponse hook: logged and counted here alike.
      answered(request, reply);
    },
  }) as unknown as FastifyInstance;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    if (nestsDeeperThan(text)) {
      return done(
        new DomainError('INVALID_JSON', `The body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`),
        undefined,
      );
    }
    try {
      done(null, parseJsonExact(text));
    } catch (err) {
      done(new DomainError('INVALID_JSON', `The body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });

  app.setErrorHandler((err: unknown, request, reply) => {
    const domain = isDomainError(err) ? err : dateRuleViolation(err);
    if (domain) {
      // Every throttle says when to come back, in the header as in the body.
      const wait = (domain.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
      if (domain.status === 429 && typeof wait === 'number') reply.header('retry-after', String(wait));
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
    // The database's own failures. A full disk fails the statement and rolls its transaction back;
    // a database that went away is asked again later (a write with its Idempotency-Key is safe to resend).
    if (isStorageFull(err)) {
      request.log.error({ err }, 'the disk that holds the database is full');
      return reply.status(507).send(errorBody('STORAGE_FULL', ERROR_CODES.STORAGE_FULL[1]));
    }
    if (isDatabaseUnavailable(err)) {
      request.log.warn({ err }, 'the database is unavailable');
      return reply
        .status(503)
        .header('retry-after', '5')
        .send(errorBody('SERVICE_UNAVAILABLE', ERROR_CODES.SERVICE_UNAVAILABLE[1]));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorBody('INTERNAL_ERROR', ERROR_CODES.INTERNAL_ERROR[1]));
  });

  app.addHook('onSend', async (request, reply, payload) => {
    setSecurityHeaders(request, reply, services);
    return payload;
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send(errorBody('ROUTE_NOT_FOUND', `No endpoint ${request.method} ${request.url.split('?')[0]}`)),
  );

  app.addHook('onResponse', async (request, reply) => answered(request, reply));

  const authThrottle = new FailedAuthThrottle(services.config.authMaxFailures, services.config.loginWindowSeconds);
  const routes = [...allRoutes, ...(options.routes ?? [])];
  for (const route of routes) {
    const mode = idempotencyModeOf(route);
    if (route.auth === 'none' && (mode === 'replay' || mode === 'secret')) {
      // An anonymous caller has no scope of its own: a stored answer could be replayed to anyone.
      throw new Error(`${route.method} ${route.path}: an anonymous POST must refuse or ignore Idempotency-Key`);
    }
    const routeOptions: RouteOptions = {
      method: route.method,
      url: toFastifyPath(route.path),
      bodyLimit: Math.min(
        route.bodyLimitBytes ?? (route.auth === 'none' ? ANONYMOUS_BODY_LIMIT_BYTES : Infinity),
        services.config.bodyLimitBytes,
      ),
      // Who is calling is settled before a byte of the body is read: an anonymous request to a
      // route that needs a token is answered 401 without reading or validating what it sent.
      onRequest: async (request) => {
        if (route.auth !== 'none') {
          const principal = await principalOf(route, request, services, authThrottle);
          // A change made with the cookie proves it comes from our own pages before anything else.
          checkCsrf(request, principal, services);
          checkRole(route, principal);
          principals.set(request, principal);
        }
        if (route.beforeBody) {
          assertStorableText(request.params, 'params');
          await route.beforeBody(request, services);
        }
      },
      ...(route.multipart
        ? {
            preHandler: async (request: FastifyRequest) => {
              const upload = await readUpload(request);
              assertStorableText(upload.fields, 'form');
              uploads.set(request, upload);
            },
          }
        : {}),
      handler: async (request, reply) => {
        const outcome = await runRoute(route, request, reply, services);
        if (reply.sent) return reply;
        if (outcome.replayed) {
          reply.header('Idempotent-Replayed', 'true');
          if (outcome.location) reply.header('location', outcome.location);
        }
        if (route.success.contentType && Buffer.isBuffer(outcome.body)) {
          // A route serving stored files (attachments) sets each file's own type.
          const type = reply.getHeader('content-type');
          return reply
            .status(outcome.status)
            .type(typeof type === 'string' ? type : route.success.contentType)
            .send(outcome.body);
        }
        if (outcome.body === undefined || outcome.status === 204) return reply.status(outcome.status).send();
        if (outcome.body instanceof JsonText) {
          return reply.status(outcome.status).type('application/json; charset=utf-8').send(outcome.body.text);
        }
        return reply.status(outcome.status).type('application/json; charset=utf-8').send(JSON.stringify(outcome.body));
      },
    };
    if (route.multipart) {
      // Uploads parse multipart/form-data in a scope of their own; every other route still answers 415 to it.
      void app.register(async (scope) => {
        await scope.register(multipart, { limits: uploadLimits(options.config.bodyLimitBytes) });
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

  // Expired idempotency records and old failed logins are purged at start and every 10 minutes;
  // until then an expired record is never replayed, so the purge only keeps the tables small.
  const purge = async () => {
    await purgeExpired(services.db);
    await purgeLoginFailures(services.db);
  };
  // The open items and GL balances caches, in the background: built at start for a ledger that has
  // none yet (seconds at a million transactions), then every minute, so that a page view after a
  // busy hour does not pay for working in all of its documents (docs/ledger.md, "Open items at scale").
  const refreshCaches = async () => {
    await refreshAllOpenItems(services.db).catch((err: unknown) =>
      app.log.warn({ err }, 'bringing the open items caches up to date failed'),
    );
    await refreshAllGlBalances(services.db).catch((err: unknown) =>
      app.log.warn({ err }, 'bringing the GL balances caches up to date failed'),
    );
  };
  let purgeTimer: NodeJS.Timeout | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> | undefined;
  const refreshInBackground = () => {
    refreshing ??= refreshCaches().finally(() => (refreshing = undefined));
  };
  app.addHook('onReady', async () => {
    await purge();
    refreshInBackground();
    purgeTimer = setInterval(() => {
      purge().catch((err: unknown) => app.log.warn({ err }, 'purging expired idempotency records failed'));
    }, PURGE_INTERVAL_MS);
    purgeTimer.unref();
    refreshTimer = setInterval(refreshInBackground, OPEN_ITEMS_REFRESH_MS);
    refreshTimer.unref();
  });
  app.addHook('onClose', async () => {
    clearInterval(purgeTimer);
    clearInterval(refreshTimer);
    await refreshing;
  });

  const openapi = buildOpenApi(routes);
  app.get('/openapi.json', async (_req, reply) => reply.type('application/json').send(openapi));
  const docsHtml = renderDocsPage(openapi);
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(docsHtml));
  // The page's stylesheet is a file of its own: the policy allows no inline style.
  app.get(DOCS_STYLESHEET_PATH, async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(DOCS_CSS),
  );
  // The web dashboard at / (docs/dashboard.md), counting refused session cookies in the same throttle.
  await registerDashboard(app, services, authThrottle);
  return app;
}
