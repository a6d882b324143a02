import { createHash, randomUUID } from 'node:crypto';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import { type IntacctSettings, SYSTEM, endpointOf } from './settings.ts';
import {
  type Authentication,
  type FunctionResult,
  type GatewayResponse,
  type IntacctError,
  type Xml,
  describe,
  parseResponse,
  quote,
  requestXml,
  text,
} from './xml.ts';

/*
 * The calls of the Intacct connector: one POST to the XML gateway per function, over the shared
 * RemoteClient (pacing, timeouts, 429 with backoff, redaction). The company user logs in once
 * with getAPISession (developer.intacct.com "API Sessions"); every later request carries the
 * session id. A session that timed out is refused in the authentication block: the call logs in
 * again, once, and is sent again (nothing was done). A write's control id is derived from the
 * document's idempotency key with `uniqueid` true, so the gateway refuses the same write sent
 * twice; that refusal is reported as `duplicate`, for the caller to look the document up.
 */

/**
 * The errorno the gateway answers a second request with the same control id with, when uniqueid
 * is true *(unverified: the vendor page says such a request is refused, not with which number)*.
 */
export const DUPLICATE_CONTROL_ERRORS = new Set(['XL03000009']);

/** What a function answered: its result, or that its control id was already used. */
export type Answer = { duplicate: false; result: FunctionResult } | { duplicate: true; errors: IntacctError[] };

/** A control id for a write, the same on every attempt of the same document (at most 40 characters). */
export const writeControlId = (idempotencyKey: string, what: string) =>
  `ll-${createHash('sha256').update(`${what}:${idempotencyKey}`).digest('hex').slice(0, 32)}`;

export class IntacctApi {
  private session: Promise<string> | null = null;
  private current: string | null = null;

  constructor(
    private readonly client: RemoteClient,
    readonly settings: IntacctSettings,
  ) {}

  /** Every value to keep out of messages: the passwords and the session id. */
  secrets(): string[] {
    return [this.settings.senderPassword, this.settings.userPassword, this.current].filter(
      (x): x is string => typeof x === 'string' && x.length > 0,
    );
  }

  private async post(
    auth: Authentication,
    fn: { name: string; body: Xml },
    o: { controlId: string; uniqueId: boolean; write: boolean; signal?: AbortSignal | undefined },
  ): Promise<GatewayResponse> {
    const s = this.settings;
    const res = await this.client.request(
      {
        method: 'POST',
        path: endpointOf(s),
        body: requestXml(
          { senderId: s.senderId, senderPassword: s.senderPassword, controlId: o.controlId, uniqueId: o.uniqueId },
          auth,
          [{ controlId: o.controlId, name: fn.name, body: fn.body }],
        ),
        headers: { 'content-type': 'application/xml; charset=utf-8' },
        accept: 'application/xml',
        kind: o.write ? 'write' : 'read',
        retrySafe: !o.write,
      },
      o.signal,
    );
    const parsed = parseResponse(res.text);
    if (res.status !== 200 || !parsed)
      throw new ConnectorError(
        SYSTEM,
        `${fn.name} answered ${res.status}${parsed ? ` (${describe(parsed.controlErrors)})` : ' without a gateway response'}`,
        { status: res.status, retryable: false },
      );
    return parsed;
  }

  private login(signal?: AbortSignal): Promise<string> {
    this.session ??= this.openSession(signal)
      .then((id) => {
        this.current = id;
        return id;
      })
      .catch((err: unknown) => {
        this.session = null;
        throw err;
      });
    return this.session;
  }

  /** getAPISession with the company user's login, alone in its request, as the vendor asks. */
  private async openSession(signal?: AbortSignal): Promise<string> {
    const s = this.settings;
    const r = await this.post(
      { login: { userId: s.userId, companyId: s.companyId, password: s.userPassword, locationId: s.entityId } },
      { name: 'getAPISession', body: '' },
      { controlId: randomUUID(), uniqueId: false, write: false, signal },
    );
    if (r.controlStatus !== 'success')
      throw new ConnectorError(
        SYSTEM,
        `the gateway refused the Web Services sender (${describe(r.controlErrors)}): check senderId and senderPassword`,
        { retryable: false, code: 'TARGET_AUTH_REVOKED' },
      );
    if (r.authStatus !== 'success')
      throw new ConnectorError(
        SYSTEM,
        `getAPISession refused the company user (${describe(r.authErrors)}): check companyId, userId, userPassword, and that the sender is authorised in the company`,
        { retryable: false, code: 'TARGET_AUTH_REVOKED' },
      );
    const result = r.results[0];
    const api = result?.data?.api;
    const id = text(Array.isArray(api) ? (api[0] as Record<string, Xml>)?.sessionid : undefined);
    if (result?.status !== 'success' || !id)
      throw new ConnectorError(SYSTEM, `getAPISession answered no session (${describe(result?.errors ?? [])})`, {
        retryable: false,
        code: 'TARGET_AUTH_REVOKED',
      });
    return id;
  }

  /** The session after one was refused: a new one, once for every caller that used the old one. */
  private renew(expired: string, signal?: AbortSignal): Promise<string> {
    if (this.current !== expired && this.session) return this.session;
    this.session = null;
    this.current = null;
    return this.login(signal);
  }

  /**
   * Sends one function in a request of its own. A write carries `controlId` (derived from the
   * document) with uniqueid true; a read a fresh one with uniqueid false.
   */
  async call(
    fn: { name: string; body: Xml },
    o: { write: boolean; controlId?: string | undefined; signal?: AbortSignal | undefined },
  ): Promise<Answer> {
    const controlId = o.controlId ?? randomUUID();
    let session = await this.login(o.signal);
    for (let attempt = 1; ; attempt++) {
      const r = await this.post({ sessionId: session }, fn, {
        controlId,
        uniqueId: o.write,
        write: o.write,
        signal: o.signal,
      });
      if (r.controlStatus !== 'success') {
        if (r.controlErrors.some((e) => DUPLICATE_CONTROL_ERRORS.has(e.errorno)))
          return { duplicate: true, errors: r.controlErrors };
        throw new ConnectorError(SYSTEM, `${fn.name}: the request was refused (${describe(r.controlErrors)})`, {
          retryable: false,
        });
      }
      if (r.authStatus !== 'success') {
        if (attempt >= 2)
          throw new ConnectorError(
            SYSTEM,
            `${fn.name}: a new session was refused at once (${describe(r.authErrors)}); check the user's permissions`,
            { retryable: false, code: 'TARGET_AUTH_REVOKED' },
          );
        session = await this.renew(session, o.signal);
        continue;
      }
      const result = r.results[0];
      if (!result)
        throw new ConnectorError(SYSTEM, `${fn.name} answered without a result`, { status: 200, retryable: false });
      return { duplicate: false, result };
    }
  }

  /** A read that must succeed: a refusal is thrown (a setting or a permission is wrong). */
  async read(name: string, body: Xml, signal?: AbortSignal): Promise<FunctionResult> {
    const a = await this.call({ name, body }, { write: false, signal });
    if (a.duplicate || a.result.status !== 'success')
      throw new ConnectorError(SYSTEM, `${name} was refused (${describe(a.duplicate ? a.errors : a.result.errors)})`, {
        status: 200,
        retryable: false,
      });
    return a.result;
  }

  /**
   * Records of `object` whose `field` is one of `values` (readByQuery `FIELD IN (…)`), a thousand
   * values a request with pages of a thousand rows, the most readByQuery answers at once. A slice
   * whose rows do not fit one page (several records under one value) is read again in halves, so
   * that nothing is left unread without readMore.
   */
  async queryIn(
    object: string,
    field: string,
    values: readonly string[],
    signal?: AbortSignal,
  ): Promise<Record<string, Xml>[]> {
    const out: Record<string, Xml>[] = [];
    const read = async (slice: readonly string[]): Promise<void> => {
      const query = `${field} IN (${slice.map(quote).join(', ')})`;
      const r = await this.read('readByQuery', { object, fields: '*', query, pagesize: String(IN_PAGE) }, signal);
      if (Number(text(r.data?.['@_numremaining']) || '0') > 0) {
        if (slice.length === 1)
          throw new ConnectorError(SYSTEM, `${object}: more than ${IN_PAGE} records under ${field} ${slice[0]}`, {
            retryable: false,
          });
        const half = Math.ceil(slice.length / 2);
        await read(slice.slice(0, half));
        await read(slice.slice(half));
        return;
      }
      out.push(...rowsOf(r, object));
    };
    const unique = [...new Set(values)];
    for (let i = 0; i < unique.length; i += IN_PAGE) await read(unique.slice(i, i + IN_PAGE));
    return out;
  }

  /** Records of `object` matching `query` (readByQuery, up to 100: our filters match one or a few). */
  async query(object: string, query: string, signal?: AbortSignal): Promise<Record<string, Xml>[]> {
    const r = await this.read('readByQuery', { object, fields: '*', query, pagesize: '100' }, signal);
    return rowsOf(r, object);
  }
}

/**
 * Values a readByQuery names at once, and rows it answers at once: 1,000 is the most `pagesize`
 * takes (the vendor's SDKs refuse more); the length of an IN list is not documented *(unverified)*.
 */
export const IN_PAGE = 1000;

function rowsOf(r: FunctionResult, object: string): Record<string, Xml>[] {
  const rows = r.data?.[object];
  return (Array.isArray(rows) ? rows : rows === undefined ? [] : [rows]).filter(
    (x): x is Record<string, Xml> => typeof x === 'object' && x !== null,
  );
}
