import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import type { CallKind, RatePlanner, RateScope } from '../../sync/remote/contracts.ts';
import { SYSTEM } from './settings.ts';

/*
 * The MYOB Business API over the shared RemoteClient: every request goes to the company file
 * (`/{companyFileId}/…`) with the API key (`x-myobapi-key`), the version (`x-myobapi-version:
 * v2`) and, for AccountRight files, the company file's credentials (`x-myobapi-cftoken`); bodies
 * are JSON read and written with lossless-json, so that no amount is ever a float. MYOB refuses in
 * `{"Errors": [{"Name", "Message", "AdditionalDetails", "ErrorCode", "Severity"}]}`; over its
 * limits it answers 403 with a `RateLimitError` (not 429), which this file treats as the client
 * treats a 429: the request was not carried out, the key's budget is paused, and it is sent again.
 */

export type MyobObject = Record<string, unknown>;

export interface MyobError {
  name: string;
  message: string;
  code: string;
}

/** What MYOB answered: `ok` with the body (and the new record's UID for a 201), or its refusal. */
export type MyobAnswer =
  | { ok: true; status: number; body: MyobObject | null; uid: string | null }
  | { ok: false; status: number; errors: MyobError[] };

export interface Call {
  method: 'GET' | 'POST' | 'PUT';
  /** Under the company file: `Sale/Invoice/Service`. */
  path: string;
  query?: Record<string, string | undefined> | undefined;
  json?: unknown;
}

export interface MyobApiOptions {
  companyFileId: string;
  apiKey: string;
  /** base64 of `user:password`, for AccountRight files. */
  cfToken: string | null;
  rate: { planner: RatePlanner; scope: RateScope } | null;
  /** How often a request refused for the per-second limit is sent again, and the first wait. */
  rateAttempts?: number | undefined;
  rateWaitMs?: number | undefined;
  /** Pages of 1,000 a list reads before it refuses (default 50: 50,000 records under one filter). */
  maxPages?: number | undefined;
}

/** How long the key's budget pauses after MYOB says the day's calls are spent. */
const DAILY_PAUSE_MS = 60 * 60_000;

export class MyobApi {
  constructor(
    readonly client: RemoteClient,
    readonly o: MyobApiOptions,
  ) {}

  private headers(): Record<string, string> {
    return {
      'x-myobapi-key': this.o.apiKey,
      'x-myobapi-version': 'v2',
      ...(this.o.cfToken !== null ? { 'x-myobapi-cftoken': this.o.cfToken } : {}),
    };
  }

  private path(p: string): string {
    return `/${this.o.companyFileId}/${p}`;
  }

  /** One request; a write is never retried by the client after an unknown outcome (MYOB takes no idempotency key). */
  async call(c: Call, signal?: AbortSignal, accept?: string): Promise<MyobAnswer & { raw?: Buffer }> {
    const kind: CallKind = c.method === 'GET' ? 'read' : 'write';
    const attempts = this.o.rateAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const res = await this.client.request(
        {
          method: c.method,
          path: this.path(c.path),
          query: c.query,
          headers: {
            ...this.headers(),
            ...(c.json !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(c.json !== undefined ? { body: stringifyLossless(c.json) } : {}),
          kind,
          retrySafe: kind === 'read',
          accept,
        },
        signal,
      );
      if (res.status >= 200 && res.status < 300) {
        if (accept !== undefined && accept !== 'application/json')
          return { ok: true, status: res.status, body: null, uid: null, raw: res.body };
        const location = res.headers.get('location') ?? '';
        const uid = /\/([0-9a-fA-F-]{36})\/?$/.exec(location)?.[1] ?? null;
        return { ok: true, status: res.status, body: res.text.trim() === '' ? null : objectOf(res.text), uid };
      }
      const errors = errorsOf(res.text).map((e) => ({ ...e, message: this.client.redact(e.message).slice(0, 300) }));
      const limit = res.status === 403 ? errors.find((e) => e.name === 'RateLimitError') : undefined;
      if (!limit) return { ok: false, status: res.status, errors };
      const daily = /daily/i.test(limit.message);
      const wait = daily ? DAILY_PAUSE_MS : (this.o.rateWaitMs ?? 1000) * attempt;
      if (this.o.rate) await this.o.rate.planner.pause([this.o.rate.scope.key], wait).catch(() => undefined);
      if (daily || attempt >= attempts)
        throw new ConnectorError(
          SYSTEM,
          `${c.method} ${c.path} was refused for the API key's rate (${limit.message})`,
          {
            status: 403,
            retryable: true,
            retryAfterMs: wait,
          },
        );
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** A read that must succeed: a refusal is thrown, not retryable (a setting or a permission is wrong). */
  async read(path: string, query: Record<string, string | undefined>, signal?: AbortSignal): Promise<MyobObject> {
    const a = await this.call({ method: 'GET', path, query }, signal);
    if (!a.ok) throw refusedRead(path, a);
    if (!a.body) throw new ConnectorError(SYSTEM, `GET ${path} answered without a body`, { retryable: false });
    return a.body;
  }

  /** Every record of a list matching an OData `$filter`, page after page (1,000 a page, MYOB's most). */
  async list(path: string, filter: string | undefined, signal?: AbortSignal): Promise<MyobObject[]> {
    const out: MyobObject[] = [];
    const pages = this.o.maxPages ?? 50;
    for (let page = 0; page < pages; page++) {
      const body = await this.read(
        path,
        { $filter: filter, $top: '1000', ...(page > 0 ? { $skip: String(page * 1000) } : {}) },
        signal,
      );
      const items = body.Items;
      if (!Array.isArray(items))
        throw new ConnectorError(SYSTEM, `GET ${path} answered without its Items`, { retryable: false });
      out.push(...(items as MyobObject[]));
      if (typeof body.NextPageLink !== 'string' || body.NextPageLink === '') return out;
    }
    // A short list would be a wrong sum, or a lookup that finds nothing and books again: refused.
    throw new ConnectorError(
      SYSTEM,
      `GET ${path} has more than ${pages * 1000} records under one filter; ledgerlink reads at most ${pages} pages of 1,000 and will not work from part of the list`,
      { retryable: false },
    );
  }

  /** A record by UID, or null when MYOB says it does not exist. */
  async byUid(path: string, uid: string, signal?: AbortSignal): Promise<MyobObject | null> {
    const a = await this.call({ method: 'GET', path: `${path}/${encodeURIComponent(uid)}` }, signal);
    if (!a.ok) {
      if (a.status === 404) return null;
      throw refusedRead(path, a);
    }
    return a.body;
  }

  /** The sale as PDF (`?format=pdf`, `Accept: application/pdf`). */
  async pdf(path: string, signal?: AbortSignal): Promise<Buffer> {
    const a = await this.call({ method: 'GET', path, query: { format: 'pdf' } }, signal, 'application/pdf');
    const raw = a.ok ? a.raw : undefined;
    if (!raw || raw.subarray(0, 5).toString('latin1') !== '%PDF-')
      throw new ConnectorError(SYSTEM, `GET ${path} (PDF) answered ${a.status} without a PDF`, {
        status: a.status,
        retryable: a.status >= 500,
      });
    return raw;
  }
}

function objectOf(text: string): MyobObject | null {
  try {
    const v = parseLossless(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as MyobObject) : null;
  } catch {
    return null;
  }
}

/** MYOB's errors of a refusal; an unreadable body is one error named by nothing. */
export function errorsOf(body: string): MyobError[] {
  const o = objectOf(body);
  const list = o && Array.isArray(o.Errors) ? (o.Errors as MyobObject[]) : [];
  return list.map((e) => ({ name: text(e.Name), message: text(e.Message), code: text(e.ErrorCode) }));
}

/** How a refusal is told: status, and MYOB's first errors by name, code and message. */
export function describe(a: Extract<MyobAnswer, { ok: false }>): string {
  const said = a.errors
    .slice(0, 3)
    .map((e) => `${e.name}${e.code ? ` ${e.code}` : ''}${e.message ? `: ${e.message}` : ''}`)
    .join('; ');
  return `${a.status}${said ? ` ${said}` : ''}`;
}

function refusedRead(path: string, a: Extract<MyobAnswer, { ok: false }>): ConnectorError {
  return new ConnectorError(SYSTEM, `GET ${path} was refused (${describe(a)})`, {
    status: a.status,
    retryable: false,
    code: a.status === 401 ? 'TARGET_AUTH_REVOKED' : null,
  });
}

/** A MYOB field as text: UIDs, numbers (lossless) and strings alike. */
export function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof LosslessNumber) return v.value;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return '';
}

/** A value for an OData `$filter`: a string literal, its quotes doubled. */
export const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/**
 * Characters a `$filter` may take in the query string as sent (URL-encoded). MYOB publishes no
 * limit on a URL; 2,048 characters of query string is IIS's default, and about what Xero's API
 * takes in practice *(unverified for MYOB)*: 1,800 leaves room for the rest of the URL. That is
 * 31 `UID eq guid'…'` clauses a request.
 */
export const FILTER_MAX = 1800;

/**
 * `$filter` strings of these clauses joined by `or`, each at most FILTER_MAX characters once
 * encoded; with `and`, each group in parentheses and that condition after it
 * (`(Customer/UID eq guid'…' or …) and Date lt datetime'…'`).
 */
export function orFilters(clauses: readonly string[], and?: string): string[] {
  const out: string[] = [];
  let current: string[] = [];
  const join = (parts: string[]) => (and === undefined ? parts.join(' or ') : `(${parts.join(' or ')}) and ${and}`);
  const encoded = (parts: string[]) => new URLSearchParams({ f: join(parts) }).toString().length - 2;
  for (const c of clauses) {
    if (current.length > 0 && encoded([...current, c]) > FILTER_MAX) {
      out.push(join(current));
      current = [];
    }
    current.push(c);
  }
  if (current.length > 0) out.push(join(current));
  return out;
}
