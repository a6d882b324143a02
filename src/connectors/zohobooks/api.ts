import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import type { CallKind } from '../../sync/remote/contracts.ts';
import { SYSTEM } from './settings.ts';

/*
 * The Zoho Books REST API over the shared RemoteClient: every request names the organisation
 * (`organization_id`), bodies are JSON written and read with lossless-json so that an amount is
 * never a float on our side, and every answer is classified once. Zoho answers
 * `{"code": 0, "message": …, <entity>: …}` on success and `{"code": <nonzero>, "message": …}` with
 * 400/401/404/405/429/500 otherwise (zoho.com/books/api/v3/errors). 429 and 5xx never reach this
 * file: the client retries or throws them as retryable.
 */

export type ZohoObject = Record<string, unknown>;

/** What Zoho answered: `ok` with the body, or its refusal (code and message). */
export type ZohoAnswer =
  { ok: true; status: number; body: ZohoObject } | { ok: false; status: number; code: number | null; message: string };

/** Zoho's "does not exist" codes for the entities this target reads by id. */
export const NOT_FOUND_CODES = new Set([1002, 1004, 2006, 12004, 24001]);

export interface Call {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  query?: Record<string, string | undefined> | undefined;
  json?: unknown;
  accept?: string | undefined;
}

export class ZohoApi {
  constructor(
    readonly client: RemoteClient,
    readonly organizationId: string,
  ) {}

  /** One request. Writes are never retried by the client: Zoho takes no idempotency key. */
  async call(c: Call, signal?: AbortSignal): Promise<ZohoAnswer> {
    const kind: CallKind = c.method === 'GET' ? 'read' : 'write';
    const res = await this.client.request(
      {
        method: c.method,
        path: c.path,
        query: { organization_id: this.organizationId, ...c.query },
        ...(c.json !== undefined
          ? { body: stringifyLossless(c.json), headers: { 'content-type': 'application/json' } }
          : {}),
        kind,
        retrySafe: kind === 'read',
        accept: c.accept,
      },
      signal,
    );
    let body: unknown;
    try {
      body = parseLossless(res.text);
    } catch {
      body = null;
    }
    const obj = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as ZohoObject) : null;
    const code = obj ? codeOf(obj.code) : null;
    if (res.status >= 200 && res.status < 300) {
      if (!obj || code !== 0)
        throw new ConnectorError(
          SYSTEM,
          `${c.method} ${c.path} answered ${res.status} without Zoho's success body (code 0); the answer cannot be read`,
          { status: res.status, retryable: false },
        );
      return { ok: true, status: res.status, body: obj };
    }
    const message = obj && typeof obj.message === 'string' ? obj.message : '';
    return { ok: false, status: res.status, code, message: this.client.redact(message).slice(0, 300) };
  }

  /** A read that must succeed: a refusal is thrown, not retryable (a setting or a permission is wrong). */
  async read(path: string, query: Record<string, string | undefined>, signal?: AbortSignal): Promise<ZohoObject> {
    const a = await this.call({ method: 'GET', path, query }, signal);
    if (!a.ok) throw refusedRead(path, a);
    return a.body;
  }

  /** An entity by id, or null when Zoho says it does not exist. */
  async byId(path: string, key: string, signal?: AbortSignal): Promise<ZohoObject | null> {
    const a = await this.call({ method: 'GET', path }, signal);
    if (!a.ok) {
      if (a.status === 404 || (a.code !== null && NOT_FOUND_CODES.has(a.code))) return null;
      throw refusedRead(path, a);
    }
    return entity(a.body, key, path);
  }

  /** The invoice as PDF (`accept=pdf`, zoho.com/books/api/v3 "Response formats"). */
  async pdf(invoiceId: string, signal?: AbortSignal): Promise<Buffer> {
    const path = `/invoices/${encodeURIComponent(invoiceId)}`;
    const res = await this.client.request(
      {
        method: 'GET',
        path,
        query: { organization_id: this.organizationId, accept: 'pdf' },
        accept: 'application/pdf',
        kind: 'read',
        retrySafe: true,
      },
      signal,
    );
    if (res.status !== 200 || res.body.subarray(0, 5).toString('latin1') !== '%PDF-')
      throw new ConnectorError(SYSTEM, `GET ${path} (PDF) answered ${res.status} without a PDF`, {
        status: res.status,
        retryable: res.status >= 500,
      });
    return res.body;
  }
}

function codeOf(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (v instanceof LosslessNumber) return Number(v.value);
  return null;
}

/** How a refusal is told: Zoho's code and its message, short and redacted. */
export function describe(a: Extract<ZohoAnswer, { ok: false }>): string {
  return `${a.status}${a.code !== null ? ` code ${a.code}` : ''}${a.message ? `: ${a.message}` : ''}`;
}

function refusedRead(path: string, a: Extract<ZohoAnswer, { ok: false }>): ConnectorError {
  return new ConnectorError(SYSTEM, `GET ${path} was refused (${describe(a)})`, {
    status: a.status,
    retryable: false,
    code: a.status === 401 ? 'TARGET_AUTH_REVOKED' : null,
  });
}

/** The entity under `key` of a success body; a body without it cannot be understood. */
export function entity(body: ZohoObject, key: string, what: string): ZohoObject {
  const e = body[key];
  if (e === null || typeof e !== 'object' || Array.isArray(e))
    throw new ConnectorError(SYSTEM, `${what} answered without its ${key}`, { retryable: false });
  return e as ZohoObject;
}

/** The list under `key` of a success body. */
export function list(body: ZohoObject, key: string, what: string): ZohoObject[] {
  const e = body[key];
  if (!Array.isArray(e))
    throw new ConnectorError(SYSTEM, `${what} answered without its ${key} list`, { retryable: false });
  return e as ZohoObject[];
}

/** A Zoho field as text: ids, numbers (lossless) and strings alike. */
export function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof LosslessNumber) return v.value;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return '';
}
