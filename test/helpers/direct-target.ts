import { expect } from 'vitest';
import type { Queryable } from '../../src/db/database.ts';
import { ConnectorError } from '../../src/sync/connector.ts';
import type { PipelineMapping } from '../../src/sync/pipelines.ts';
import type { RatePlanner, TokenSource } from '../../src/sync/remote/contracts.ts';
import { type TokenEndpoint, postTokenGrant } from '../../src/sync/remote/oauth-endpoint.ts';
import type {
  CanonicalAllocation,
  CanonicalCreditNote,
  CanonicalInvoice,
  CanonicalPayment,
  CanonicalRefund,
} from '../../src/sync/canonical.ts';
import type {
  ItemResult,
  TargetAllocation,
  TargetCallContext,
  TargetConnector,
  TargetCreditNote,
  TargetCustomer,
  TargetDeps,
  TargetDocument,
  TargetInvoice,
  TargetKind,
  TargetPayment,
  TargetRefund,
} from '../../src/sync/target.ts';
import { silentLog, testBox } from './sync.ts';

/*
 * A target called directly, operation by operation, against its simulator, without a pipeline or
 * the engine (test/<platform>-target.test.ts, test/<platform>-refunds.test.ts,
 * test/<platform>-open-balances.test.ts): what it is built with (a database it must not use, for a
 * target that keeps nothing there), a token source over the simulator's token endpoint, the
 * documents handed to it, and what its answers are read with. test/helpers/quickbooks.ts and
 * test/helpers/xero.ts build those two targets so.
 */

/** The client knobs of a target called directly: one attempt each call (a test's faults are its own to see), short waits. */
export const ONE_ATTEMPT = { maxAttempts: 1, backoffBaseMs: 5, backoffMaxMs: 20 };

/** What the engine would give a target (`TargetDeps`) for a pipeline of entity 1 named `pipelineName`, with `mapping` (none by default). */
export function directTargetDeps(
  db: Queryable,
  settings: Record<string, unknown>,
  pipelineName: string,
  mapping: PipelineMapping = {},
): TargetDeps {
  return { db, log: silentLog, mapping, settings, entityId: '1', pipelineId: '1', pipelineName, box: testBox };
}

/** What each call to a target called directly is made with: the database, no log, the actor `test`. */
export const callContext = (db: Queryable): TargetCallContext => ({ db, log: silentLog, actor: 'test' });

/**
 * The database of a target that keeps nothing in it (AccountsIQ, Sage Intacct), for tests of the
 * connector alone: any use of it throws, naming `system`.
 */
export const noDatabase = (system: string): Queryable =>
  new Proxy({} as Queryable, {
    get() {
      throw new Error(`the ${system} target must not use the database in these tests`);
    },
  });

/** A rate planner that lets every call go at once and never pauses: the planner of a target with no database. */
export const UNLIMITED_PLANNER: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};

/** A refresh-token grant on a simulated token endpoint, kept as the engine's stored connection keeps it. */
export interface SimulatedGrant {
  /** The refresh token the next refresh uses: the one issued, or the last one the endpoint rotated to. */
  refreshToken: string;
  /** Every access and refresh token the endpoint gave out: none may show in a message. */
  readonly seen: string[];
  /** A token source over the endpoint: an access token from the grant, asked for again once invalidated. */
  auth(): TokenSource;
}

/**
 * A grant of `refreshToken` on `endpoint` (read when a token is asked for, the simulator being up
 * by then); a refresh token the endpoint rotates to replaces it. The sources it gives tell the
 * client secret, the refresh token and every token seen as their secrets.
 */
export function simulatedGrant(endpoint: () => TokenEndpoint, refreshToken: string): SimulatedGrant {
  const grant: SimulatedGrant = {
    refreshToken,
    seen: [],
    auth: () => {
      let token: string | null = null;
      return {
        async accessToken() {
          if (token === null) {
            const a = await postTokenGrant(endpoint(), {
              grant_type: 'refresh_token',
              refresh_token: grant.refreshToken,
            });
            token = a.accessToken;
            grant.refreshToken = a.refreshToken ?? grant.refreshToken;
            grant.seen.push(token, grant.refreshToken);
          }
          return token;
        },
        invalidate(t) {
          if (t === token) token = null;
        },
        secrets: () => [endpoint().clientSecret, grant.refreshToken, ...grant.seen],
      };
    },
  };
  return grant;
}

/** A customer `code` for a target, with an email under example.org; `targetId` when the target holds it already. */
export const directCustomer = (code: string, name: string, targetId: string | null = null): TargetCustomer => ({
  sourceId: code,
  code,
  targetId,
  record: { kind: 'customer', sourceId: code, name, email: `${code.toLowerCase()}@example.org` },
});

/**
 * An invoice `ref` (its key `key-<ref>`) of one line of `net` at `rate`, VAT left to the target,
 * dated `date`, due 2 December; `record` adds to (or replaces) what its record says.
 */
export const directInvoice = (
  ref: string,
  customerTargetId: string,
  net = '100.00',
  rate = '0.21',
  date = '2026-11-02',
  record: Partial<CanonicalInvoice> = {},
): TargetInvoice => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId,
  productTargetIds: {},
  record: {
    kind: 'invoice',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    invoiceDate: date,
    dueDate: '2026-12-02',
    currency: 'EUR',
    description: 'Unit',
    lines: [{ description: 'Service', netAmount: net, vatRate: rate }],
    ...record,
  },
});

/**
 * A payment `ref` (its key `key-<ref>`) of `amount` EUR into the bank BANK, dated 5 November, of
 * the invoice `invoiceTargetId` (or on account); `record` adds to (or replaces) what its record says.
 */
export const directPayment = (
  ref: string,
  customerTargetId: string,
  invoiceTargetId: string | null,
  amount: string,
  record: Partial<CanonicalPayment> = {},
): TargetPayment => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId,
  invoiceTargetId,
  bankAccountCode: 'BANK',
  record: {
    kind: 'payment',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    date: '2026-11-05',
    amount,
    currency: 'EUR',
    description: '',
    ...record,
  },
});

/**
 * A refund `ref` (its key `key-<ref>`) of `amount` EUR out of the bank BANK, dated 6 November, of
 * the payment `paymentTargetId` (or of none); `record` adds to (or replaces) what its record says.
 */
export const directRefund = (
  ref: string,
  customerTargetId: string,
  paymentTargetId: string | null,
  amount: string,
  record: Partial<CanonicalRefund> = {},
): TargetRefund => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId,
  paymentTargetId,
  bankAccountCode: 'BANK',
  record: {
    kind: 'refund',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    date: '2026-11-06',
    amount,
    currency: 'EUR',
    description: '',
    ...record,
  },
});

/**
 * A credit note `ref` (its key `key-<ref>`) of one line "Returned" of `net` at `rate`, VAT left to
 * the target, dated 4 November, of the invoice `invoiceTargetId` (or of none); `record` adds to (or
 * replaces) what its record says.
 */
export const directCreditNote = (
  ref: string,
  customerTargetId: string,
  invoiceTargetId: string | null,
  net: string,
  record: Partial<CanonicalCreditNote> = {},
  rate = '0.21',
): TargetCreditNote => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId,
  invoiceTargetId,
  productTargetIds: {},
  record: {
    kind: 'creditNote',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    date: '2026-11-04',
    currency: 'EUR',
    description: 'Returned',
    lines: [{ description: 'Returned', netAmount: net, vatRate: rate }],
    ...record,
  },
});

/**
 * An allocation `ref` (its key `key-<ref>`) of `amount` EUR, dated 4 November, setting the credit
 * note `fromTargetId` against the invoice `invoiceTargetId`; `record` names both by our references
 * and adds to (or replaces) the rest of what its record says (`from: 'payment'` for a payment's).
 */
export const directAllocation = (
  ref: string,
  customerTargetId: string,
  invoiceTargetId: string,
  fromTargetId: string,
  amount: string,
  record: Pick<CanonicalAllocation, 'invoiceExternalReference' | 'fromExternalReference'> &
    Partial<CanonicalAllocation>,
): TargetAllocation => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId,
  invoiceTargetId,
  fromTargetId,
  record: {
    kind: 'allocation',
    sourceId: ref,
    customerSourceId: 'c',
    date: '2026-11-04',
    currency: 'EUR',
    amount,
    from: 'creditNote',
    ...record,
  },
});

/** The target's id of an item it booked; throws with the target's code and words when it refused it. */
export function targetIdOf(r: ItemResult | undefined): string {
  if (!r?.ok) throw new Error(`expected ok, got ${r ? `${r.error.code}: ${r.error.message}` : 'nothing'}`);
  return r.targetId;
}

/** The ConnectorError `p` rejects with; fails when it resolves, or rejects with anything else. */
export async function thrown(p: Promise<unknown>): Promise<ConnectorError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectorError);
    return err as ConnectorError;
  }
  throw new Error('did not throw');
}

/**
 * Expects `target` to find each document of `ours` (its kind: our reference and the target's id)
 * by its reference for `customer`, as that customer's, and none of them for `other`, who may hold
 * documents of its own under the same references; `noun` is what the platform calls a customer,
 * for the messages.
 */
export async function expectFoundForItsCustomerOnly(
  target: TargetConnector,
  ctx: TargetCallContext,
  ours: Partial<Record<TargetKind, [reference: string, targetId: string]>>,
  customer: string,
  other: string,
  noun = 'customer',
): Promise<void> {
  for (const [kind, [ref, targetId]] of Object.entries(ours) as [TargetKind, [string, string]][]) {
    expect(await target.findByReference(ctx, kind, ref, customer), `${kind} of its ${noun}`).toMatchObject({
      targetId,
      customerTargetId: customer,
    });
    expect(await target.findByReference(ctx, kind, ref, other), `${kind} of another ${noun}`).toBeNull();
  }
}

/*
 * The open balances of a target that takes a customer's code as its id (AccountsIQ, Sage Intacct),
 * called directly (test/accountsiq-open-balances.test.ts, test/intacct-open-balances.test.ts): its
 * customers, documents keyed by customer and reference (two customers may hold one reference, each
 * its own idempotency key `p1:<kind>:<customer>:<ref>`, VAT given as the source gives it), the
 * documents both tests book, and the balances read as customer → [currency, minor units].
 */

/** Makes the customers `codes` in `target`, each named `Customer <code>`; their target ids (throws when one is refused). */
export async function makeCustomers(
  target: TargetConnector,
  ctx: TargetCallContext,
  codes: string[],
): Promise<string[]> {
  const made = await target.upsertCustomers(
    ctx,
    codes.map((code) => directCustomer(code, `Customer ${code}`)),
  );
  return made.map((r) => targetIdOf(r));
}

/**
 * `d` as customer `customer`'s document under our reference `ref`, which another customer may hold
 * too: its source ids `<customer>:<ref>`, its key `p1:<kind>:<customer>:<ref>`.
 */
const ofCustomer = <D extends { sourceId: string; idempotencyKey: string; record: { kind: string; sourceId: string } }>(
  customer: string,
  ref: string,
  d: D,
): D => ({
  ...d,
  sourceId: `${customer}:${ref}`,
  idempotencyKey: `p1:${d.record.kind}:${customer}:${ref}`,
  record: { ...d.record, sourceId: `${customer}:${ref}`, customerSourceId: customer },
});

/** One line "Ticket" of `net` and `vat` at 21 %, the VAT as the source gives it. */
const ticket = (net: string, vat: string) => [
  { description: 'Ticket', netAmount: net, vatRate: '0.21', vatAmount: vat },
];

/** Customer `customer`'s invoice `ref` of one line "Ticket" of `net` and `vat`, dated and due `date`. */
export const customerInvoice = (customer: string, ref: string, date: string, net: string, vat: string) =>
  ofCustomer(
    customer,
    ref,
    directInvoice(ref, customer, net, '0.21', date, { dueDate: date, description: '', lines: ticket(net, vat) }),
  );

/** Customer `customer`'s credit note `ref` of one line "Ticket" of `net` and `vat`, of no invoice, dated `date`. */
export const customerCreditNote = (customer: string, ref: string, date: string, net: string, vat: string) =>
  ofCustomer(
    customer,
    ref,
    directCreditNote(ref, customer, null, net, { date, description: '', lines: ticket(net, vat) }),
  );

/** Customer `customer`'s payment `ref` of `amount` EUR into the bank BANK, dated `date`, of the invoice `invoiceTargetId` (or on account). */
export const customerPayment = (
  customer: string,
  ref: string,
  date: string,
  amount: string,
  invoiceTargetId: string | null,
) => ofCustomer(customer, ref, directPayment(ref, customer, invoiceTargetId, amount, { date }));

/** Customer `customer`'s refund `ref` of `amount` EUR out of the bank BANK, dated `date`, of the payment `paymentTargetId`. */
export const customerRefund = (customer: string, ref: string, date: string, amount: string, paymentTargetId: string) =>
  ofCustomer(customer, ref, directRefund(ref, customer, paymentTargetId, amount, { date }));

/**
 * Books the documents whose open balances both tests read, for customer `a` and another, `b`: a's
 * invoice I1 121.00 on 2 November, paid 50.00 (P1) on 5 November; I2 60.50 on 3 December; I3 12.10
 * on 10 November; 20.00 on account (P2) on 20 November and 30.00 more (P3) on 4 December; b's
 * invoice under a's reference I1, 242.00 on 2 November. The target's ids of I3 and of P1 (throws
 * when a document is refused).
 */
export async function bookBalanceDocuments(
  target: TargetConnector,
  ctx: TargetCallContext,
  a: string,
  b: string,
): Promise<{ i3: string; p1: string }> {
  const [i1, , i3] = (
    await target.createInvoices(ctx, [
      customerInvoice(a, 'I1', '2026-11-02', '100.00', '21.00'),
      customerInvoice(a, 'I2', '2026-12-03', '50.00', '10.50'),
      customerInvoice(a, 'I3', '2026-11-10', '10.00', '2.10'),
      customerInvoice(b, 'I1', '2026-11-02', '200.00', '42.00'),
    ])
  ).map((r) => targetIdOf(r));
  const [p1] = (
    await target.createPayments!(ctx, [
      customerPayment(a, 'P1', '2026-11-05', '50.00', i1!),
      customerPayment(a, 'P2', '2026-11-20', '20.00', null),
      customerPayment(a, 'P3', '2026-12-04', '30.00', null),
    ])
  ).map((r) => targetIdOf(r));
  return { i3: i3!, p1: p1! };
}

/** The open balances `target` holds at `asAt` of the customers `ids`, as customer → [currency, minor units]. */
export const openBalancesOf = async (target: TargetConnector, ctx: TargetCallContext, ids: string[], asAt: string) =>
  Object.fromEntries(
    (await target.openBalances!(ctx, ids, asAt)).map((b) => [b.customerTargetId, [b.currency, b.balance]]),
  );

/*
 * What reconciliation names as posted outside the pipeline (`unlinkedDocuments`) in a target that
 * takes a customer's code as its id (test/accountsiq-unlinked.test.ts, test/intacct-unlinked.test.ts):
 * the window both tests ask for, the documents both book in and around it, and what was found, read
 * as [reference, kind, customer, date, gross] by reference.
 */

/** The first day of the window the unlinked tests ask for. */
export const UNLINKED_FROM = '2026-11-01';
/** The last day of the window the unlinked tests ask for. */
export const UNLINKED_TO = '2026-11-30';

/**
 * Books the documents both unlinked tests read, for customer `a`, another `b` and one not asked
 * for, `notAsked`: a's invoices ON-FROM 121.00 on the first day of the window, ON-TO 12.10 on its
 * last, BEFORE and AFTER 6.05 the days either side, REVERSED 24.20 on 18 November; b's OTHER 48.40
 * on 20 November; notAsked's NOT-ASKED 36.30 on 20 November; then `moreInvoices` in the same call;
 * a's credit note CN 12.10 on 10 November, payment PAY 50.00 of ON-FROM on 12 November and, when
 * `refund`, its refund REF 10.00 on 15 November. The target's ids by our reference (throws when a
 * document is refused).
 */
export async function bookUnlinkedDocuments(
  target: TargetConnector,
  ctx: TargetCallContext,
  a: string,
  b: string,
  notAsked: string,
  o: { moreInvoices?: TargetInvoice[]; refund?: boolean } = {},
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  const invoices = [
    customerInvoice(a, 'ON-FROM', UNLINKED_FROM, '100.00', '21.00'),
    customerInvoice(a, 'ON-TO', UNLINKED_TO, '10.00', '2.10'),
    customerInvoice(a, 'BEFORE', '2026-10-31', '5.00', '1.05'),
    customerInvoice(a, 'AFTER', '2026-12-01', '5.00', '1.05'),
    customerInvoice(a, 'REVERSED', '2026-11-18', '20.00', '4.20'),
    customerInvoice(b, 'OTHER', '2026-11-20', '40.00', '8.40'),
    customerInvoice(notAsked, 'NOT-ASKED', '2026-11-20', '30.00', '6.30'),
    ...(o.moreInvoices ?? []),
  ];
  for (const [k, r] of (await target.createInvoices(ctx, invoices)).entries())
    ids[invoices[k]!.record.externalReference] = targetIdOf(r);
  ids.CN = targetIdOf(
    (await target.createCreditNotes!(ctx, [customerCreditNote(a, 'CN', '2026-11-10', '10.00', '2.10')]))[0],
  );
  ids.PAY = targetIdOf(
    (await target.createPayments!(ctx, [customerPayment(a, 'PAY', '2026-11-12', '50.00', ids['ON-FROM']!)]))[0],
  );
  if (o.refund)
    ids.REF = targetIdOf(
      (await target.createRefunds!(ctx, [customerRefund(a, 'REF', '2026-11-15', '10.00', ids.PAY)]))[0],
    );
  return ids;
}

/** What was found, as [reference, kind, customer, date, gross], by reference. */
export const documentSummary = (docs: TargetDocument[]) =>
  docs
    .map((d) => [d.externalReference, d.kind, d.customerTargetId, d.date, d.gross])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
