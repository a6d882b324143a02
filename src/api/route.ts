import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Queryable } from '../db/database.ts';
import type { ErrorCode } from '../domain/errors.ts';
import type { Role } from '../domain/roles.ts';
import type { EntityContext } from '../ledger/entities.ts';
import type { AuditEntry } from '../ledger/audit.ts';
import type { AppServices } from './services.ts';
import type { IdempotencyMode } from './idempotency.ts';
import type { Upload } from './uploads.ts';

export type AuthMode = 'none' | 'entity' | 'admin' | 'entityOrAdmin';

export { type Role, ROLES, roleAtLeast } from '../domain/roles.ts';

/** A caller acting in one entity: the entity's key pair (owner), a user's API key, or a user's browser session. */
export interface EntityPrincipal {
  kind: 'entity';
  entity: EntityContext;
  /** The key pair the bearer token came from; null for a user's API key or session. */
  credentialId: string | null;
  role: Role;
  /** The named user behind the request; null for the entity key pair. */
  user: { id: string; email: string } | null;
  via: 'keyPair' | 'apiKey' | 'cookie';
  /** `credential:<id>` for the key pair, `user:<id>` for a user. */
  actor: string;
  /** The session's CSRF token (cookie sessions only). */
  csrfToken?: string;
}

export type Principal = EntityPrincipal | { kind: 'admin'; actor: 'admin' } | { kind: 'anonymous'; actor: 'anonymous' };

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The body's exact bytes, on routes declared with `rawBody` (a signature is computed over them). */
  rawBody?: Buffer;
  /** The form read in full, on routes declared with `multipart`. */
  upload?: Upload;
  /** The transaction for writes; the database for reads. */
  db: Queryable;
  principal: Principal;
  /** The entity the token belongs to; throws for admin or anonymous callers. */
  entity: EntityContext;
  services: AppServices;
  log: Logger;
  requestId: string;
  /** Records an audit entry in the same transaction as the write. */
  audit: (entry: Omit<AuditEntry, 'entityId' | 'actor' | 'requestId'> & { entityId?: string | null }) => Promise<void>;
  request: FastifyRequest;
  /** Overrides the success status (a PUT that created answers 201 instead of 200). */
  setStatus: (status: number) => void;
  reply: FastifyReply;
}

export interface RouteSpec<PS extends z.ZodType, QS extends z.ZodType, BS extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** OpenAPI-style path: `/v1/customers/{code}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  auth: AuthMode;
  /**
   * The least role an entity principal needs. Default: `viewer` for GET, `accountant` for any
   * other method. A principal below it is refused 403 FORBIDDEN_ROLE. The admin token passes.
   */
  role?: Role;
  params?: PS;
  query?: QS;
  body?: BS;
  /**
   * The handler gets the body as its exact bytes (`ctx.rawBody`) and validates it itself, for
   * instance after checking a signature over those bytes; `body` then only documents it.
   */
  rawBody?: boolean;
  /**
   * Checks that run before the body is read, on routes that authenticate otherwise than by token
   * (a webhook: its pipeline must exist and take deliveries); throw a DomainError to refuse.
   */
  beforeBody?: (request: FastifyRequest, services: AppServices) => Promise<void>;
  /** The largest body taken (default: the server's limit; 16 KiB on anonymous routes). */
  bodyLimitBytes?: number;
  /** What an `Idempotency-Key` does on this POST (src/api/idempotency.ts); default `replay`. */
  idempotency?: IdempotencyMode;
  /** Writes run in one transaction with the idempotency record and the audit entries. Default: not GET. */
  write?: boolean;
  success: { status: number; schema?: z.ZodType; description: string; contentType?: string };
  errors?: ErrorCode[];
  /** A request body shown in the API reference. */
  example?: unknown;
  /**
   * The route takes `multipart/form-data` (a file upload) instead of JSON; the handler reads the
   * parts from `ctx.request`. `fields` describes the form for the API reference.
   */
  multipart?: { fields: z.ZodType };
  handler: (ctx: RouteContext<z.output<PS>, z.output<QS>, z.output<BS>>) => Promise<unknown>;
}

/**
 * What a GET handler answers when it has written its JSON body itself: sent as it is, with the
 * JSON content type, instead of being serialised. The route's `success.schema` still documents it.
 */
export class JsonText {
  constructor(readonly text: string) {}
}

/** The least role a route needs (its `role`, else by method). */
export function minimumRole(route: { method: string; role?: Role }): Role {
  return route.role ?? (route.method === 'GET' ? 'viewer' : 'accountant');
}

// The registry keeps specs with their own generic arguments erased; each was type-checked where it was defined.
export type AnyRoute = RouteSpec<z.ZodType, z.ZodType, z.ZodType>;

/** Declares an endpoint. The same schemas validate requests and produce the OpenAPI document. */
export function defineRoute<
  PS extends z.ZodType = z.ZodUndefined,
  QS extends z.ZodType = z.ZodUndefined,
  BS extends z.ZodType = z.ZodUndefined,
>(spec: RouteSpec<PS, QS, BS>): AnyRoute {
  return spec;
}
