import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import { SYSTEM } from './settings.ts';

/*
 * The Business Central API v2.0 calls the connector makes, over the shared RemoteClient (pacing,
 * retries of reads, the token refreshed once after a 401): OData reads with `$filter`, creates
 * (deep insert of lines), PATCH with `If-Match: *`, DELETE, and bound actions
 * (`Microsoft.NAV.post`). Answers are parsed without letting an amount through a binary float.
 *
 * What an answer means:
 * - 2xx: done.
 * - an OData error `{"error":{"code","message"}}` with a 4xx other than 408 and 429, code not
 *   `Internal_*`: Business Central refused the request and committed nothing (it runs each
 *   request in one transaction): a {@link Refused}, which the target turns into an item failure.
 * - 408 (operation timeout), 5xx, `Internal_*`: the outcome is unknown, a retryable ConnectorError.
 *   (429 and 401 are the client's: it waits and retries, or refreshes the token.)
 */

export type BcEntity = Record<string, unknown> & { id: string };

/** Business Central refused a request: nothing was committed. */
export class Refused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${status} ${code}: ${detail}`);
    this.name = 'Refused';
  }
}

/** The OData error of an answer, or null when it has none. */
export function odataError(text: string): { code: string; message: string } | null {
  try {
    const v = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (v?.error && typeof v.error === 'object')
      return {
        code: typeof v.error.code === 'string' ? v.error.code : '',
        message: typeof v.error.message === 'string' ? v.error.message : '',
      };
  } catch {
    // not JSON
  }
  return null;
}

/** A literal of OData's `$filter`: quoted, a quote doubled. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** A key in a path: `salesInvoices(<guid>)`; ids that are not GUIDs are a programming error. */
export function key(id: string): string {
  if (!/^[0-9a-fA-F-]{36}$/.test(id)) throw new Error(`${SYSTEM}: "${id}" is not an entity id`);
  return `(${id})`;
}

const short = (s: string) => (s.length > 300 ? `${s.slice(0, 297)}...` : s);

export class BusinessCentralApi {
  constructor(
    private readonly client: RemoteClient,
    /** `/{tenant}/{environment}/api/v2.0/companies({id})`, under the client's origin. */
    readonly companyPath: string,
  ) {}

  private parse(text: string, what: string, status: number): Record<string, unknown> {
    if (text.trim() === '') return {};
    try {
      const v = parseLossless(text);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // fall through
    }
    throw new ConnectorError(SYSTEM, `${what} answered ${status} with a body that is not a JSON object`, {
      status,
      retryable: false,
    });
  }

  /** Classifies a non-2xx answer: throws a ConnectorError (unknown outcome, lost access) or a Refused. */
  private failure(what: string, status: number, text: string): never {
    const err = odataError(text);
    const code = err?.code ?? '';
    const said = err ? `${code}${err.message ? `: ${short(this.client.redact(err.message))}` : ''}` : 'no OData error';
    if (status === 408 || status >= 500 || code.startsWith('Internal_'))
      throw new ConnectorError(SYSTEM, `${what} answered ${status} ${code}; the outcome is unknown`, {
        status,
        retryable: true,
      });
    if (status === 401 || status === 403 || code.startsWith('Authentication_') || code.startsWith('Authorization_'))
      throw new ConnectorError(
        SYSTEM,
        `${what} answered ${status} ${code}: the app has no access to this company; check its permissions in Business Central (Microsoft Entra Applications)`,
        { status, retryable: false, code: 'TARGET_AUTH_REVOKED' },
      );
    throw new Refused(status, code || String(status), said);
  }

  private async call(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    rest: string,
    o: { query?: Record<string, string>; body?: unknown; signal?: AbortSignal | undefined; accept?: string } = {},
  ) {
    const write = method !== 'GET';
    const headers: Record<string, string> = {};
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    // Business Central asks for an ETag on every change; `*` changes whatever version it holds.
    if (method === 'PATCH' || method === 'DELETE') headers['if-match'] = '*';
    return this.client.request(
      {
        method,
        path: /^https?:/.test(rest) ? rest : `${this.companyPath}${rest}`,
        query: o.query,
        ...(o.body === undefined ? {} : { body: stringifyLossless(o.body)! }),
        headers,
        kind: write ? 'write' : 'read',
        // No idempotency key in Business Central: a write is never sent twice by the client.
        retrySafe: !write,
        accept: o.accept,
      },
      o.signal,
    );
  }

  /**
   * Every row of an entity set that matches a filter, page after page (lookups match a handful,
   * reads by id a batch). `more`: other query options (`$expand`).
   */
  async list(
    set: string,
    filter: string | null,
    signal?: AbortSignal,
    more: Record<string, string> = {},
  ): Promise<BcEntity[]> {
    const what = `GET ${set.replace(/\(.*?\)/g, '(…)')}`;
    const out: BcEntity[] = [];
    let res = await this.call('GET', `/${set}`, {
      query: { ...(filter ? { $filter: filter } : {}), ...more },
      signal,
    });
    // Business Central answers at most 20,000 rows a request and links the rest (`@odata.nextLink`):
    // followed to the end, never read in part.
    for (;;) {
      if (res.status !== 200) this.failure(what, res.status, res.text);
      const body = this.parse(res.text, what, res.status);
      if (!Array.isArray(body.value))
        throw new ConnectorError(SYSTEM, `${what} answered without a value array`, { status: 200, retryable: false });
      out.push(...(body.value as BcEntity[]));
      const next = body['@odata.nextLink'];
      if (typeof next !== 'string') return out;
      // The link is absolute; the client refuses one outside the configured origin (the token stays home).
      res = await this.call('GET', next, { signal });
    }
  }

  /** Every row of an entity set that matches a filter (`list`); a refusal (a filter Business Central will not take) is not retried. */
  async listAll(
    set: string,
    filter: string,
    signal?: AbortSignal,
    more: Record<string, string> = {},
  ): Promise<BcEntity[]> {
    try {
      return await this.list(set, filter, signal, more);
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      throw new ConnectorError(SYSTEM, `GET ${set.replace(/\(.*?\)/g, '(…)')} was refused: ${err.detail}`, {
        status: err.status,
        retryable: false,
      });
    }
  }

  /** One entity by its path (`/salesInvoices(<id>)`), or null when there is none. */
  async get(path: string, signal?: AbortSignal): Promise<BcEntity | null> {
    const what = `GET ${path.replace(/\(.*?\)/g, '(…)')}`;
    const res = await this.call('GET', path, { signal });
    if (res.status === 404) return null;
    if (res.status !== 200) this.failure(what, res.status, res.text);
    return this.entity(what, res.status, res.text);
  }

  private entity(what: string, status: number, text: string): BcEntity {
    const e = this.parse(text, what, status);
    if (typeof e.id !== 'string')
      throw new ConnectorError(SYSTEM, `${what} answered ${status} without an id`, { status, retryable: false });
    return e as BcEntity;
  }

  /** Creates an entity (201), lines included when the body carries them (deep insert). */
  async create(path: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<BcEntity> {
    const what = `POST ${path.replace(/\(.*?\)/g, '(…)')}`;
    const res = await this.call('POST', path, { body, signal });
    if (res.status !== 201 && res.status !== 200) this.failure(what, res.status, res.text);
    return this.entity(what, res.status, res.text);
  }

  /** Changes the fields given, whatever the entity's ETag. */
  async patch(path: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<BcEntity> {
    const what = `PATCH ${path.replace(/\(.*?\)/g, '(…)')}`;
    const res = await this.call('PATCH', path, { body, signal });
    if (res.status !== 200) this.failure(what, res.status, res.text);
    return this.entity(what, res.status, res.text);
  }

  /** Deletes an entity; one already gone is fine. */
  async delete(path: string, signal?: AbortSignal): Promise<void> {
    const what = `DELETE ${path.replace(/\(.*?\)/g, '(…)')}`;
    const res = await this.call('DELETE', path, { signal });
    if (res.status !== 204 && res.status !== 200 && res.status !== 404) this.failure(what, res.status, res.text);
  }

  /** A bound action (`/salesInvoices(<id>)/Microsoft.NAV.post`): 204 No Content. */
  async action(path: string, signal?: AbortSignal): Promise<void> {
    const what = `POST ${path.replace(/\(.*?\)/g, '(…)')}`;
    const res = await this.call('POST', path, { signal });
    if (res.status !== 204 && res.status !== 200) this.failure(what, res.status, res.text);
  }

  /** A media stream by its read link (same origin), as bytes. */
  async media(url: string, signal?: AbortSignal): Promise<Buffer> {
    const what = 'GET pdfDocumentContent';
    const res = await this.call('GET', url, { signal, accept: 'application/pdf' });
    if (res.status !== 200) this.failure(what, res.status, res.text);
    return res.body;
  }
}
