import { createHash } from 'node:crypto';
import { stringify } from 'lossless-json';
import { parseJsonExact } from '../../domain/json.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import type { RemoteResponse } from '../../sync/remote/contracts.ts';
import type { ItemError } from '../../sync/target.ts';
import { XERO } from './settings.ts';

/*
 * Xero's wire conventions over the shared RemoteClient (retries, pacing and token refresh are the
 * client's): the `xero-tenant-id` header, the `{Invoices: [...]}` envelopes, writes in batches with
 * `summarizeErrors=false` and an `Idempotency-Key`, each element's `HasErrors`/`ValidationErrors`
 * read one by one, and Xero's error body. Bodies are written with lossless-json so that an amount
 * leaves as the exact number literal it was formatted to, never through a float.
 */

export type Json = Record<string, unknown>;

/** A value of an answer as text: strings as they are, numbers written out, anything else empty. */
export function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : '';
}

/** An overpayment's target id: a receipt booked before its invoice (or with none named). */
export const OVERPAYMENT = 'OP:';

/** A where-clause literal: Xero's filter strings are C#-like, with `"` and `\` escaped. */
export const lit = (v: string) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** Elements Xero refused, as the item error the engine parks them with. */
export const refused = (messages: string[], field?: string): ItemError => ({
  code: 'TARGET_REFUSED',
  message: `Xero refused it: ${messages.join('; ')}`.slice(0, 1000),
  retryable: false,
  field,
});

/** One element's outcome of a batch write: what Xero saved, or why it refused it. */
export type ElementResult = { ok: true; saved: Json } | { ok: false; messages: string[] };

/** An Idempotency-Key for a batch: derived from its items' own keys, so the same batch always has the same key. */
export function batchIdempotencyKey(operation: string, itemKeys: string[]): string {
  const digest = createHash('sha256').update(operation).update('\u0000').update(itemKeys.join('\u0000')).digest('hex');
  return `ll-xero-${operation}-${digest}`.slice(0, XERO.maxIdempotencyKey);
}

/** The ValidationErrors of a refused element, as text. */
function messagesOf(el: Json): string[] {
  const errors = Array.isArray(el.ValidationErrors) ? (el.ValidationErrors as Json[]) : [];
  const out = errors.map((e) => (typeof e.Message === 'string' ? e.Message : 'refused')).filter(Boolean);
  return out.length > 0 ? out : ['refused without a reason'];
}

/** Xero's error body `{ErrorNumber, Type, Message, Elements}`, as one line. */
function errorLine(text: string): string {
  try {
    const b = JSON.parse(text) as Json;
    const parts = [b.Type, b.Message ?? b.Detail ?? b.Title].filter((x) => typeof x === 'string');
    const elements = Array.isArray(b.Elements) ? (b.Elements as Json[]).flatMap(messagesOf) : [];
    return [...parts, ...elements].join(': ').slice(0, 400) || 'no reason given';
  } catch {
    return 'no reason given';
  }
}

export class XeroApi {
  constructor(
    private readonly client: RemoteClient,
    readonly tenantId: string,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { 'xero-tenant-id': this.tenantId, ...extra };
  }

  /** A refusal of the whole request that no resend can mend (the organisation disconnected, a malformed call). */
  private refusal(what: string, a: RemoteResponse): ConnectorError {
    if (a.status === 403)
      return new ConnectorError(
        XERO.system,
        `${what} answered 403: this organisation (tenant ${this.tenantId}) is not connected to the app any more; reconnect the pipeline (GET /v1/connections/{pipeline}/oauth/start)`,
        { status: 403, retryable: false, code: 'TARGET_AUTH_REVOKED' },
      );
    return new ConnectorError(XERO.system, `${what} answered ${a.status}: ${errorLine(a.text)}`, {
      status: a.status,
      retryable: false,
    });
  }

  /** GET a list or a document; the body parsed without floats (decimals stay text). */
  async get(path: string, query: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<Json> {
    const a = await this.client.request(
      { method: 'GET', path, query, headers: this.headers(), kind: 'read', retrySafe: true },
      signal,
    );
    if (a.status === 404) return {};
    if (a.status !== 200) throw this.refusal(`GET ${path}`, a);
    return this.parse(`GET ${path}`, a);
  }

  /** Every element of a paged list (`page=1, 2, …` until a short page). */
  async getAll(
    path: string,
    key: string,
    query: Record<string, string | undefined>,
    signal?: AbortSignal,
  ): Promise<Json[]> {
    const out: Json[] = [];
    for (let page = 1; page < 10_000; page++) {
      const body = await this.get(path, { ...query, page: String(page), pageSize: '100' }, signal);
      const list = Array.isArray(body[key]) ? (body[key] as Json[]) : [];
      out.push(...list);
      if (list.length < 100) break;
    }
    return out;
  }

  async pdf(path: string, signal?: AbortSignal): Promise<Buffer> {
    const a = await this.client.request(
      { method: 'GET', path, headers: this.headers(), accept: 'application/pdf', kind: 'read', retrySafe: true },
      signal,
    );
    if (a.status !== 200) throw this.refusal(`GET ${path} (PDF)`, a);
    if (!a.body.subarray(0, 5).equals(Buffer.from('%PDF-')))
      throw new ConnectorError(XERO.system, `GET ${path} answered 200 without a PDF`, {
        status: 200,
        retryable: false,
      });
    return a.body;
  }

  /**
   * One batch write (`PUT /Invoices?summarizeErrors=false`): one result per element, in order. A 200
   * may hold refusals; a request refused as a whole (400) refuses every element, nothing saved.
   */
  async write(
    method: 'PUT' | 'POST',
    path: string,
    key: string,
    elements: Json[],
    idempotencyKey: string,
    query: Record<string, string | undefined> = {},
    signal?: AbortSignal,
  ): Promise<ElementResult[]> {
    const what = `${method} ${path}`;
    const a = await this.client.request(
      {
        method,
        path,
        query: { summarizeErrors: 'false', ...query },
        headers: this.headers({ 'Idempotency-Key': idempotencyKey, 'content-type': 'application/json' }),
        body: stringify({ [key]: elements }),
        kind: 'write',
        // Xero replays the first answer to a request sent again with the same Idempotency-Key.
        retrySafe: true,
      },
      signal,
    );
    if (a.status === 400 || a.status === 404 || a.status === 409 || a.status === 422) {
      const messages = [`${what} was refused as a whole (${a.status}): ${errorLine(a.text)}`];
      return elements.map(() => ({ ok: false, messages }));
    }
    if (a.status !== 200) throw this.refusal(what, a);
    const body = this.parse(what, a);
    const saved = body[key];
    if (!Array.isArray(saved) || saved.length !== elements.length)
      throw new ConnectorError(
        XERO.system,
        `${what} answered 200 with ${Array.isArray(saved) ? saved.length : 'no'} ${key} for ${elements.length} sent`,
        { status: 200, retryable: false },
      );
    return (saved as Json[]).map((el) =>
      el.HasErrors === true || el.StatusAttributeString === 'ERROR'
        ? { ok: false, messages: messagesOf(el) }
        : { ok: true, saved: el },
    );
  }

  private parse(what: string, a: RemoteResponse): Json {
    try {
      const v = parseJsonExact(a.text);
      if (v !== null && typeof v === 'object') return v as Json;
    } catch {
      /* below */
    }
    throw new ConnectorError(XERO.system, `${what} answered ${a.status} with a body that is not JSON`, {
      status: a.status,
      retryable: false,
    });
  }
}
