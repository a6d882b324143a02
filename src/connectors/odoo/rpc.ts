import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import { type OdooVersion, SYSTEM } from './settings.ts';

/*
 * Odoo's JSON-RPC over the shared RemoteClient (docs/connectors/odoo.md): every call is
 * `POST /jsonrpc` with `{"jsonrpc": "2.0", "method": "call", "params": {service, method, args}}`.
 * The user's id comes from `common.authenticate(db, login, apiKey, {})`; every model call is
 * `object.execute_kw(db, uid, apiKey, model, method, args, kwargs)`. Odoo answers a failure with
 * HTTP 200 and `{"error": {"code": 200, "message": "Odoo Server Error", "data": {"name":
 * "odoo.exceptions.ValidationError", "message": …}}}`: the exception's class decides what it
 * means here. Bodies are written and read with lossless-json, so that no amount passes through a
 * float on our side.
 */

export type OdooObject = Record<string, unknown>;

/** A call Odoo refused: the exception's class (`odoo.exceptions.UserError`) and its message. */
export interface OdooFault {
  name: string;
  message: string;
}

export type OdooAnswer<T = unknown> = { ok: true; result: T } | { ok: false; fault: OdooFault };

/** Exceptions that say the request was refused and rolled back: a business answer, not an outage. */
const REFUSALS = new Set([
  'odoo.exceptions.ValidationError',
  'odoo.exceptions.UserError',
  'odoo.exceptions.MissingError',
  'odoo.exceptions.AccessError',
  'odoo.exceptions.RedirectWarning',
  'builtins.ValueError',
  'builtins.TypeError',
  'builtins.KeyError',
]);
const ACCESS_DENIED = 'odoo.exceptions.AccessDenied';

/** How Odoo's refusal is told: its exception's class (short) and its first line, redacted. */
export const describe = (f: OdooFault): string => `${f.name.replace(/^.*\./, '')}: ${f.message}`;

const revoked = (what: string) =>
  new ConnectorError(
    SYSTEM,
    `${what}: Odoo refused the login or API key (AccessDenied): the key was revoked or has expired, or the login changed. Create a new API key for the user and set it as the pipeline target's apiKey`,
    { retryable: false, code: 'TARGET_AUTH_REVOKED' },
  );

export class OdooRpc {
  #uid: Promise<number> | null = null;
  #id = 0;

  constructor(
    readonly client: RemoteClient,
    readonly database: string,
    private readonly login: string,
    private readonly apiKey: string,
    readonly version: OdooVersion,
    /** The company every call works in (`allowed_company_ids` of the context); the user's own when null. */
    private readonly companyId: number | null = null,
  ) {}

  /** One JSON-RPC call; a refusal comes back as a value, an outage or an unreadable answer is thrown. */
  private async call(
    service: 'common' | 'object',
    method: string,
    args: unknown[],
    write: boolean,
    what: string,
    signal?: AbortSignal,
  ): Promise<OdooAnswer> {
    const res = await this.client.request(
      {
        method: 'POST',
        path: '/jsonrpc',
        body: stringifyLossless({ jsonrpc: '2.0', method: 'call', params: { service, method, args }, id: ++this.#id }),
        headers: { 'content-type': 'application/json' },
        kind: write ? 'write' : 'read',
        retrySafe: !write,
      },
      signal,
    );
    if (res.status !== 200)
      throw new ConnectorError(
        SYSTEM,
        `${what} answered HTTP ${res.status}; is ${this.client.url({ path: '/jsonrpc' }).origin} an Odoo server?`,
        {
          status: res.status,
          retryable: false,
        },
      );
    let body: unknown;
    try {
      body = parseLossless(res.text);
    } catch {
      body = null;
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body) || !('result' in body || 'error' in body))
      throw new ConnectorError(
        SYSTEM,
        `${what} answered without a JSON-RPC result or error; the answer cannot be read`,
        {
          retryable: false,
        },
      );
    const o = body as { result?: unknown; error?: { message?: unknown; data?: { name?: unknown; message?: unknown } } };
    if (o.error === undefined) return { ok: true, result: o.result };
    const name = typeof o.error.data?.name === 'string' ? o.error.data.name : '';
    const said = (v: unknown) => (typeof v === 'string' ? v : '');
    const raw = said(o.error.data?.message) || said(o.error.message);
    const fault = { name, message: this.client.redact(raw.split('\n')[0] ?? '').slice(0, 300) };
    if (name === ACCESS_DENIED) throw revoked(what);
    if (REFUSALS.has(name)) return { ok: false, fault };
    // Anything else (a database conflict Odoo gave up retrying, a server bug): Odoo rolled the
    // request back, so it is an outage to retry, looked up first like any other.
    throw new ConnectorError(SYSTEM, `${what} failed on the server (${describe(fault)})`, { retryable: true });
  }

  /** The user's id for the login and API key, asked once a session (`common.authenticate`). */
  uid(signal?: AbortSignal): Promise<number> {
    this.#uid ??= (async () => {
      const a = await this.call(
        'common',
        'authenticate',
        [this.database, this.login, this.apiKey, {}],
        false,
        'authenticate',
        signal,
      );
      if (!a.ok)
        throw new ConnectorError(SYSTEM, `authenticate was refused (${describe(a.fault)})`, { retryable: false });
      const uid = int(a.result);
      if (uid === null) throw revoked('authenticate');
      return uid;
    })().catch((err: unknown) => {
      this.#uid = null;
      throw err;
    });
    return this.#uid;
  }

  /** The server's version (`common.version`): `server_version_info[0]` is the major version. */
  async serverVersion(signal?: AbortSignal): Promise<{ major: number; text: string }> {
    const a = await this.call('common', 'version', [], false, 'version', signal);
    const info = a.ok ? (a.result as { server_version?: unknown; server_version_info?: unknown[] }) : null;
    const major = int(info?.server_version_info?.[0]);
    if (major === null) throw new ConnectorError(SYSTEM, 'the server did not say its version', { retryable: false });
    return { major, text: typeof info?.server_version === 'string' ? info.server_version : String(major) };
  }

  /** `execute_kw` on a model; `write` when the method changes anything (never retried by the client). */
  async execute(
    model: string,
    method: string,
    args: unknown[],
    kwargs: OdooObject,
    write: boolean,
    signal?: AbortSignal,
  ): Promise<OdooAnswer> {
    const uid = await this.uid(signal);
    if (this.companyId !== null) {
      const context = (kwargs.context ?? {}) as OdooObject;
      kwargs = { ...kwargs, context: { ...context, allowed_company_ids: [this.companyId] } };
    }
    return this.call(
      'object',
      'execute_kw',
      [this.database, uid, this.apiKey, model, method, args, kwargs],
      write,
      `${model}.${method}`,
      signal,
    );
  }

  /** A read that must succeed: a refusal is thrown, not retryable (a setting or a permission is wrong). */
  async read(
    model: string,
    method: string,
    args: unknown[],
    kwargs: OdooObject,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const a = await this.execute(model, method, args, kwargs, false, signal);
    if (!a.ok)
      throw new ConnectorError(SYSTEM, `${model}.${method} was refused (${describe(a.fault)})`, { retryable: false });
    return a.result;
  }

  /**
   * `search_read` with a domain: the rows, each with the fields asked for. `limit` null reads every
   * match in one request (Odoo's `limit=None`), for a domain bounded by the ids it names.
   */
  async searchRead(
    model: string,
    domain: unknown[],
    fields: string[],
    signal?: AbortSignal,
    limit: number | null = 80,
  ): Promise<OdooObject[]> {
    const rows = await this.read(
      model,
      'search_read',
      [domain],
      { fields, ...(limit === null ? {} : { limit }), order: 'id asc' },
      signal,
    );
    if (!Array.isArray(rows))
      throw new ConnectorError(SYSTEM, `${model}.search_read answered without a list`, { retryable: false });
    return rows as OdooObject[];
  }

  /**
   * `search_read` of every match of a domain not bounded by ids, page by page: `limit` rows from
   * `offset`, in id order, until a page comes back short.
   */
  async searchReadAll(
    model: string,
    domain: unknown[],
    fields: string[],
    signal?: AbortSignal,
    page = 1000,
  ): Promise<OdooObject[]> {
    const out: OdooObject[] = [];
    for (let offset = 0; ; offset += page) {
      const rows = await this.read(
        model,
        'search_read',
        [domain],
        { fields, limit: page, offset, order: 'id asc' },
        signal,
      );
      if (!Array.isArray(rows))
        throw new ConnectorError(SYSTEM, `${model}.search_read answered without a list`, { retryable: false });
      out.push(...(rows as OdooObject[]));
      if (rows.length < page) return out;
    }
  }
}

/** An Odoo integer (an id) from a JSON value; null for `false` and anything else. */
export function int(v: unknown): number | null {
  const t = v instanceof LosslessNumber ? v.value : typeof v === 'number' ? String(v) : '';
  return /^\d+$/.test(t) ? Number(t) : null;
}

/** The id of a many2one as Odoo reads it (`[id, "display name"]`), or of a bare id. */
export function m2o(v: unknown): number | null {
  return Array.isArray(v) ? int(v[0]) : int(v);
}

/** An Odoo field as text: `false` (Odoo's empty) is ''. */
export function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof LosslessNumber) return v.value;
  if (typeof v === 'number') return String(v);
  return '';
}
