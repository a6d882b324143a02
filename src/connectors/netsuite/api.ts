import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import { SYSTEM } from './settings.ts';

/*
 * The SuiteTalk REST record service (`/services/rest/record/v1`) over the shared RemoteClient.
 * Bodies are JSON written and read with lossless-json, so an amount is never a float on our side.
 * Every answer is classified once: NetSuite answers success with 200 (a record) or 204 (a write,
 * no body), and refuses with 4xx and its error body `{"type", "title", "status",
 * "o:errorDetails": [{"detail", "o:errorCode"}]}` ("Error Handling in REST Web Services"). 429 and
 * 5xx never reach this file: the client retries them or throws them as retryable.
 */

export type NsObject = Record<string, unknown>;

/** What NetSuite answered: `ok` with the record (or null for a 204), or its refusal. */
export type NsAnswer =
  | { ok: true; status: number; body: NsObject | null; location: string | null }
  | { ok: false; status: number; code: string | null; detail: string };
export type NsRefusal = Extract<NsAnswer, { ok: false }>;

export interface Call {
  method: 'GET' | 'PUT' | 'PATCH' | 'POST';
  path: string;
  query?: Record<string, string | undefined> | undefined;
  json?: unknown;
  /** An upsert by external id can be sent again after a lost answer: it updates what the first one made. */
  retrySafe?: boolean | undefined;
  headers?: Record<string, string> | undefined;
}

export const RECORD = '/record/v1';
/** SuiteQL over REST, beside the record service under /services/rest. */
export const SUITEQL = '/query/v1/suiteql';

export class NetSuiteApi {
  constructor(readonly client: RemoteClient) {}

  async call(c: Call, signal?: AbortSignal): Promise<NsAnswer> {
    const read = c.method === 'GET' || c.path === SUITEQL;
    const res = await this.client.request(
      {
        method: c.method,
        path: c.path,
        query: c.query,
        ...(c.json !== undefined
          ? { body: stringifyLossless(c.json), headers: { 'content-type': 'application/json', ...c.headers } }
          : {}),
        kind: read ? 'read' : 'write',
        retrySafe: read || c.retrySafe === true,
      },
      signal,
    );
    let body: unknown = null;
    if (res.text.trim() !== '')
      try {
        body = parseLossless(res.text);
      } catch {
        body = null;
      }
    const obj = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as NsObject) : null;
    // Token-based authentication signs each request: a 401 is the account refusing the token itself.
    if (res.status === 401)
      throw new ConnectorError(
        SYSTEM,
        `${c.method} ${c.path} was refused (401 ${errorOf(obj).code ?? 'INVALID_LOGIN'}): the token was revoked or its credentials are wrong; issue a new token (Setup → Users/Roles → Access Tokens) and update the pipeline`,
        { status: 401, retryable: false, code: 'TARGET_AUTH_REVOKED' },
      );
    if (res.status >= 200 && res.status < 300) {
      if (read && !obj)
        throw new ConnectorError(SYSTEM, `${c.method} ${c.path} answered ${res.status} without a record`, {
          status: res.status,
          retryable: false,
        });
      return { ok: true, status: res.status, body: obj, location: res.headers.get('location') };
    }
    const { code, detail } = errorOf(obj);
    return { ok: false, status: res.status, code, detail: this.client.redact(detail).slice(0, 300) };
  }

  /** A record by its path (`/customer/123`, `/invoice/eid:INV-1`), or null when NetSuite says it does not exist. */
  async get(path: string, signal?: AbortSignal, expand = false): Promise<NsObject | null> {
    const a = await this.call(
      { method: 'GET', path: `${RECORD}${path}`, query: expand ? { expandSubResources: 'true' } : undefined },
      signal,
    );
    if (!a.ok) {
      if (a.status === 404) return null;
      throw refusedRead(path, a);
    }
    return a.body;
  }

  /**
   * The rows of a SuiteQL query (`POST /query/v1/suiteql`, `Prefer: transient`), page by page of
   * 1,000 ("Executing SuiteQL Queries Through REST Web Services"). A read: sent again freely.
   */
  async query(q: string, signal?: AbortSignal): Promise<NsObject[]> {
    const out: NsObject[] = [];
    for (let offset = 0; ; offset += 1000) {
      const a = await this.call(
        {
          method: 'POST',
          path: SUITEQL,
          query: { limit: '1000', offset: String(offset) },
          json: { q },
          headers: { prefer: 'transient' },
          retrySafe: true,
        },
        signal,
      );
      if (!a.ok)
        throw new ConnectorError(SYSTEM, `SuiteQL query was refused (${describe(a)})`, {
          status: a.status,
          retryable: false,
          code: a.status === 401 ? 'TARGET_AUTH_REVOKED' : null,
        });
      const items = Array.isArray(a.body?.items) ? (a.body.items as NsObject[]) : [];
      out.push(...items);
      if (a.body?.hasMore !== true || items.length === 0) return out;
    }
  }

  /** PUT `/{type}/eid:{externalId}`: creates the record or updates the one under that external id. */
  upsert(type: string, externalId: string, json: NsObject, signal?: AbortSignal, replace?: string): Promise<NsAnswer> {
    return this.call(
      {
        method: 'PUT',
        path: `${RECORD}/${type}/${eid(externalId)}`,
        query: replace ? { replace } : undefined,
        json,
        retrySafe: true,
      },
      signal,
    );
  }

  /**
   * POST `/{type}` with `externalId` in the body: creates the record, and NetSuite refuses it when a
   * record of the type holds that external id already ("Using External IDs": a record is identified
   * by its type and external id). Never sent again by the client: a lost answer is an unknown
   * outcome, looked up by the external id.
   */
  create(type: string, externalId: string, json: NsObject, signal?: AbortSignal): Promise<NsAnswer> {
    return this.call({ method: 'POST', path: `${RECORD}/${type}`, json: { ...json, externalId } }, signal);
  }

  /**
   * PATCH `/{type}/{id}`. Sent again by the client only when `retrySafe` (fields set to values);
   * an application computed from what the record held is not.
   */
  patch(
    type: string,
    id: string,
    json: NsObject,
    signal?: AbortSignal,
    replace?: string,
    retrySafe = false,
  ): Promise<NsAnswer> {
    return this.call(
      {
        method: 'PATCH',
        path: `${RECORD}/${type}/${encodeURIComponent(id)}`,
        query: replace ? { replace } : undefined,
        json,
        retrySafe,
      },
      signal,
    );
  }
}

/** The first error of NetSuite's error body: its `o:errorCode` and `detail` (else the `title`). */
function errorOf(obj: NsObject | null): { code: string | null; detail: string } {
  const first = Array.isArray(obj?.['o:errorDetails']) ? (obj['o:errorDetails'] as NsObject[])[0] : undefined;
  const code = typeof first?.['o:errorCode'] === 'string' ? first['o:errorCode'] : null;
  const detail = typeof first?.detail === 'string' ? first.detail : typeof obj?.title === 'string' ? obj.title : '';
  return { code, detail };
}

/** What NetSuite takes as an external id in a URL: letters, digits, `_` and `-` ("Using External IDs"). */
export const EXTERNAL_ID = /^[A-Za-z0-9_-]+$/;

/** Why a reference cannot be a NetSuite external id, or null when it can. */
export function externalIdProblem(what: string, value: string): string | null {
  if (EXTERNAL_ID.test(value)) return null;
  const bad = [...new Set(value.replace(/[A-Za-z0-9_-]/g, ''))].map((c) => JSON.stringify(c)).join(' ');
  return `${SYSTEM} external ids take letters, digits, "_" and "-" only; ${what} "${value}" has ${bad}: change it in the source (this target never alters a reference)`;
}

/** `eid:` and the external id, escaped for a path segment ("Using External IDs"). */
export const eid = (externalId: string): string => `eid:${encodeURIComponent(externalId)}`;

/** How a refusal is told: the status, NetSuite's error code and its detail, short and redacted. */
export function describe(a: NsRefusal): string {
  return `${a.status}${a.code ? ` ${a.code}` : ''}${a.detail ? `: ${a.detail}` : ''}`;
}

function refusedRead(path: string, a: NsRefusal): ConnectorError {
  return new ConnectorError(SYSTEM, `GET ${RECORD}${path} was refused (${describe(a)})`, {
    status: a.status,
    retryable: false,
    code: a.status === 401 ? 'TARGET_AUTH_REVOKED' : null,
  });
}

/** A field as text: ids, numbers (lossless) and strings alike. */
export function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof LosslessNumber) return v.value;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return '';
}

/** The id of a reference field (`{"id": "12", "refName": …}`). */
export const refId = (v: unknown): string => (v !== null && typeof v === 'object' ? text((v as NsObject).id) : '');

/** The rows of a sublist read with expandSubResources (`{"items": [...]}`). */
export function rows(v: unknown): NsObject[] {
  const items = v !== null && typeof v === 'object' ? (v as NsObject).items : undefined;
  return Array.isArray(items) ? (items as NsObject[]) : [];
}
