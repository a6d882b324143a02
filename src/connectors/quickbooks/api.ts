import { createHash } from 'node:crypto';
import { parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { ConnectorError } from '../../sync/connector.ts';
import type { RemoteClient } from '../../sync/remote/client.ts';
import type { CallKind } from '../../sync/remote/contracts.ts';
import { MINOR_VERSION, SYSTEM } from './settings.ts';

/*
 * The calls the QuickBooks connector makes, over the shared RemoteClient (src/sync/remote/client.ts:
 * pacing, retries, token refresh): batch, query, read, PDF and change data capture, each with
 * `minorversion`, writes with a `requestid` QuickBooks deduplicates. Answers are parsed without
 * letting an amount through a binary float (numbers stay LosslessNumber).
 */

export type QboEntity = Record<string, unknown> & { Id: string; SyncToken: string };

/** One error of a QuickBooks Fault. */
export interface QboError {
  Message?: string;
  Detail?: string;
  code?: string;
  element?: string;
}
export interface QboFault {
  Error?: QboError[];
  type?: string;
}

export type BatchOperation =
  { entity: string; operation: 'create' | 'update' | 'delete'; body: Record<string, unknown> } | { query: string };

export type BatchAnswer =
  { ok: true; entity: QboEntity | null; query: Record<string, unknown> | null } | { ok: false; fault: QboFault };

/** The short, printable form of a fault: its code, message and detail, never more than 400 characters. */
export function describeFault(f: QboFault | undefined): string {
  const e = f?.Error?.[0];
  if (!e) return 'no error detail';
  const text = `${e.code ? `${e.code} ` : ''}${e.Message ?? ''}${e.Detail && e.Detail !== e.Message ? `: ${e.Detail}` : ''}`;
  return text.length > 400 ? text.slice(0, 397) + '...' : text;
}

export const faultCode = (f: QboFault | undefined) => f?.Error?.[0]?.code ?? null;

/** A requestid from the keys of what a call writes: the same call sends the same id, which QuickBooks replays. */
export function requestIdFor(keys: string[], operation: string): string {
  // 36 characters at most for batch calls (QuickBooks' limit).
  return createHash('sha256')
    .update(`${operation}\u0000${keys.join('\u0000')}`)
    .digest('hex')
    .slice(0, 36);
}

/** A quoted literal of QuickBooks' query language. */
export function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export class QuickBooksApi {
  constructor(
    private readonly client: RemoteClient,
    private readonly batchClient: RemoteClient,
    readonly realmId: string,
  ) {}

  private path(rest: string) {
    return `/v3/company/${encodeURIComponent(this.realmId)}/${rest}`;
  }

  private parse(text: string, what: string, status: number): Record<string, unknown> {
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

  /** A refusal of a whole request: 400 with a Fault. 403 means the app lost this company. */
  private refused(what: string, status: number, body: Record<string, unknown>): ConnectorError {
    const fault = (body.Fault ?? body.fault) as QboFault | undefined;
    if (status === 403) {
      return new ConnectorError(
        SYSTEM,
        `${what} answered 403 (${describeFault(fault)}): the app has no access to company ${this.realmId}; reconnect the pipeline (GET /v1/connections/{pipeline}/oauth/start)`,
        { status, retryable: false, code: 'TARGET_AUTH_REVOKED' },
      );
    }
    return new ConnectorError(SYSTEM, `${what} answered ${status}: ${describeFault(fault)}`, {
      status,
      retryable: false,
    });
  }

  private async call(
    method: 'GET' | 'POST',
    rest: string,
    o: {
      query?: Record<string, string>;
      body?: unknown;
      kind: CallKind;
      retrySafe: boolean;
      batch?: boolean;
      signal?: AbortSignal | undefined;
    },
  ) {
    const client = o.batch ? this.batchClient : this.client;
    const res = await client.request(
      {
        method,
        path: this.path(rest),
        query: { minorversion: MINOR_VERSION, ...o.query },
        ...(o.body === undefined
          ? {}
          : { body: stringifyLossless(o.body)!, headers: { 'content-type': 'application/json' } }),
        kind: o.kind,
        retrySafe: o.retrySafe,
      },
      o.signal,
    );
    return res;
  }

  /**
   * One batch request (at most 30 operations): an answer per operation, in order. Writes carry a
   * requestid, so the client may resend after an unknown outcome and QuickBooks answers the first
   * outcome again instead of writing twice.
   */
  async batch(ops: BatchOperation[], requestid: string | null, signal?: AbortSignal): Promise<BatchAnswer[]> {
    const writes = ops.some((o) => 'entity' in o);
    const bId = (n: number) => `b${n}`;
    const body = {
      BatchItemRequest: ops.map((o, n) =>
        'query' in o ? { bId: bId(n), Query: o.query } : { bId: bId(n), operation: o.operation, [o.entity]: o.body },
      ),
    };
    const what = `POST batch ×${ops.length}`;
    const res = await this.call('POST', 'batch', {
      body,
      query: requestid ? { requestid } : {},
      kind: writes ? 'write' : 'read',
      retrySafe: !writes || requestid !== null,
      batch: true,
      signal,
    });
    const parsed = this.parse(res.text, what, res.status);
    if (res.status !== 200) throw this.refused(what, res.status, parsed);
    const items = parsed.BatchItemResponse;
    if (!Array.isArray(items))
      throw new ConnectorError(SYSTEM, `${what} answered without BatchItemResponse`, { status: 200, retryable: false });
    const byId = new Map((items as Record<string, unknown>[]).map((i) => [String(i.bId), i]));
    return ops.map((o, n) => {
      const item = byId.get(bId(n));
      if (!item)
        throw new ConnectorError(SYSTEM, `${what} answered without item ${bId(n)}`, { status: 200, retryable: false });
      if (item.Fault) return { ok: false, fault: item.Fault };
      if ('query' in o) return { ok: true, entity: null, query: (item.QueryResponse ?? {}) as Record<string, unknown> };
      const entity = item[o.entity] as QboEntity | undefined;
      if (!entity)
        throw new ConnectorError(SYSTEM, `${what} answered item ${bId(n)} without ${o.entity}`, {
          status: 200,
          retryable: false,
        });
      return { ok: true, entity, query: null };
    });
  }

  /**
   * One entity created on its own endpoint (`POST /invoice`), for what a batch item cannot say:
   * `include` options such as `allowduplicatedocnum`, which Intuit documents as a query parameter
   * of the entity's URI. A refusal (400 with a Fault) is an answer, as a batch item's is.
   */
  async create(
    entity: string,
    body: Record<string, unknown>,
    requestid: string,
    include: string[],
    signal?: AbortSignal,
  ): Promise<BatchAnswer> {
    const what = `POST ${entity.toLowerCase()}`;
    const res = await this.call('POST', entity.toLowerCase(), {
      body,
      query: { requestid, ...(include.length > 0 ? { include: include.join(',') } : {}) },
      kind: 'write',
      retrySafe: true,
      signal,
    });
    const parsed = this.parse(res.text, what, res.status);
    const fault = (parsed.Fault ?? parsed.fault) as QboFault | undefined;
    if (res.status === 400 && fault?.type === 'ValidationFault') return { ok: false, fault };
    if (res.status !== 200) throw this.refused(what, res.status, parsed);
    const saved = parsed[entity] as QboEntity | undefined;
    if (!saved)
      throw new ConnectorError(SYSTEM, `${what} answered without ${entity}`, { status: 200, retryable: false });
    return { ok: true, entity: saved, query: null };
  }

  /** One query page: the entities of the type named. */
  async query(entity: string, sql: string, signal?: AbortSignal): Promise<QboEntity[]> {
    const res = await this.call('GET', 'query', { query: { query: sql }, kind: 'read', retrySafe: true, signal });
    const parsed = this.parse(res.text, 'GET query', res.status);
    if (res.status !== 200) throw this.refused(`query of ${entity}`, res.status, parsed);
    const q = (parsed.QueryResponse ?? {}) as Record<string, unknown>;
    return (q[entity] as QboEntity[] | undefined) ?? [];
  }

  /** Every entity a query matches, 1,000 a page. */
  async queryAll(entity: string, where: string, signal?: AbortSignal): Promise<QboEntity[]> {
    const out: QboEntity[] = [];
    for (let start = 1; ; start += 1000) {
      const page = await this.query(
        entity,
        `SELECT * FROM ${entity}${where ? ` WHERE ${where}` : ''} STARTPOSITION ${start} MAXRESULTS 1000`,
        signal,
      );
      out.push(...page);
      if (page.length < 1000) return out;
    }
  }

  async read(entity: string, path: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const res = await this.call('GET', path, { kind: 'read', retrySafe: true, signal });
    const parsed = this.parse(res.text, `GET ${entity}`, res.status);
    if (res.status !== 200) throw this.refused(`GET ${entity}`, res.status, parsed);
    const e = parsed[entity];
    if (!e || typeof e !== 'object')
      throw new ConnectorError(SYSTEM, `GET ${entity} answered without ${entity}`, { status: 200, retryable: false });
    return e as Record<string, unknown>;
  }

  async pdf(invoiceId: string, signal?: AbortSignal): Promise<Buffer> {
    const res = await this.client.request(
      {
        method: 'GET',
        path: this.path(`invoice/${encodeURIComponent(invoiceId)}/pdf`),
        query: { minorversion: MINOR_VERSION },
        kind: 'read',
        retrySafe: true,
        accept: 'application/pdf',
      },
      signal,
    );
    if (res.status !== 200)
      throw this.refused(`GET invoice PDF`, res.status, this.parse(res.text, 'GET invoice PDF', res.status));
    if (!res.body.subarray(0, 5).equals(Buffer.from('%PDF-'))) {
      throw new ConnectorError(SYSTEM, 'GET invoice PDF answered 200 with something that is not a PDF', {
        status: 200,
        retryable: false,
      });
    }
    return res.body;
  }

  /** Entities of these types changed since a time (QuickBooks keeps 30 days), by type. */
  async cdc(entities: string[], changedSince: string, signal?: AbortSignal): Promise<Map<string, QboEntity[]>> {
    const res = await this.call('GET', 'cdc', {
      query: { entities: entities.join(','), changedSince },
      kind: 'read',
      retrySafe: true,
      signal,
    });
    const parsed = this.parse(res.text, 'GET cdc', res.status);
    if (res.status !== 200) throw this.refused('GET cdc', res.status, parsed);
    const out = new Map<string, QboEntity[]>(entities.map((e) => [e, []]));
    for (const r of (parsed.CDCResponse as { QueryResponse?: Record<string, unknown>[] }[] | undefined) ?? []) {
      for (const q of r.QueryResponse ?? []) {
        for (const e of entities) if (Array.isArray(q[e])) out.get(e)!.push(...(q[e] as QboEntity[]));
      }
    }
    return out;
  }
}
