import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer } from '../../sync/local-server.ts';
import { Books, type BooksOptions, Refused } from './simulator-books.ts';
import {
  NS,
  OPERATIONS,
  type Xml,
  faultEnvelope,
  items,
  parseEnvelope,
  responseEnvelope,
  text,
  violations as contractViolations,
} from './wsdl.ts';
import { seeded } from '../../sync/seeded.ts';

/*
 * A local AccountsIQ Integration web service for tests: SOAP 1.1 over HTTP, each request envelope
 * parsed with fast-xml-parser and checked against the operations' declared elements and types
 * (wsdl.ts; an unknown element is a violation, answered with a soap:Client fault as ASMX does).
 * API 2.0 tokens (TokenGet, TokenRefresh rotating both tokens) and 1.1 Login sessions, which expire
 * and are then answered `HasExpired`. Answers are WSResult2 envelopes in AccountsIQ's format;
 * SaveSundryReceiptPaymentsGetBackTransactionIDs answers one WSResultStatus an entry and their IDs.
 * Faults on demand, seeded: commit and drop the connection (`dropNext`, `dropAfterCommitRate`),
 * 503 before committing (`failNext`, `failRate`); `duplicates()` must stay empty.
 */

export interface AccountsIqSimulatorOptions extends BooksOptions {
  entityId: string;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  partnerKey?: string | undefined;
  userKey?: string | undefined;
  /** Lifetime of a 2.0 access token (not published by AccountsIQ; an hour here). */
  accessTokenMs?: number | undefined;
  /** Lifetime of a 1.1 session: 20 minutes. */
  sessionMs?: number | undefined;
  seed?: number | undefined;
  /**
   * At most this many transactions a GetTransactionsBy page (the caller asks for the next with
   * `Skip`). AccountsIQ publishes no page size: unlimited unless given.
   */
  transactionsPageSize?: number | undefined;
  dropAfterCommitRate?: number | undefined;
  failRate?: number | undefined;
  /**
   * Limits to answer 429 beyond, per entity; none by default, as AccountsIQ publishes none. The
   * bench stands the simulator in for a server keeping to ledgerlink's own pace (DEFAULT_LIMITS in
   * settings.ts). Sign-in operations are not counted. `minuteMs` scales the minute, and the second
   * with it.
   */
  limits?: { perSecond?: number; perMinute?: number; concurrent?: number; minuteMs?: number } | undefined;
}

export interface AccountsIqSimulatorStats {
  calls: number;
  /** Calls answered 429 for the `limits`. */
  rateLimited: number;
  byOperation: Record<string, number>;
  dropped: number;
  failed: number;
  expired: number;
  tokensIssued: number;
  logins: number;
}

const WRITES = new Set([
  'UpdateCustomer',
  'SaveStockItem',
  'PostPayAndAllocateSalesInvoices',
  'CreateBatchSalesCreditNoteGetBackTransactionID',
  'AllocateTransactions',
  'PostSalesDebitJournalGetBackTransactionID',
  'SaveSundryReceiptPaymentsGetBackTransactionIDs',
]);

/** Whether a day (YYYY-MM-DD) is within a query's dates (dateTime texts, both required by the contract). */
const within = (day: string, from: Xml | undefined, to: Xml | undefined) =>
  day >= text(from).slice(0, 10) && day <= text(to).slice(0, 10);

const PDF = Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');

interface Answer {
  result: unknown;
  outs?: Record<string, unknown>;
  committed: boolean;
}

const success = (result?: unknown) => ({
  Status: 'Success',
  ErrorCode: 'SUCCESS',
  HasExpired: 'false',
  ...(result === undefined ? {} : { Result: result }),
});
const failure = (code: string, message: string, expired = false) => ({
  Status: 'Failure',
  ErrorCode: code,
  ErrorMessage: message,
  HasExpired: String(expired),
});

export async function startAccountsIqSimulator(options: AccountsIqSimulatorOptions) {
  const books = new Books(options);
  const random = seeded(options.seed ?? 1);
  const tokens = new Map<string, number>();
  const refreshTokens = new Set<string>();
  const sessions = new Map<string, number>();
  const drops: { times: number; op?: string | undefined }[] = [];
  const fails: { status: number; times: number; op?: string | undefined }[] = [];
  const violations: { operation: string; errors: string[] }[] = [];
  const stats: AccountsIqSimulatorStats = {
    calls: 0,
    rateLimited: 0,
    byOperation: {},
    dropped: 0,
    failed: 0,
    expired: 0,
    tokensIssued: 0,
    logins: 0,
  };
  const now = () => Date.now();

  function take<T extends { times: number; op?: string | undefined }>(list: T[], op: string): T | null {
    const i = list.findIndex((d) => !d.op || d.op === op);
    if (i < 0) return null;
    const d = list[i]!;
    if (--d.times <= 0) list.splice(i, 1);
    return d;
  }

  function issue() {
    const access = randomBytes(24).toString('base64url');
    const refresh = randomBytes(24).toString('base64url');
    tokens.set(access, now() + (options.accessTokenMs ?? 3_600_000));
    refreshTokens.add(refresh);
    stats.tokensIssued++;
    return { AccessToken: access, RefreshToken: refresh };
  }

  /** Why a call's credentials are refused (an answer to send), or null. */
  function unauthorised(header: Record<string, Xml>, args: Record<string, Xml>): unknown {
    const h = header.AiqSoapHeader as Record<string, Xml> | undefined;
    if (h && typeof h === 'object') {
      const access = text(h.AccessToken);
      const expires = tokens.get(access);
      if (expires === undefined) return failure('INVALID_TOKEN', 'The access token is not valid');
      if (expires <= now()) {
        stats.expired++;
        return failure('TOKEN_EXPIRED', 'The access token has expired', true);
      }
      if (text(h.Entity) !== options.entityId) return failure('ENTITY_NOT_ALLOWED', 'No access to this entity');
      return null;
    }
    const session = text(args.token);
    const expires = sessions.get(session);
    if (expires === undefined) return failure('INVALID_TOKEN', 'The token is not valid');
    if (expires <= now()) {
      stats.expired++;
      return failure('TOKEN_EXPIRED', 'The session has expired', true);
    }
    return null;
  }

  function refusal(err: unknown): unknown {
    if (err instanceof Refused) return failure(err.code, err.message);
    throw err;
  }

  function handle(op: string, args: Record<string, Xml>): Answer {
    const read = (result: unknown): Answer => ({ result, committed: false });
    switch (op) {
      case 'TokenGet':
        return read(
          text(args.clientId) === options.clientId && text(args.clientSecret) === options.clientSecret
            ? success(issue())
            : failure('INVALID_CLIENT', 'The client credentials are not valid'),
        );
      case 'TokenRefresh': {
        const refresh = text(args.refreshToken);
        if (text(args.clientId) !== options.clientId || text(args.clientSecret) !== options.clientSecret)
          return read(failure('INVALID_CLIENT', 'The client credentials are not valid'));
        if (!refreshTokens.delete(refresh))
          return read(failure('INVALID_REFRESH_TOKEN', 'The refresh token is not valid'));
        return read(success(issue()));
      }
      case 'Login': {
        stats.logins++;
        if (
          text(args.entityID) !== options.entityId ||
          text(args.partnerKey) !== options.partnerKey ||
          text(args.userKey) !== options.userKey
        )
          return read('');
        const token = randomBytes(16).toString('hex');
        sessions.set(token, now() + (options.sessionMs ?? 20 * 60_000));
        return read(token);
      }
      case 'GetCurrencyList':
        return read(success({ string: [books.currency] }));
      case 'GetTaxCodeList':
        return read(
          success({ Tax: [...books.taxCodes].map(([Code, Rate]) => ({ Code, Rate, Description: `Tax ${Code}` })) }),
        );
      case 'GetCustomer': {
        const c = books.customers.get(text(args.customerCode));
        return read(
          c
            ? success(c)
            : failure('CUSTOMER_CODE_DOES_NOT_EXIST', `Customer ${text(args.customerCode)} does not exist`),
        );
      }
      case 'GetNewCustomerFromDefaults':
        return read(success(books.defaults()));
      case 'UpdateCustomer': {
        const c = args.customer as Record<string, Xml>;
        const values = Object.fromEntries(
          Object.entries(typeof c === 'object' ? c : {})
            .filter(([k]) => !k.startsWith('@_'))
            .map(([k, v]) => [k, text(v)]),
        );
        try {
          books.updateCustomer(values, text(args.create) === 'true');
          return { result: success('true'), committed: true };
        } catch (err) {
          return read(refusal(err));
        }
      }
      case 'GetStockItem': {
        const item = books.stockItems.get(text(args.stockItemID));
        return read(
          item
            ? success(item)
            : failure('STOCK_ITEM_DOES_NOT_EXIST', `Stock item ${text(args.stockItemID)} does not exist`),
        );
      }
      case 'GetNewStockItemFromDefaults':
        return read(
          success({
            StockItemID: text(args.stockItemID),
            Description: '',
            SalesGLAccountCode: [...books.glAccounts][0]!,
            IsActive: 'true',
            RowVersionNumber: '0',
          }),
        );
      case 'SaveStockItem': {
        const c = args.stockItem as Record<string, Xml>;
        const values = Object.fromEntries(
          Object.entries(typeof c === 'object' ? c : {})
            .filter(([k]) => !k.startsWith('@_'))
            .map(([k, v]) => [k, text(v)]),
        );
        try {
          books.saveStockItem(values, text(args.create) === 'true');
          return { result: success('true'), committed: true };
        } catch (err) {
          return read(refusal(err));
        }
      }
      case 'PostPayAndAllocateSalesInvoices': {
        const queries = items(args.queries, 'WSPostPayAndAllocateSalesInvoiceQuery');
        let committed = false;
        const each = queries.map((q) => {
          try {
            const r = books.postPayAndAllocate(q);
            committed = true;
            return success({
              ...(r.invoice !== null ? { InvoiceTransactionID: String(r.invoice) } : {}),
              ...(r.receipt !== null ? { ReceiptTransactionID: String(r.receipt) } : {}),
              ClientUniqueReference: text(q.ClientUniqueReference),
            });
          } catch (err) {
            return refusal(err);
          }
        });
        const all = each.every((e) => (e as { Status: string }).Status === 'Success');
        return {
          result: {
            ...(all ? success() : failure('UNKNOWN', 'Some of the queries failed')),
            Result: { WSResult2OfWSPostPayAndAllocateSalesInvoiceResult: each },
          },
          committed,
        };
      }
      case 'CreateBatchSalesCreditNoteGetBackTransactionID':
        try {
          const id = books.creditNote(args.creditNote as Record<string, Xml>);
          return { result: success(), outs: { transactionID: String(id) }, committed: true };
        } catch (err) {
          return { result: refusal(err), outs: { transactionID: '0' }, committed: false };
        }
      case 'PostSalesDebitJournalGetBackTransactionID':
        try {
          const id = books.debitJournal(args.journal as Record<string, Xml>);
          return { result: success(), outs: { transactionID: String(id) }, committed: true };
        } catch (err) {
          return { result: refusal(err), outs: { transactionID: '0' }, committed: false };
        }
      case 'SaveSundryReceiptPaymentsGetBackTransactionIDs': {
        // Each entry on its own (a refused one books nothing, its neighbours are booked): one
        // WSResultStatus an entry, and its transaction ID (0 when refused) in transactionIDs.
        const entries = items(args.entries, 'WSSundryReceiptPayment');
        if (entries.length === 0) return read(failure('UNKNOWN', 'No entries'));
        let committed = false;
        const ids: string[] = [];
        const each = entries.map((e) => {
          try {
            ids.push(String(books.sundry(e)));
            committed = true;
            return success();
          } catch (err) {
            ids.push('0');
            return refusal(err);
          }
        });
        return { result: { WSResultStatus: each }, outs: { transactionIDs: { int: ids } }, committed };
      }
      case 'AllocateTransactions':
        try {
          books.allocate(
            Number(text(args.transactionID_1)),
            Number(text(args.transactionID_2)),
            text(args.allocationAmount),
            text(args.allocationDate),
            text(args.allocationReference),
          );
          return { result: success(), committed: true };
        } catch (err) {
          return read(refusal(err));
        }
      case 'GetAllocationsByTransactionId':
        return read(success({ WSAllocationTransactionDTO: books.allocationsOf(Number(text(args.transactionId))) }));
      case 'GetTransactionsByExternalReference': {
        const q = args.query as Record<string, Xml>;
        const ref = text(q.ExternalReference).toLowerCase();
        // Matched without regard to case, as a database collation would: the connector compares exactly.
        const found = [...books.transactions.values()].filter(
          (t) => t.reference.toLowerCase() === ref && within(t.date, q.FromDate, q.ToDate),
        );
        return read(success({ WSTransactionSummary: found.map((t) => books.summary(t)) }));
      }
      case 'GetTransactionsBy': {
        // Every filter given narrows (WSGetTransactionsByQuery): the IDs, the types, the customer
        // accounts (AccountIDs), then the dates; in the order of their IDs, `Skip` of them left out,
        // at most `transactionsPageSize` a page. Reversed ones are listed, flagged. SQL Server's
        // datetime starts in 1753: an earlier date is refused.
        const q = args.query as Record<string, Xml>;
        if (
          [q.FromDate, q.ToDate, q.FromCreationDate, q.ToCreationDate].some((d) => text(d).slice(0, 10) < '1753-01-01')
        )
          return read(failure('DATE_IS_OUT_OF_RANGE', 'A date of the query is out of range'));
        const ids = new Set(items(q.TransactionIDsFilter, 'int').map((x) => Number(text(x))));
        const types = new Set(items(q.TypesFilter, 'string').map(text));
        const accounts = new Set(items(q.AccountIDsFilter, 'int').map(text));
        const skip = Number(text(q.Skip)) || 0;
        const found = [...books.transactions.values()]
          .filter((t) => ids.size === 0 || ids.has(t.id))
          .filter((t) => types.size === 0 || types.has(t.type))
          .filter((t) => accounts.size === 0 || accounts.has(books.customers.get(t.customer)?.AccountID ?? ''))
          .filter((t) => within(t.date, q.FromDate, q.ToDate) && within(t.date, q.FromCreationDate, q.ToCreationDate))
          .sort((a, b) => a.id - b.id)
          .slice(skip, skip + (options.transactionsPageSize ?? Infinity));
        return read(success({ WSTransactionSummary: found.map((t) => books.summary(t)) }));
      }
      case 'GetCustomerBalanceInformation': {
        // Each customer asked for that the entity holds (an unknown code is left out), all of them
        // for an empty list. SQL Server's datetime starts in 1753: an earlier date is refused.
        const edt = text(args.edt);
        if (edt.slice(0, 10) < '1753-01-01')
          return read(failure('DATE_IS_OUT_OF_RANGE', `The date ${edt} is out of range`));
        const codes = items(args.customerCodes, 'string').map(text);
        const found = (codes.length > 0 ? codes : [...books.customers.keys()])
          .map((c) => books.balanceInformation(c, edt))
          .filter((b) => b !== null);
        return read(success({ AccountBalanceInformation: found }));
      }
      case 'GetInvoicePDFByTransactionID': {
        const t = books.transactions.get(Number(text(args.transactionID)));
        return read(
          t?.type === 'SalesBatchInvoice'
            ? success(PDF.toString('base64'))
            : failure('NOT_FOUND', 'No sales invoice with this transaction ID'),
        );
      }
      default:
        throw new Error(`no handler for ${op}`);
    }
  }

  // Start times of the counted calls within the last minute, and the counted calls being served.
  let counted: number[] = [];
  let inFlight = 0;
  /** Whether one more counted call would exceed a limit; if not, it is counted. */
  function overLimit(): boolean {
    const l = options.limits;
    if (!l) return false;
    const minuteMs = l.minuteMs ?? 60_000;
    const t = Date.now();
    counted = counted.filter((c) => c > t - minuteMs);
    const inSecond = counted.filter((c) => c > t - minuteMs / 60).length;
    if (counted.length >= (l.perMinute ?? Infinity) || inSecond >= (l.perSecond ?? Infinity)) return true;
    if (inFlight >= (l.concurrent ?? Infinity)) return true;
    counted.push(t);
    return false;
  }

  function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'text/xml; charset=utf-8', ...headers });
    res.end(body);
  }

  async function serve(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    stats.calls++;
    if (req.method !== 'POST') return send(res, 405, faultEnvelope('Client', 'Only POST is supported'));
    const env = parseEnvelope(body);
    const names = env ? Object.keys(env.body).filter((k) => !k.startsWith('@_')) : [];
    const op = names[0] ?? '';
    const fields = OPERATIONS[op];
    if (!env || names.length !== 1 || !fields) {
      violations.push({ operation: op || '(none)', errors: ['not one known operation in a SOAP envelope'] });
      return send(res, 500, faultEnvelope('Client', 'Server did not recognize the value of HTTP Header SOAPAction'));
    }
    stats.byOperation[op] = (stats.byOperation[op] ?? 0) + 1;
    const errors: string[] = [];
    if (req.headers.soapaction !== `"${NS}${op}"`) errors.push(`SOAPAction header ${String(req.headers.soapaction)}`);
    const args = (typeof env.body[op] === 'object' ? env.body[op] : {}) as Record<string, Xml>;
    // The parser drops namespaces: the operation's own is checked on the text.
    if (!new RegExp(`<(\\w+:)?${op}\\s+xmlns="${NS.replace(/[.]/g, '\\.')}"`).test(body))
      errors.push(`${op}: not in the namespace ${NS}`);
    errors.push(...contractViolations(fields, args, op));
    if (errors.length > 0) {
      violations.push({ operation: op, errors });
      return send(res, 500, faultEnvelope('Client', `Server was unable to read request. ${errors[0]}`));
    }
    if (overLimit()) {
      stats.rateLimited++;
      return send(res, 429, faultEnvelope('Server', 'Too many requests'));
    }
    inFlight++;
    try {
      return answerCall(res, env, op, args);
    } finally {
      inFlight--;
    }
  }

  function answerCall(
    res: ServerResponse,
    env: NonNullable<ReturnType<typeof parseEnvelope>>,
    op: string,
    args: Record<string, Xml>,
  ) {
    const fail = take(fails, op) ?? (options.failRate && random() < options.failRate ? { status: 503 } : null);
    if (fail) {
      stats.failed++;
      return send(res, fail.status, faultEnvelope('Server', 'Service Unavailable'));
    }
    if (!['TokenGet', 'TokenRefresh', 'Login'].includes(op)) {
      const refused = unauthorised(env.header, args);
      if (refused) return send(res, 200, responseEnvelope(op, refused));
    }
    const answer = handle(op, args);
    if (WRITES.has(op) && answer.committed) {
      const drop =
        take(drops, op) ?? (options.dropAfterCommitRate && random() < options.dropAfterCommitRate ? {} : null);
      if (drop) {
        // Committed, and the answer never arrives.
        stats.dropped++;
        res.socket?.destroy();
        return;
      }
    }
    send(res, 200, responseEnvelope(op, answer.result, answer.outs));
  }

  const server = await startLocalServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, faultEnvelope('Server', String(err)));
    });
  });
  const origin = server.origin;

  return {
    url: `${origin}/system/dashboard/integration/integration_2_0.asmx`,
    books,
    stats,
    violations,
    /** Commits the next `times` writes (of one operation, when named) and loses their answers. */
    dropNext: (times: number, op?: string) => drops.push({ times, op }),
    /** Answers the next `times` calls (of one operation) with this status before doing anything. */
    failNext: (status: number, times: number, op?: string) => fails.push({ status, times, op }),
    /** Every access token and session expires now: the next call is answered HasExpired. */
    expireTokens() {
      for (const k of tokens.keys()) tokens.set(k, 0);
      for (const k of sessions.keys()) sessions.set(k, 0);
    },
    /**
     * Documents held twice: invoices, credit notes and receipts by reference per customer (a
     * reference is unique per customer only), sundry bank transactions by reference and
     * description (a fee's names its payment's customer).
     */
    duplicates() {
      const seen = new Map<string, number>();
      // A reversed transaction and its reversal are out of the books: not a second booking.
      for (const t of books.transactions.values()) {
        if (t.reversed) continue;
        const key =
          t.type === 'BankPayment' || t.type === 'BankReceipt'
            ? `${t.type}:${t.reference}:${t.description ?? ''}`
            : `${t.type}:${t.customer}:${t.reference}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      return [...seen].filter(([, n]) => n > 1).map(([key, count]) => ({ key, count }));
    },
    close: () => server.close(),
  };
}

export type AccountsIqSimulator = Awaited<ReturnType<typeof startAccountsIqSimulator>>;
