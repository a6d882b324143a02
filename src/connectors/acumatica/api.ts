import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import type { CallKind } from '../../sync/remote/contracts.ts';
import { type AcumaticaSettings, SYSTEM } from './settings.ts';

/*
 * The calls the Acumatica connector makes to the contract-based REST API, over the shared
 * RemoteClient (pacing, timeouts, 429/Retry-After, redaction): PUT of one record, GET of a list
 * with $filter, GET by key fields, and actions (POST /<Entity>/<Action>, answered 202 with a
 * Location to poll until 204). In `session` mode every call carries the cookies of a session
 * opened with POST /entity/auth/login; a 401 (the session expired after its idle time) signs in
 * again and sends the call once more: a 401 was not processed. Answers are parsed without letting
 * an amount through a binary float.
 */

export type Entity = Record<string, unknown>;

/** A field as the contract-based API takes it: `{"value": …}`. */
export const v = (value: string | boolean | null) => ({ value });
/** A decimal field, sent as a JSON number written exactly as the decimal text. */
export const dec = (text: string) => ({ value: new LosslessNumber(text) });

/** The value of a field (`{"value": …}`) as text; '' when absent. */
export function val(e: Entity | undefined, field: string): string {
  const f = e?.[field] as { value?: unknown } | undefined;
  const x = f && typeof f === 'object' ? f.value : undefined;
  if (x === undefined || x === null) return '';
  if (typeof x === 'string') return x;
  if (typeof x === 'number' || typeof x === 'boolean' || x instanceof LosslessNumber) return String(x);
  return '';
}

/** An OData string literal: quotes doubled. */
export const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** What the platform answered to a write it refused: its own words, short. */
export interface Refusal {
  message: string;
  field?: string | undefined;
}

const SIGN_IN_REFUSED = /credentials|password|locked|disabled/i;

/**
 * Acumatica answers wrong credentials, a locked or a disabled user with a 500 whose exception says
 * so: a refusal of the sign-in, not an outage, and asking again cannot change it.
 */
export function signInRefused(res: { status: number; text: string }): boolean {
  const b = safeParse(res.text);
  if (res.status < 500 || !b || typeof b !== 'object') return false;
  const { exceptionMessage, message } = b as Entity;
  return [exceptionMessage, message].some((m) => typeof m === 'string' && SIGN_IN_REFUSED.test(m));
}

/** The words of an HttpError (400, 412, 500) or of a 422 entity's per-field errors, at most 400 characters. */
export function describeError(status: number, body: unknown): Refusal {
  const cut = (t: string) => (t.length > 400 ? `${t.slice(0, 397)}...` : t);
  if (!body || typeof body !== 'object') return { message: `answered ${status}` };
  const b = body as Entity;
  if (status === 422) {
    const errors: { field: string; error: string }[] = [];
    const walk = (node: unknown, path: string) => {
      if (Array.isArray(node)) return node.forEach((x, n) => walk(x, `${path}[${n}]`));
      if (!node || typeof node !== 'object') return;
      for (const [k, x] of Object.entries(node as Entity)) {
        if (k === 'error' && typeof x === 'string' && x) errors.push({ field: path || '(record)', error: x });
        else if (x && typeof x === 'object') walk(x, path ? `${path}.${k}` : k);
      }
    };
    walk(b, '');
    const named = errors.filter((e) => e.field !== '(record)');
    const first = named[0] ?? errors[0];
    return {
      message: cut(`answered 422: ${errors.map((e) => `${e.field}: ${e.error}`).join('; ') || 'invalid data'}`),
      field: first && first.field !== '(record)' ? first.field.replace(/\.value$/, '') : undefined,
    };
  }
  const main = [b.exceptionMessage, b.message].find((x) => typeof x === 'string' && x) as string | undefined;
  const state = b.modelState && typeof b.modelState === 'object' ? (b.modelState as Record<string, unknown>) : {};
  const fields = Object.entries(state).map(([k, x]) => `${k}: ${Array.isArray(x) ? x.join(' ') : String(x)}`);
  return {
    message: cut(`answered ${status}${main ? `: ${main}` : ''}${fields.length ? ` (${fields.join('; ')})` : ''}`),
    field: Object.keys(state)[0],
  };
}

export type Written = { ok: true; entity: Entity } | { ok: false; refusal: Refusal };

export interface ApiOptions {
  settings: AcumaticaSettings;
  /** Calls under /entity/Default/<version>. */
  client: RemoteClient;
  /** Calls under the instance: sign-in and sign-out. */
  instance: RemoteClient;
  log?: Logger | undefined;
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

export class AcumaticaApi {
  private cookie: string | null = null;
  private signIn: Promise<string> | null = null;
  private users = 0;
  private signOut: Promise<void> = Promise.resolve();

  constructor(private readonly o: ApiOptions) {}

  private get session() {
    return this.o.settings.auth === 'session';
  }

  /**
   * Runs `fn` in a signed-in session, and signs out when the last call that needed it ends:
   * licences cap the API users signed in at once, and a session left open holds one for its idle
   * time (docs/connectors/acumatica.md, "Limits").
   */
  async within<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.session) return fn();
    this.users++;
    try {
      return await fn();
    } finally {
      if (--this.users === 0 && this.cookie) {
        const cookie = this.cookie;
        this.cookie = null;
        this.signOut = this.logout(cookie);
        await this.signOut;
      }
    }
  }

  private async login(signal?: AbortSignal): Promise<string> {
    await this.signOut;
    const s = this.o.settings;
    const body: Record<string, string> = { name: s.username, password: s.password };
    if (s.tenant) body.tenant = s.tenant;
    if (s.branch) body.branch = s.branch;
    if (s.locale) body.locale = s.locale;
    const res = await this.o.instance.request(
      { method: 'POST', path: '/entity/auth/login', json: body, kind: 'read', retrySafe: true },
      signal,
    );
    if (res.status !== 204 && res.status !== 200) {
      const refusal = describeError(res.status, safeParse(res.text));
      const final = res.status < 500 || signInRefused(res);
      throw new ConnectorError(
        SYSTEM,
        `sign-in ${this.o.client.redact(refusal.message)}: check username, password and tenant`,
        { status: res.status, retryable: !final, code: final ? 'TARGET_AUTH_REVOKED' : null },
      );
    }
    const cookies = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!.trim())
      .filter((c) => c.includes('='));
    if (cookies.length === 0)
      throw new ConnectorError(SYSTEM, `sign-in answered ${res.status} without a session cookie`, {
        status: res.status,
        retryable: false,
      });
    return cookies.join('; ');
  }

  private async logout(cookie: string): Promise<void> {
    try {
      await this.o.instance.request({
        method: 'POST',
        path: '/entity/auth/logout',
        headers: { cookie },
        kind: 'read',
        retrySafe: true,
      });
    } catch (err) {
      this.o.log?.debug({ system: SYSTEM, err: String(err) }, 'sign-out failed; the session ends at its idle timeout');
    }
  }

  private async cookieFor(signal?: AbortSignal): Promise<string> {
    if (this.cookie) return this.cookie;
    this.signIn ??= this.login(signal).finally(() => {
      this.signIn = null;
    });
    this.cookie = await this.signIn;
    return this.cookie;
  }

  /** One exchange; in session mode signed in, and signed in again once after a 401. */
  async call(
    method: 'GET' | 'PUT' | 'POST',
    path: string,
    o: {
      query?: Record<string, string>;
      body?: unknown;
      kind: CallKind;
      retrySafe: boolean;
      signal?: AbortSignal | undefined;
    },
  ) {
    const send = async (cookie: string | null) =>
      this.o.client.request(
        {
          method,
          path,
          query: o.query,
          headers: {
            ...(cookie ? { cookie } : {}),
            ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(o.body === undefined ? {} : { body: stringifyLossless(o.body)! }),
          kind: o.kind,
          retrySafe: o.retrySafe,
        },
        o.signal,
      );
    if (!this.session) return send(null);
    const first = await this.cookieFor(o.signal);
    const res = await send(first);
    if (res.status !== 401) return res;
    // The session expired (idle time) or was closed: a 401 was not processed, so it goes once more.
    if (this.cookie === first) this.cookie = null;
    const again = await send(await this.cookieFor(o.signal));
    if (again.status === 401)
      throw new ConnectorError(
        SYSTEM,
        `${method} ${path} answered 401 right after signing in: the user lacks API access`,
        {
          status: 401,
          retryable: false,
          code: 'TARGET_AUTH_REVOKED',
        },
      );
    return again;
  }

  private parse(text: string, what: string, status: number): unknown {
    const parsed = safeParse(text);
    if (parsed === undefined)
      throw new ConnectorError(SYSTEM, `${what} answered ${status} with a body that is not JSON`, {
        status,
        retryable: false,
      });
    return parsed;
  }

  private unexpected(what: string, status: number, text: string): ConnectorError {
    const refusal = describeError(status, safeParse(text));
    return new ConnectorError(SYSTEM, `${what} ${this.o.client.redact(refusal.message)}`, {
      status,
      retryable: status === 408 || status === 429 || status >= 500,
    });
  }

  /** PUT /<Entity>: creates or updates by key fields. 400, 412 and 422 are refusals with nothing saved. */
  async put(
    entity: string,
    body: Entity,
    o: { retrySafe: boolean; signal?: AbortSignal | undefined },
  ): Promise<Written> {
    const what = `PUT ${entity}`;
    const res = await this.call('PUT', `/${entity}`, { body, kind: 'write', retrySafe: o.retrySafe, signal: o.signal });
    if (res.status === 200) {
      const parsed = this.parse(res.text, what, res.status);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || typeof (parsed as Entity).id !== 'string')
        throw new ConnectorError(SYSTEM, `${what} answered 200 without the record`, { status: 200, retryable: false });
      return { ok: true, entity: parsed as Entity };
    }
    if (res.status === 400 || res.status === 412 || res.status === 422) {
      const refusal = describeError(res.status, safeParse(res.text));
      this.o.log?.debug(
        { system: SYSTEM, request: what, body: this.o.client.redact(res.text.slice(0, 2000)) },
        'refused',
      );
      return { ok: false, refusal: { ...refusal, message: this.o.client.redact(refusal.message) } };
    }
    throw this.unexpected(what, res.status, res.text);
  }

  /** GET /<Entity> with $filter (and $expand): every record it matches. */
  async list(entity: string, query: Record<string, string>, signal?: AbortSignal): Promise<Entity[]> {
    const what = `GET ${entity}`;
    const res = await this.call('GET', `/${entity}`, { query, kind: 'read', retrySafe: true, signal });
    if (res.status !== 200) throw this.unexpected(what, res.status, res.text);
    const parsed = this.parse(res.text, what, res.status);
    if (!Array.isArray(parsed))
      throw new ConnectorError(SYSTEM, `${what} answered 200 without a list`, { status: 200, retryable: false });
    return parsed as Entity[];
  }

  /** GET /<Entity>/<key>/<key>: one record by its key fields, or null. */
  async get(
    entity: string,
    keys: string[],
    query: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Entity | null> {
    const what = `GET ${entity}`;
    const res = await this.call('GET', `/${entity}/${keys.map(encodeURIComponent).join('/')}`, {
      query,
      kind: 'read',
      retrySafe: true,
      signal,
    });
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.unexpected(what, res.status, res.text);
    const parsed = this.parse(res.text, what, res.status);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new ConnectorError(SYSTEM, `${what} answered 200 without the record`, { status: 200, retryable: false });
    return parsed as Entity;
  }

  /**
   * POST /<Entity>/<Action> on one record. 204: done; 202: in progress, its Location polled until it
   * answers 204. A refusal (400, 412, 422) is returned; anything else is thrown (retryable when the
   * outcome is unknown).
   */
  async action(
    entity: string,
    action: string,
    record: Entity,
    signal?: AbortSignal,
  ): Promise<{ ok: true } | { ok: false; refusal: Refusal }> {
    const what = `POST ${entity}/${action}`;
    const res = await this.call('POST', `/${entity}/${action}`, {
      body: { entity: record },
      kind: 'write',
      retrySafe: false,
      signal,
    });
    if (res.status === 204 || res.status === 200) return { ok: true };
    if (res.status === 400 || res.status === 412 || res.status === 422) {
      const refusal = describeError(res.status, safeParse(res.text));
      return { ok: false, refusal: { ...refusal, message: this.o.client.redact(refusal.message) } };
    }
    if (res.status !== 202) throw this.unexpected(what, res.status, res.text);
    const location = res.headers.get('location');
    if (!location)
      throw new ConnectorError(SYSTEM, `${what} answered 202 without a Location`, { status: 202, retryable: false });
    const sleep = this.o.sleep ?? ((ms: number) => delay(ms, undefined, { signal }));
    const deadline = Date.now() + this.o.settings.actionTimeoutMs;
    for (;;) {
      await sleep(this.o.settings.actionPollMs);
      const path = new URL(location, this.o.settings.instanceUrl).toString();
      const poll = await this.call('GET', path, { kind: 'read', retrySafe: true, signal });
      if (poll.status === 204 || poll.status === 200) return { ok: true };
      if (poll.status === 400 || poll.status === 422) {
        const refusal = describeError(poll.status, safeParse(poll.text));
        return { ok: false, refusal: { ...refusal, message: this.o.client.redact(refusal.message) } };
      }
      if (poll.status !== 202) throw this.unexpected(`${what} (status)`, poll.status, poll.text);
      if (Date.now() > deadline)
        throw new ConnectorError(SYSTEM, `${what} still in progress after ${this.o.settings.actionTimeoutMs} ms`, {
          retryable: true,
        });
    }
  }
}

function safeParse(text: string): unknown {
  if (!text) return undefined;
  try {
    return parseLossless(text);
  } catch {
    return undefined;
  }
}
