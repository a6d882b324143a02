import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import type { CallKind } from '../../sync/remote/contracts.ts';
import { PAGE_SIZE, SYSTEM } from './settings.ts';

/** The most pages of one list read (10,000 rows): a longer one is refused rather than read in part. */
const MAX_PAGES = 100;

/*
 * The FreshBooks accounting API over the shared RemoteClient: every path is under
 * `/accounting/account/{accountId}`, bodies are JSON written and read with lossless-json (ids and
 * quantities are JSON numbers; amounts are decimal strings), and every answer is classified once.
 * FreshBooks answers `{"response": {"result": {<entity>: …}}}` on success and
 * `{"response": {"errors": [{"errno", "field", "message", "object", "value"}]}}` otherwise
 * (freshbooks.com/api/errors). 429 and 5xx never reach this file: the client retries or throws
 * them as retryable.
 */

export type FbObject = Record<string, unknown>;

export interface FbError {
  errno: number | null;
  field: string;
  message: string;
}

/** What FreshBooks answered: `ok` with the result, or its refusal. */
export type FbAnswer =
  { ok: true; status: number; result: FbObject } | { ok: false; status: number; errors: FbError[] };

export interface Call {
  method: 'GET' | 'POST' | 'PUT';
  /** Under /accounting/account/{accountId}: `/invoices/invoices`. */
  path: string;
  query?: Record<string, string | undefined> | undefined;
  json?: unknown;
}

export class FreshBooksApi {
  constructor(
    readonly client: RemoteClient,
    readonly accountId: string,
  ) {}

  private full(path: string): string {
    return `/accounting/account/${encodeURIComponent(this.accountId)}${path}`;
  }

  /** One request. Writes are never retried by the client: FreshBooks takes no idempotency key. */
  async call(c: Call, signal?: AbortSignal): Promise<FbAnswer> {
    const kind: CallKind = c.method === 'GET' ? 'read' : 'write';
    const res = await this.client.request(
      {
        method: c.method,
        path: this.full(c.path),
        query: c.query,
        ...(c.json !== undefined
          ? { body: stringifyLossless(c.json), headers: { 'content-type': 'application/json' } }
          : {}),
        kind,
        retrySafe: kind === 'read',
      },
      signal,
    );
    let body: unknown;
    try {
      body = parseLossless(res.text);
    } catch {
      body = null;
    }
    const response = (body as { response?: unknown } | null)?.response;
    const obj =
      response !== null && typeof response === 'object' && !Array.isArray(response) ? (response as FbObject) : null;
    const errors = obj && Array.isArray(obj.errors) ? (obj.errors as FbObject[]) : null;
    if (res.status >= 200 && res.status < 300 && !errors) {
      const result = obj?.result;
      if (result === null || typeof result !== 'object' || Array.isArray(result))
        throw new ConnectorError(
          SYSTEM,
          `${c.method} ${c.path} answered ${res.status} without FreshBooks' result body; the answer cannot be read`,
          { status: res.status, retryable: false },
        );
      return { ok: true, status: res.status, result: result as FbObject };
    }
    return {
      ok: false,
      status: res.status,
      errors: (errors ?? []).map((e) => ({
        errno: numberOf(e.errno),
        field: typeof e.field === 'string' ? e.field : '',
        message: this.client.redact(typeof e.message === 'string' ? e.message : '').slice(0, 300),
      })),
    };
  }

  /** A read that must succeed: a refusal is thrown, not retryable (a setting or a permission is wrong). */
  async read(path: string, query: Record<string, string | undefined>, signal?: AbortSignal): Promise<FbObject> {
    const a = await this.call({ method: 'GET', path, query }, signal);
    if (!a.ok) throw refusedRead(path, a);
    return a.result;
  }

  /** An entity by id, or null when FreshBooks says it does not exist (404). */
  async byId(path: string, key: string, signal?: AbortSignal): Promise<FbObject | null> {
    const a = await this.call({ method: 'GET', path }, signal);
    if (!a.ok) {
      if (a.status === 404) return null;
      throw refusedRead(path, a);
    }
    return entity(a.result, key, path);
  }

  /**
   * Every entity a list answers, page after page (100 a page, FreshBooks' cap); the search keeps it
   * to a few. A list value is an In search, one query argument an item (`search[logids][]=1&…`);
   * `include` names sub-resources to include (`include[]=lines`). A list of more than 100 pages is
   * refused (a ConnectorError, not retryable) rather than read in part.
   */
  async listAll(
    path: string,
    key: string,
    search: Record<string, string | readonly string[] | undefined>,
    signal?: AbortSignal,
    include: readonly string[] = [],
  ): Promise<FbObject[]> {
    const query: Record<string, string> = {};
    // The shared client takes one value a query key: repeated keys ride in the path's own query.
    const repeated = new URLSearchParams();
    for (const [k, v] of Object.entries(search)) {
      if (typeof v === 'string') query[`search[${k}]`] = v;
      else if (v !== undefined) for (const item of v) repeated.append(`search[${k}][]`, item);
    }
    for (const i of include) repeated.append('include[]', i);
    const extra = repeated.toString();
    const at = extra === '' ? path : `${path}?${extra}`;
    const out: FbObject[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const result = await this.read(at, { ...query, page: String(page), per_page: String(PAGE_SIZE) }, signal);
      out.push(...list(result, key, `GET ${path}`));
      const pages = numberOf(result.pages) ?? 1;
      if (page >= pages) return out;
    }
    // Refused, not read in part: a lookup that missed the rest would book again, a sum would be short.
    throw new ConnectorError(
      SYSTEM,
      `GET ${path} has more than ${MAX_PAGES} pages of ${PAGE_SIZE} under one search; ledgerlink will not work from part of the list`,
      { retryable: false },
    );
  }

  /** The invoice as PDF (GET …/invoices/invoices/{id}/pdf, freshbooks.com/api/invoices "Get Invoice PDF"). */
  async pdf(invoiceId: string, signal?: AbortSignal): Promise<Buffer> {
    const path = `/invoices/invoices/${encodeURIComponent(invoiceId)}/pdf`;
    const res = await this.client.request(
      { method: 'GET', path: this.full(path), accept: 'application/pdf', kind: 'read', retrySafe: true },
      signal,
    );
    if (res.status !== 200 || res.body.subarray(0, 5).toString('latin1') !== '%PDF-')
      throw new ConnectorError(SYSTEM, `GET ${path} answered ${res.status} without a PDF`, {
        status: res.status,
        retryable: res.status >= 500,
      });
    return res.body;
  }
}

function numberOf(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (v instanceof LosslessNumber) return Number(v.value);
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return null;
}

/** How a refusal is told: the status, and FreshBooks' errors (errno, field, message), short and redacted. */
export function describe(a: Extract<FbAnswer, { ok: false }>): string {
  const errs = a.errors
    .map((e) => `${e.errno !== null ? `errno ${e.errno}` : ''}${e.field ? ` ${e.field}` : ''}: ${e.message}`.trim())
    .join('; ');
  return `${a.status}${errs ? ` ${errs}` : ''}`;
}

function refusedRead(path: string, a: Extract<FbAnswer, { ok: false }>): ConnectorError {
  return new ConnectorError(SYSTEM, `GET ${path} was refused (${describe(a)})`, {
    status: a.status,
    retryable: false,
    code: a.status === 401 ? 'TARGET_AUTH_REVOKED' : null,
  });
}

/** The entity under `key` of a result; a result without it cannot be understood. */
export function entity(result: FbObject, key: string, what: string): FbObject {
  const e = result[key];
  if (e === null || typeof e !== 'object' || Array.isArray(e))
    throw new ConnectorError(SYSTEM, `${what} answered without its ${key}`, { retryable: false });
  return e as FbObject;
}

/** The list under `key` of a result. */
export function list(result: FbObject, key: string, what: string): FbObject[] {
  const e = result[key];
  if (!Array.isArray(e))
    throw new ConnectorError(SYSTEM, `${what} answered without its ${key} list`, { retryable: false });
  return e as FbObject[];
}

/** A FreshBooks field as text: ids, numbers (lossless) and strings alike. */
export function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof LosslessNumber) return v.value;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return '';
}

/** The decimal text of a FreshBooks money object (`{"amount": "121.00", "code": "EUR"}`). */
export function moneyText(v: unknown): string {
  return v !== null && typeof v === 'object' ? text((v as FbObject).amount) : '';
}
