import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer } from '../../sync/local-server.ts';
import { signatureProblem } from './signature.ts';
import { seeded } from '../../sync/seeded.ts';

/*
 * A local receiver for the webhook target: what an in-house ERP behind a webhook would be, with
 * the ways a real one misbehaves. It checks X-Ledgerlink-Signature, stores documents by kind and
 * reference, replays an Idempotency-Key it has seen instead of creating again (and an item's
 * idempotencyKey too), answers lookups, numbers documents (INV-0001…), and can be told to fail
 * before committing (503), to commit and then drop the connection, or to refuse some documents.
 * Its randomness is seeded, so a test that fails can be run again the same way. Used by the
 * webhook target's tests and by end-to-end tests of pipelines to a webhook target.
 */

export type ReceiverKind = 'customer' | 'product' | 'invoice' | 'payment' | 'refund';
const KINDS = new Set<string>(['customer', 'product', 'invoice', 'payment', 'refund']);

/** A refusal of one document, as the receiver answers it in place of its result. */
export interface ReceiverRefusal {
  code: string;
  message: string;
  retryable?: boolean;
  field?: string;
}

export interface WebhookReceiverOptions {
  /** The secret requests must be signed with (a random one when not given). */
  secret?: string;
  /** Seed of the fault injection's randomness (default 1). */
  seed?: number;
  /** Share of write requests committed and then answered by dropping the connection. */
  dropAfterCommitRate?: number;
  /** Share of write requests answered 503 before anything is committed. */
  failRate?: number;
  /** Refuses a document with this error (its neighbours in the request are still committed). */
  rejectWhen?: (document: Record<string, unknown>, kind: ReceiverKind) => ReceiverRefusal | null | undefined | false;
  /**
   * A second invoice, payment or refund with a reference (and customer) already stored, under
   * another key: `create` stores it again (a naive ERP; the store counts it as a duplicate),
   * `reject` refuses it with DUPLICATE_REFERENCE. Customers and products are upserts by code.
   */
  duplicateReferences?: 'create' | 'reject';
  /** Whether an item's own idempotencyKey is honoured, not only the request's Idempotency-Key (default true). */
  honourItemKeys?: boolean;
  /**
   * Whether the request's Idempotency-Key is honoured (default true). False: a receiver that keeps
   * no keys at all, as many ERPs' APIs, where only the sender's own care keeps a document single.
   */
  honourRequestKeys?: boolean;
  host?: string;
  port?: number;
}

export interface StoredDocument {
  id: string;
  kind: ReceiverKind;
  reference: string;
  number: string;
  customerTargetId: string | null;
  sourceId: string;
  idempotencyKey: string;
  document: Record<string, unknown>;
  /** 1 when created, then +1 per update (customers, products). */
  version: number;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  idempotencyKey: string | null;
  kind: string | null;
  itemKeys: string[];
  /** What was done with it: the status answered, or `dropped` after commit. */
  answer: number | 'dropped';
}

export interface ReceiverStats {
  posts: number;
  lookups: number;
  /** Requests answered from a stored Idempotency-Key. */
  replays: number;
  /** Items answered from a stored item idempotencyKey. */
  itemReplays: number;
  created: number;
  updated: number;
  rejected: number;
  /** Answers dropped after commit, 503s before commit, other injected failures. */
  dropped: number;
  failed: number;
  badSignatures: number;
  /** Documents received again under a new key although their reference was stored. */
  duplicates: number;
  keyConflicts: number;
}

export interface WebhookReceiverControl {
  /**
   * Answer the next `times` matching requests (after letting `after` through) with `status` and
   * `body`, before committing anything; Retry-After in seconds when given.
   */
  failNext(f: {
    status: number;
    times: number;
    after?: number;
    retryAfter?: number;
    body?: unknown;
    route?: 'post' | 'lookup';
  }): void;
  /** Commit the next `times` write requests, then drop the connection without an answer. */
  dropNext(times: number): void;
  /** Commit the next `times` write requests, then hold the answer for `ms` (to run a client into its timeout). */
  stallNext(times: number, ms: number): void;
  dropAfterCommitRate: number;
  failRate: number;
  rejectWhen: WebhookReceiverOptions['rejectWhen'];
}

export interface WebhookReceiver {
  /** Where the target POSTs. */
  url: string;
  /** A lookup URL with placeholders; `${base}/lookup` takes query parameters. */
  lookupUrl: string;
  base: string;
  secret: string;
  /** The target settings of a pipeline that sends here (`type: 'webhook'` included). */
  settings(extra?: Record<string, unknown>): Record<string, unknown>;
  control: WebhookReceiverControl;
  readonly stats: ReceiverStats;
  readonly requests: ReceivedRequest[];
  /** Every document stored, in order of creation. */
  readonly documents: StoredDocument[];
  /** How many documents of a kind are stored. */
  count(kind: ReceiverKind): number;
  /** Stored documents of one kind and reference (more than one means a duplicate). */
  find(kind: ReceiverKind, reference: string): StoredDocument[];
  /** Groups of stored documents sharing kind, customer and reference: empty when nothing was created twice. */
  duplicates(): StoredDocument[][];
  close(): Promise<void>;
}

const PREFIX: Record<ReceiverKind, string> = {
  customer: 'CUS',
  product: 'PRD',
  invoice: 'INV',
  payment: 'PAY',
  refund: 'REF',
};

const MAX_BODY = 32 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

type Result = { id: string; number: string } | { error: ReceiverRefusal };

interface WireItem {
  idempotencyKey: string;
  sourceId: string;
  document: Record<string, unknown>;
}

function wireItems(body: unknown): { kind: ReceiverKind; items: WireItem[] } | string {
  if (!body || typeof body !== 'object') return 'the body must be an object {kind, items}';
  const { kind, items } = body as { kind?: unknown; items?: unknown };
  if (typeof kind !== 'string' || !KINDS.has(kind)) return `kind must be one of ${[...KINDS].join(', ')}`;
  if (!Array.isArray(items) || items.length === 0) return 'items must be a non-empty array';
  for (const [n, item] of items.entries()) {
    const i = item as Partial<WireItem> | null;
    if (!i || typeof i.idempotencyKey !== 'string' || i.idempotencyKey === '')
      return `items[${n}].idempotencyKey is required`;
    if (typeof i.sourceId !== 'string') return `items[${n}].sourceId is required`;
    if (!i.document || typeof i.document !== 'object' || Array.isArray(i.document))
      return `items[${n}].document must be an object`;
  }
  return { kind: kind as ReceiverKind, items: items as WireItem[] };
}

/** The reference a document is found by: its code (customers, products) or its external reference. */
function referenceOf(kind: ReceiverKind, item: WireItem): string {
  const d = item.document;
  const ref = kind === 'customer' || kind === 'product' ? d.code : d.externalReference;
  return typeof ref === 'string' && ref !== '' ? ref : item.sourceId;
}

/** Starts a receiver on 127.0.0.1 (port 0: any free port). */
export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const secret = options.secret ?? `whr_${randomBytes(16).toString('hex')}`;
  const random = seeded(options.seed ?? 1);
  const duplicateMode = options.duplicateReferences ?? 'create';
  const honourItemKeys = options.honourItemKeys ?? true;
  const honourRequestKeys = options.honourRequestKeys ?? true;

  const documents: StoredDocument[] = [];
  const byReference = new Map<string, StoredDocument[]>();
  const byItemKey = new Map<string, StoredDocument>();
  const byRequestKey = new Map<string, { hash: string; results: Result[] }>();
  const sequence: Record<ReceiverKind, number> = { customer: 0, product: 0, invoice: 0, payment: 0, refund: 0 };
  const requests: ReceivedRequest[] = [];
  const stats: ReceiverStats = {
    posts: 0,
    lookups: 0,
    replays: 0,
    itemReplays: 0,
    created: 0,
    updated: 0,
    rejected: 0,
    dropped: 0,
    failed: 0,
    badSignatures: 0,
    duplicates: 0,
    keyConflicts: 0,
  };
  const failures: {
    status: number;
    left: number;
    after: number;
    retryAfter?: number | undefined;
    body?: unknown;
    route?: string;
  }[] = [];
  let dropsLeft = 0;
  let stall = { left: 0, ms: 0 };
  const control: WebhookReceiverControl = {
    failNext: (f) => failures.push({ ...f, left: f.times, after: f.after ?? 0 }),
    dropNext: (times) => {
      dropsLeft += times;
    },
    stallNext: (times, ms) => {
      stall = { left: times, ms };
    },
    dropAfterCommitRate: options.dropAfterCommitRate ?? 0,
    failRate: options.failRate ?? 0,
    rejectWhen: options.rejectWhen,
  };

  const refKey = (kind: string, reference: string, customer: string | null) =>
    `${kind}\u0000${customer ?? ''}\u0000${reference}`;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };
  const error = (res: ServerResponse, status: number, code: string, message: string) =>
    send(res, status, { error: { code, message } });

  /** An injected failure for this request, if one is due. */
  function injected(route: 'post' | 'lookup', res: ServerResponse): boolean {
    const f = failures.find((x) => x.left > 0 && (!x.route || x.route === route));
    if (f && f.after > 0) {
      f.after--;
      return false;
    }
    if (f) {
      f.left--;
      stats.failed++;
      send(
        res,
        f.status,
        f.body ?? { error: { code: 'INJECTED', message: `injected ${f.status}` } },
        f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {},
      );
      return true;
    }
    return false;
  }

  function commit(kind: ReceiverKind, item: WireItem): Result {
    if (honourItemKeys) {
      const seen = byItemKey.get(item.idempotencyKey);
      if (seen) {
        stats.itemReplays++;
        return { id: seen.id, number: seen.number };
      }
    }
    const refusal = control.rejectWhen?.(item.document, kind);
    if (refusal) {
      stats.rejected++;
      return { error: refusal };
    }
    const reference = referenceOf(kind, item);
    const customer =
      typeof item.document.customerTargetId === 'string' && kind !== 'customer' && kind !== 'product'
        ? item.document.customerTargetId
        : null;
    const key = refKey(kind, reference, customer);
    const same = byReference.get(key) ?? [];
    if (kind === 'customer' || kind === 'product') {
      // Upserts: by the target id the sender gives, else by code.
      const target =
        typeof item.document.targetId === 'string'
          ? documents.find((d) => d.kind === kind && d.id === item.document.targetId)
          : same[0];
      if (target) {
        target.document = item.document;
        target.version++;
        stats.updated++;
        byItemKey.set(item.idempotencyKey, target);
        return { id: target.id, number: target.number };
      }
    } else if (same.length > 0) {
      stats.duplicates++;
      if (duplicateMode === 'reject') {
        return {
          error: {
            code: 'DUPLICATE_REFERENCE',
            message: `A ${kind} ${reference} exists (${same[0]!.id})`,
            field: 'externalReference',
          },
        };
      }
    }
    const n = ++sequence[kind];
    const doc: StoredDocument = {
      id: `${PREFIX[kind].toLowerCase()}_${n}`,
      kind,
      reference,
      number: kind === 'customer' || kind === 'product' ? reference : `${PREFIX[kind]}-${String(n).padStart(4, '0')}`,
      customerTargetId: customer,
      sourceId: item.sourceId,
      idempotencyKey: item.idempotencyKey,
      document: item.document,
      version: 1,
    };
    documents.push(doc);
    byReference.set(key, [...same, doc]);
    byItemKey.set(item.idempotencyKey, doc);
    stats.created++;
    return { id: doc.id, number: doc.number };
  }

  function post(req: IncomingMessage, res: ServerResponse, raw: Buffer, log: ReceivedRequest): void {
    stats.posts++;
    const failDraw = random();
    const dropDraw = random();
    if (injected('post', res)) return;
    if (failDraw < control.failRate) {
      stats.failed++;
      return error(res, 503, 'UNAVAILABLE', 'The receiver is unavailable; nothing was stored');
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return error(res, 400, 'INVALID_JSON', 'The body is not JSON');
    }
    const parsed = wireItems(body);
    if (typeof parsed === 'string') return error(res, 400, 'VALIDATION_ERROR', parsed);
    log.kind = parsed.kind;
    log.itemKeys = parsed.items.map((i) => i.idempotencyKey);
    const requestKey = req.headers['idempotency-key'];
    if (typeof requestKey !== 'string' || requestKey === '') {
      return error(res, 400, 'IDEMPOTENCY_KEY_REQUIRED', 'Send an Idempotency-Key header');
    }
    const hash = createHash('sha256').update(raw).digest('hex');
    const stored = honourRequestKeys ? byRequestKey.get(requestKey) : undefined;
    let results: Result[];
    if (stored) {
      if (stored.hash !== hash) {
        stats.keyConflicts++;
        return error(res, 422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with another body');
      }
      stats.replays++;
      results = stored.results;
    } else {
      // One synchronous step: the whole request commits before anything is answered or dropped.
      results = parsed.items.map((item) => commit(parsed.kind, item));
      byRequestKey.set(requestKey, { hash, results });
    }
    if (dropsLeft > 0 || dropDraw < control.dropAfterCommitRate) {
      if (dropsLeft > 0) dropsLeft--;
      stats.dropped++;
      log.answer = 'dropped';
      req.socket.destroy();
      return;
    }
    if (stall.left > 0) {
      stall.left--;
      const t = setTimeout(() => send(res, 200, { results }), stall.ms);
      res.on('close', () => clearTimeout(t));
      return;
    }
    send(res, 200, { results });
  }

  function lookup(url: URL, res: ServerResponse): void {
    stats.lookups++;
    if (injected('lookup', res)) return;
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const kind = parts[1] ?? url.searchParams.get('kind') ?? '';
    const reference = parts[2] ?? url.searchParams.get('reference') ?? '';
    const customer = url.searchParams.get('customerTargetId');
    if (!KINDS.has(kind) || reference === '') {
      return error(res, 400, 'VALIDATION_ERROR', 'Give a kind and a reference');
    }
    const found = documents.find(
      (d) => d.kind === kind && d.reference === reference && (!customer || d.customerTargetId === customer),
    );
    if (!found) return error(res, 404, 'NOT_FOUND', `No ${kind} ${reference}`);
    send(res, 200, { id: found.id, number: found.number, customerTargetId: found.customerTargetId });
  }

  const server = await startLocalServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://receiver');
    const log: ReceivedRequest = {
      method: req.method ?? '',
      path: url.pathname,
      idempotencyKey: typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null,
      kind: null,
      itemKeys: [],
      answer: 0,
    };
    requests.push(log);
    res.on('finish', () => {
      if (log.answer === 0) log.answer = res.statusCode;
    });
    readBody(req)
      .then((raw) => {
        const header = req.headers['x-ledgerlink-signature'];
        const problem = signatureProblem(typeof header === 'string' ? header : undefined, raw, secret);
        if (problem) {
          stats.badSignatures++;
          return error(res, 401, problem.code, problem.message);
        }
        if (req.method === 'POST' && url.pathname === '/documents') return post(req, res, raw, log);
        if (req.method === 'GET' && url.pathname.startsWith('/lookup')) return lookup(url, res);
        return error(res, 404, 'ROUTE_NOT_FOUND', `${req.method} ${url.pathname}`);
      })
      .catch((err: unknown) => {
        if (!res.headersSent) error(res, 500, 'INTERNAL', err instanceof Error ? err.message : 'failed');
      });
  }, options);
  const base = server.origin;

  return {
    url: `${base}/documents`,
    lookupUrl: `${base}/lookup/{kind}/{reference}`,
    base,
    secret,
    settings: (extra = {}) => ({
      type: 'webhook',
      url: `${base}/documents`,
      lookupUrl: `${base}/lookup/{kind}/{reference}`,
      secret,
      ...extra,
    }),
    control,
    stats,
    requests,
    documents,
    count: (kind) => documents.filter((d) => d.kind === kind).length,
    find: (kind, reference) => documents.filter((d) => d.kind === kind && d.reference === reference),
    duplicates: () => [...byReference.values()].filter((group) => group.length > 1),
    close: () => server.close(),
  };
}
