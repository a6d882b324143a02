import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import type { CallKind } from '../../sync/remote/contracts.ts';
import { type AccountsIqSettings, SYSTEM } from './settings.ts';
import {
  NS,
  type Operation,
  type Value,
  type Xml,
  isNil,
  items,
  parseEnvelope,
  requestEnvelope,
  text,
} from './wsdl.ts';

/*
 * The calls of the AccountsIQ connector: SOAP 1.1 envelopes over the shared RemoteClient (pacing,
 * timeouts, redaction), and the session in front of them. API 2.0: TokenGet(clientId, clientSecret)
 * gives an access and a refresh token, sent in the AiqSoapHeader with the entity; an answer with
 * HasExpired asks for TokenRefresh (which rotates both) and the call goes once more. Legacy 1.1:
 * Login(entityID, partnerKey, userKey) gives a session token (20 minutes) passed as each call's
 * `token`, and HasExpired means logging in again. A call refused for an expired token did nothing,
 * so sending it again is safe.
 */

/** One WSResult2 (or WSResultStatus) answer, and the operation's out parameters. */
export interface WsAnswer {
  status: string;
  errorCode: string;
  errorMessage: string;
  hasExpired: boolean;
  result: Xml | undefined;
  /** Out parameters beside the result (`transactionID` of …GetBackTransactionID). */
  outs: Record<string, Xml>;
}

/** A WSResult2 element (a top-level answer or an element of a bulk one) read as an answer. */
export function wsResult(x: Xml | undefined): Omit<WsAnswer, 'outs'> {
  const r = (x && typeof x === 'object' && !Array.isArray(x) ? x : {}) as Record<string, Xml>;
  return {
    status: text(r.Status),
    errorCode: text(r.ErrorCode),
    errorMessage: text(r.ErrorMessage),
    hasExpired: text(r.HasExpired) === 'true',
    result: isNil(r.Result) ? undefined : r.Result,
  };
}

/**
 * A bulk answer (ArrayOfWSResultStatus, one status an element, as SaveSundryReceiptPayments…
 * answers) read as one: Success when every element succeeded, else the first refusal; the list
 * is its result. Null when it is no such list.
 */
function bulkResult(x: Xml | undefined): Omit<WsAnswer, 'outs'> | null {
  const each = items(x, 'WSResultStatus').map(wsResult);
  if (each.length === 0) return null;
  const refusal = each.find((e) => e.status !== 'Success');
  return {
    status: refusal ? 'Failure' : 'Success',
    errorCode: refusal?.errorCode ?? '',
    errorMessage: refusal?.errorMessage ?? '',
    hasExpired: each.some((e) => e.hasExpired),
    result: x,
  };
}

/** The short, printable form of a refusal: AccountsIQ's code and message, never more than 300 characters. */
export function describe(a: Pick<WsAnswer, 'errorCode' | 'errorMessage' | 'status'>): string {
  const t = [a.errorCode, a.errorMessage].filter((x) => x !== '').join(': ') || `status ${a.status || 'missing'}`;
  return t.length > 300 ? t.slice(0, 297) + '...' : t;
}

interface Session {
  access: string;
  refresh: string | null;
}

export class AccountsIqApi {
  private session: Promise<Session> | null = null;
  private current: Session | null = null;

  constructor(
    private readonly client: RemoteClient,
    private readonly settings: AccountsIqSettings,
    private readonly endpoint: string,
  ) {}

  /** Every value to keep out of messages: the configured keys and the tokens of the session. */
  secrets(): string[] {
    const s = this.settings;
    return [s.clientSecret, s.partnerKey, s.userKey, this.current?.access, this.current?.refresh].filter(
      (x): x is string => typeof x === 'string' && x.length > 0,
    );
  }

  /** One exchange: the envelope out, the operation's response element back (or a ConnectorError). */
  private async exchange(
    op: Operation,
    args: Record<string, Value>,
    header: { AccessToken: string; Entity: string } | undefined,
    o: { kind: CallKind; retrySafe: boolean; signal?: AbortSignal | undefined },
  ): Promise<Record<string, Xml>> {
    const res = await this.client.request(
      {
        method: 'POST',
        path: this.endpoint,
        body: requestEnvelope(op, args, header),
        headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${NS}${op}"` },
        accept: 'text/xml',
        kind: o.kind,
        retrySafe: o.retrySafe,
      },
      o.signal,
    );
    const env = parseEnvelope(res.text);
    if (res.status !== 200) {
      const fault = env?.body.Fault as Record<string, Xml> | undefined;
      const code = text(fault?.faultcode);
      throw new ConnectorError(
        SYSTEM,
        `${op} answered ${res.status}${code ? ` (${code})` : ''}: the request was refused as a whole`,
        { status: res.status, retryable: false },
      );
    }
    const response = env?.body[`${op}Response`];
    if (!response || typeof response !== 'object' || Array.isArray(response))
      throw new ConnectorError(SYSTEM, `${op} answered 200 without a ${op}Response envelope`, {
        status: 200,
        retryable: false,
      });
    return response;
  }

  private login(signal?: AbortSignal): Promise<Session> {
    this.session ??= this.openSession(null, signal)
      .then((s) => {
        this.current = s;
        return s;
      })
      .catch((err: unknown) => {
        this.session = null;
        throw err;
      });
    return this.session;
  }

  /** A new session: TokenRefresh when there is a refresh token (else, or when it is refused, TokenGet); Login on 1.1. */
  private async openSession(refresh: string | null, signal?: AbortSignal): Promise<Session> {
    const s = this.settings;
    const read = { kind: 'read' as const, retrySafe: true, signal };
    if (s.api === '1.1') {
      const r = await this.exchange(
        'Login',
        { entityID: s.entityId, partnerKey: s.partnerKey, userKey: s.userKey },
        undefined,
        read,
      );
      const token = text(r.LoginResult);
      if (!token)
        throw new ConnectorError(
          SYSTEM,
          'Login answered no session token: the entity, partner key or user key is wrong or expired (AccountsIQ gives no reason)',
          { retryable: false, code: 'TARGET_AUTH_REVOKED' },
        );
      return { access: token, refresh: null };
    }
    if (refresh) {
      const r = wsResult(
        (
          await this.exchange(
            'TokenRefresh',
            { clientId: s.clientId, clientSecret: s.clientSecret, refreshToken: refresh },
            undefined,
            read,
          )
        ).TokenRefreshResult,
      );
      const tokens = this.tokens(r);
      if (tokens) return tokens;
    }
    const r = wsResult(
      (await this.exchange('TokenGet', { clientId: s.clientId, clientSecret: s.clientSecret }, undefined, read))
        .TokenGetResult,
    );
    const tokens = this.tokens(r);
    if (!tokens)
      throw new ConnectorError(
        SYSTEM,
        `TokenGet refused the client credentials (${describe(r)}): check clientId and clientSecret of the Integration Application and that it may reach entity ${s.entityId}`,
        { retryable: false, code: 'TARGET_AUTH_REVOKED' },
      );
    return tokens;
  }

  private tokens(r: Omit<WsAnswer, 'outs'>): Session | null {
    if (r.status !== 'Success' || !r.result || typeof r.result !== 'object') return null;
    const t = r.result as Record<string, Xml>;
    const access = text(t.AccessToken);
    return access ? { access, refresh: text(t.RefreshToken) || null } : null;
  }

  /** After an answer with HasExpired: a new session, once for everyone who used the expired one. */
  private renew(expired: Session, signal?: AbortSignal): Promise<Session> {
    if (this.current !== expired && this.session) return this.session;
    this.session = this.openSession(expired.refresh, signal)
      .then((s) => {
        this.current = s;
        return s;
      })
      .catch((err: unknown) => {
        this.session = null;
        throw err;
      });
    return this.session;
  }

  /**
   * Calls an operation with the session's token and returns its answer; a token found expired is
   * renewed and the call sent once more. `args` leave out `token`: it is filled in here.
   */
  async call(
    op: Operation,
    args: Record<string, Value>,
    o: { kind: CallKind; retrySafe: boolean; signal?: AbortSignal | undefined },
  ): Promise<WsAnswer> {
    let session = await this.login(o.signal);
    for (let attempt = 1; ; attempt++) {
      const v2 = this.settings.api === '2.0';
      const response = await this.exchange(
        op,
        { token: v2 ? '' : session.access, ...args },
        v2 ? { AccessToken: session.access, Entity: this.settings.entityId } : undefined,
        o,
      );
      const { [`${op}Result`]: result, ...outs } = response;
      const one = wsResult(result);
      const answer = { ...(one.status === '' ? (bulkResult(result) ?? one) : one), outs };
      if (!answer.hasExpired) {
        if (!answer.status)
          throw new ConnectorError(SYSTEM, `${op} answered 200 without a Status`, { status: 200, retryable: false });
        return answer;
      }
      if (attempt >= 2)
        throw new ConnectorError(
          SYSTEM,
          `${op}: the session expired again at once after it was renewed; check the Integration Application's access to entity ${this.settings.entityId}`,
          { retryable: false, code: 'TARGET_AUTH_REVOKED' },
        );
      session = await this.renew(session, o.signal);
    }
  }

  /** A read: sent again by the client after an unknown outcome. */
  read(op: Operation, args: Record<string, Value>, signal?: AbortSignal): Promise<WsAnswer> {
    return this.call(op, args, { kind: 'read', retrySafe: true, signal });
  }

  /** A write: never sent again by the client; after an unknown outcome the engine looks it up. */
  write(op: Operation, args: Record<string, Value>, signal?: AbortSignal): Promise<WsAnswer> {
    return this.call(op, args, { kind: 'write', retrySafe: false, signal });
  }

  /** A read whose refusal is not an item's fault: a ConnectorError (not retryable: it would be refused again). */
  async readOk(op: Operation, args: Record<string, Value>, signal?: AbortSignal): Promise<Xml | undefined> {
    const a = await this.read(op, args, signal);
    if (a.status !== 'Success')
      throw new ConnectorError(SYSTEM, `${op} refused: ${describe(a)}`, { status: 200, retryable: false });
    return a.result;
  }
}
