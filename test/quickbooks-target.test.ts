import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import { callContext, directCustomer, directPayment, targetIdOf } from './helpers/direct-target.ts';
import { directQuickBooksTarget, usInvoice } from './helpers/quickbooks.ts';
import type { Database } from '../src/db/database.ts';
import { docNumberFor } from '../src/connectors/quickbooks/map.ts';
import { QuickBooksTargetSettings } from '../src/connectors/quickbooks/settings.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TokenSource } from '../src/sync/remote/contracts.ts';
import type { TargetCallContext, TargetConnector, TargetInvoice } from '../src/sync/target.ts';

/*
 * The QuickBooks target's operations against the simulator, one by one: a US company's tax codes,
 * a name taken by someone else, credit memos, the reads write-back and reconciliation use, the
 * lookup by a long reference, draft mode refused, and a token never leaking into an error.
 */

let db: Database;
let sim: QuickBooksSimulator;
let target: TargetConnector;
let ctx: TargetCallContext;
const REALM = '9130350000000001';

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startQuickBooksSimulator({ seed: 3 });
  target = directQuickBooksTarget(db, sim, REALM);
  ctx = callContext(db);
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

/** An invoice of one line of `net` at `rate`, the source's tax `vat` when given. */
const invoice = (ref: string, customerTargetId: string, net: string, rate = '0.0725', vat?: string): TargetInvoice =>
  usInvoice(ref, customerTargetId, [
    { description: 'Widget', netAmount: net, vatRate: rate, ...(vat ? { vatAmount: vat } : {}) },
  ]);

/** The fee purchases carrying a payment reference (the last line of their PrivateNote). */
const feesIn = (s: QuickBooksSimulator, reference: string) =>
  s
    .books()
    .all('Purchase')
    .filter((e) => String(e.PrivateNote).split('\n').at(-1) === `ledgerlink reference: ${reference}`);
const feesOf = (reference: string) => feesIn(sim, reference);

/** A fee purchase as: its total, the account it is paid out of, the account of its line. */
function feeShape(s: QuickBooksSimulator, e: Record<string, unknown>) {
  const name = (id: unknown) => String(s.books().get('Account', String(id))?.Name);
  const line = (e.Line as { AccountBasedExpenseLineDetail: { AccountRef: { value: string } } }[])[0]!;
  return {
    total: String(e.TotalAmt),
    from: name((e.AccountRef as { value: string }).value),
    to: name(line.AccountBasedExpenseLineDetail.AccountRef.value),
  };
}

describe('QuickBooks target against the simulator', () => {
  let customerId: string;

  it('creates a customer; a name someone else holds gets "<name> (<code>)", a lost create of ours is linked', async () => {
    // Someone created "Ann Example" in QuickBooks by hand.
    const [theirs] = await target.upsertCustomers(ctx, [
      {
        sourceId: 'x',
        code: 'OTHER',
        targetId: null,
        record: { kind: 'customer', sourceId: 'x', name: 'Ann Example' },
      },
    ]);
    expect(theirs).toMatchObject({ ok: true });
    const [ours] = await target.upsertCustomers(ctx, [
      {
        sourceId: 'a',
        code: 'ANN',
        targetId: null,
        record: { kind: 'customer', sourceId: 'a', name: 'Ann Example', email: 'ann@example.com', city: 'Austin' },
      },
    ]);
    expect(ours).toMatchObject({ ok: true, outcome: 'created', number: 'ANN' });
    customerId = targetIdOf(ours);
    const stored = sim.books().get('Customer', customerId)!;
    expect(stored).toMatchObject({ DisplayName: 'Ann Example (ANN)', AcctNum: 'ANN', BillAddr: { City: 'Austin' } });
    // Sent again (its answer lost): recognised by name and code, linked, nothing written.
    const [again] = await target.upsertCustomers(ctx, [
      { sourceId: 'a', code: 'ANN', targetId: null, record: { kind: 'customer', sourceId: 'a', name: 'Ann Example' } },
    ]);
    expect(again).toMatchObject({ ok: true, outcome: 'linked', targetId: customerId });
    expect(sim.books().all('Customer')).toHaveLength(2);
  });

  it('books a US invoice with TAX/NON and the source tax as TotalTax; a negative one as a CreditMemo', async () => {
    const [taxed, exempt, credit] = await target.createInvoices(ctx, [
      invoice('US-1', customerId, '100.00', '0.0725', '7.25'),
      invoice('US-2', customerId, '50.00', '0'),
      invoice('US-3', customerId, '-20.00', '0.0725', '-1.45'),
    ]);
    expect(taxed).toMatchObject({ ok: true, number: 'US-1' });
    const inv = sim.books().get('Invoice', targetIdOf(taxed))!;
    expect(String(inv.TotalAmt)).toBe('107.25');
    expect(
      (inv.Line as { SalesItemLineDetail?: { TaxCodeRef: { value: string } } }[])[0]!.SalesItemLineDetail!.TaxCodeRef
        .value,
    ).toBe('TAX');
    const ex = sim.books().get('Invoice', targetIdOf(exempt))!;
    expect(
      (ex.Line as { SalesItemLineDetail?: { TaxCodeRef: { value: string } } }[])[0]!.SalesItemLineDetail!.TaxCodeRef
        .value,
    ).toBe('NON');
    const cm = sim.books().get('CreditMemo', targetIdOf(credit))!;
    expect(String(cm.TotalAmt)).toBe('21.45');
    if (sim.validating) expect(sim.violations).toEqual([]);
  });

  it('finds a document by a reference longer than DocNumber holds, and reads it back for write-back', async () => {
    const ref = 'MARKETPLACE-ORDER-2026-11-000042';
    const [r] = await target.createInvoices(ctx, [invoice(ref, customerId, '10.00', '0.0725', '0.73')]);
    const id = targetIdOf(r);
    expect((r as { number: string }).number).toBe(docNumberFor(ref));
    expect(docNumberFor(ref)).toHaveLength(21);
    expect(await target.findByReference(ctx, 'invoice', ref, customerId)).toMatchObject({
      targetId: id,
      customerTargetId: customerId,
    });
    expect(await target.findByReference(ctx, 'invoice', `${ref}-X`, customerId)).toBeNull();
    const docs = await target.documents!(ctx, [id]);
    expect(docs.get(id)).toMatchObject({
      kind: 'invoice',
      externalReference: ref,
      gross: 1073n,
      currency: 'USD',
      dueDate: '2026-12-02',
      lines: 1,
    });
    const pdf = await target.pdf!(ctx, id);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('applies a payment to its invoice, leaves what the invoice did not owe unapplied, and reports it paid', async () => {
    const [inv] = await target.createInvoices(ctx, [invoice('PAY-INV-1', customerId, '40.00', '0')]);
    const invoiceId = targetIdOf(inv);
    const [p] = await target.createPayments!(ctx, [
      {
        ...directPayment('p1', customerId, invoiceId, '45.00', {
          externalReference: 'PAY-1',
          currency: 'USD',
          fee: '1.20',
        }),
        bankAccountCode: '',
      },
    ]);
    expect(p).toMatchObject({ ok: true, number: 'PAY-1' });
    expect((p as { message: string }).message).toMatch(
      /^fee USD 1.20 booked as expense \(Purchase \d+\); 5.00 left unapplied/,
    );
    const payment = sim.books().get('Payment', targetIdOf(p))!;
    expect(String(payment.UnappliedAmt)).toBe('5.00');
    // The fee: a cash purchase out of the bank (the payment itself waits in Undeposited Funds) to Bank Charges.
    expect(feesOf('PAY-1').map((e) => feeShape(sim, e))).toEqual([
      { total: '1.20', from: 'Checking', to: 'Bank Charges' },
    ]);
    expect(await target.paidInvoices!(ctx, [invoiceId])).toEqual(new Map([[invoiceId, 'PAY-1']]));
    expect(await target.findByReference(ctx, 'payment', 'PAY-1', customerId)).toMatchObject({ targetId: payment.Id });
  });

  it('rides out a 429 and a 503 answered before anything was written: the invoice is written once', async () => {
    const throttledBefore = sim.stats.failed;
    sim.failNext(429, 2);
    const [a] = await target.createInvoices(ctx, [invoice('RETRY-1', customerId, '3.00', '0')]);
    sim.failNext(503, 1);
    const [b] = await target.createInvoices(ctx, [invoice('RETRY-2', customerId, '4.00', '0')]);
    expect([a, b]).toMatchObject([{ ok: true }, { ok: true }]);
    expect(sim.stats.failed - throttledBefore).toBe(3);
    expect(
      sim
        .books()
        .all('Invoice')
        .filter((e) => String(e.DocNumber).startsWith('RETRY-')),
    ).toHaveLength(2);
  });

  it('refuses draft mode and a batch size above 30 when the pipeline is saved, naming why', () => {
    const r = QuickBooksTargetSettings.safeParse({
      type: 'quickbooks',
      clientId: 'a',
      clientSecret: 'b',
      mode: 'draft',
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('no draft invoices');
    const big = QuickBooksTargetSettings.safeParse({
      type: 'quickbooks',
      clientId: 'a',
      clientSecret: 'b',
      limits: { batchSize: 31 },
    });
    expect(JSON.stringify(big.error?.issues)).toContain('at most 30');
  });

  it('says which setting is missing when no company is named, and never shows the token', async () => {
    const leaky: TokenSource = {
      accessToken: () => Promise.resolve('tok-SECRET'),
      invalidate: () => {},
      secrets: () => ['tok-SECRET'],
    };
    const t2 = directQuickBooksTarget(db, sim, REALM, { settings: { realmId: undefined }, options: { auth: leaky } });
    const err = await t2.upsertCustomers(ctx, []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as ConnectorError).code).toBe('TARGET_SETTING_MISSING');
    expect((err as Error).message).toContain('realmId');
    const t3 = directQuickBooksTarget(db, sim, REALM, { options: { auth: leaky } });
    const denied = await t3.createInvoices(ctx, [invoice('Z-1', customerId, '1.00')]).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ConnectorError);
    expect((denied as ConnectorError).code).toBe('TARGET_AUTH_REVOKED');
    expect((denied as Error).message).not.toContain('tok-SECRET');
  });
});

/*
 * Fees on a company of their own (its own simulator and rate budget): the batch budget of 40 calls
 * a minute is shared by every target of a company, and the tests above already use most of it.
 */
describe("QuickBooks target: a payment provider's fees", () => {
  const FEE_REALM = '9130350000000002';
  let fsim: QuickBooksSimulator;
  let ft: TargetConnector;
  let feeCustomer: string;
  const misconfigured = (accounts: Record<string, string>) =>
    directQuickBooksTarget(db, fsim, FEE_REALM, {
      settings: Object.keys(accounts).length > 0 ? { accounts } : {},
    });
  /** A payment of 10.00 USD on 6 November into `bank`, the provider's fee `fee` taken off it. */
  const payment = (ref: string, invoiceTargetId: string | null, fee: string | null, bank = 'Checking') => ({
    ...directPayment(ref, feeCustomer, invoiceTargetId, '10.00', { date: '2026-11-06', currency: 'USD', fee }),
    bankAccountCode: bank,
  });
  beforeAll(async () => {
    fsim = await startQuickBooksSimulator({ seed: 4, realms: { [FEE_REALM]: { country: 'US', currency: 'USD' } } });
    ft = misconfigured({});
    feeCustomer = targetIdOf((await ft.upsertCustomers(ctx, [directCustomer('FEE-C', 'Fee Customer')]))[0]);
  }, 60_000);
  afterAll(async () => {
    if (fsim.validating) expect(fsim.violations).toEqual([]);
    await fsim.close();
  });

  it("books a provider's fee before its payment, once: a payment refused after its fee finds that fee when sent again", async () => {
    const writes = () => fsim.log.filter((l) => l.path.endsWith('/batch') && l.requestid !== null).length;
    // Without a fee: the payment alone, one write, no lookup.
    const calls = fsim.log.length;
    const [plain] = await ft.createPayments!(ctx, [payment('FEE-0', null, null)]);
    expect(plain).toMatchObject({ ok: true });
    expect(fsim.log.length - calls).toBe(1);
    expect(feesIn(fsim, 'FEE-0')).toEqual([]);

    // An invoice of another customer: QuickBooks refuses the payment, after its fee was booked.
    const [other] = await ft.upsertCustomers(ctx, [directCustomer('FEE-OTHER', 'Fee Other')]);
    const [foreign] = await ft.createInvoices(ctx, [invoice('FEE-INV-X', targetIdOf(other), '10.00', '0')]);
    const [refused] = await ft.createPayments!(ctx, [payment('FEE-1', targetIdOf(foreign), '0.59')]);
    expect(refused).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED' } });
    expect((refused as { error: { message: string } }).error.message).toMatch(
      /its fee USD 0.59 is booked as Purchase \d+ and is not booked again/,
    );
    expect(feesIn(fsim, 'FEE-1').map((e) => feeShape(fsim, e))).toEqual([
      { total: '0.59', from: 'Checking', to: 'Bank Charges' },
    ]);
    // Sent again (the exception retried, here in a batch with another payment, so not a replayed
    // request): the fee is found, not written again; the payment goes.
    const [inv] = await ft.createInvoices(ctx, [invoice('FEE-INV-1', feeCustomer, '10.00', '0')]);
    const before = writes();
    const [paid, next] = await ft.createPayments!(ctx, [
      payment('FEE-1', targetIdOf(inv), '0.59'),
      payment('FEE-2', null, null),
    ]);
    expect(paid).toMatchObject({ ok: true, message: expect.stringMatching(/^fee USD 0.59 already booked/) });
    expect(next).toMatchObject({ ok: true });
    expect(writes() - before).toBe(1);
    expect(feesIn(fsim, 'FEE-1')).toHaveLength(1);
    expect(fsim.duplicates('Purchase')).toEqual([]);
  });

  it('two customers’ payments under one reference each get their own fee, once under lost answers; an unmarked fee is found, or parks when it could be another’s', async () => {
    const [second] = await ft.upsertCustomers(ctx, [directCustomer('FEE-C2', 'Fee Customer Two')]);
    const a = feeCustomer;
    const b = targetIdOf(second);
    /**
     * One customer's payment among several under one reference: its own source id and key; sent
     * again after a refusal (no invoice named), under another key, as the engine does.
     */
    const of = (customer: string, ref: string, fee: string, invoiceTargetId: string | null = null) => ({
      ...payment(ref, invoiceTargetId, fee),
      customerTargetId: customer,
      sourceId: `${ref}/${customer}`,
      idempotencyKey: `key-${ref}/${customer}${invoiceTargetId ? '' : '/again'}`,
    });
    const marks = (ref: string) => feesIn(fsim, ref).map((e) => String(e.PrivateNote).split('\n')[0]);
    // Each pays the other's invoice: QuickBooks refuses the payments after their fees were booked,
    // the fees' answer lost once on the way (and answered again to the same request id).
    const [ia, ib] = await ft.createInvoices(ctx, [
      invoice('FEE-INV-A', a, '10.00', '0'),
      invoice('FEE-INV-B', b, '10.00', '0'),
    ]);
    fsim.dropNext(1, (body) => body.includes('"Purchase"'));
    const refused = await ft.createPayments!(ctx, [
      of(a, 'ORDER-1001', '0.45', targetIdOf(ib)),
      of(b, 'ORDER-1001', '0.25', targetIdOf(ia)),
    ]);
    for (const r of refused) expect(r).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED' } });
    expect(marks('ORDER-1001')).toEqual([`ledgerlink customer: ${a}`, `ledgerlink customer: ${b}`]);
    // Sent again: each finds its own fee, not the other's; nothing is booked twice.
    const results = await ft.createPayments!(ctx, [of(a, 'ORDER-1001', '0.45'), of(b, 'ORDER-1001', '0.25')]);
    expect(results.map((r) => (r as { message?: string }).message?.slice(0, 30))).toEqual([
      'fee USD 0.45 already booked as',
      'fee USD 0.25 already booked as',
    ]);
    expect(feesIn(fsim, 'ORDER-1001').map((e) => String(e.TotalAmt))).toEqual(['0.45', '0.25']);
    const docs = await ft.documents!(ctx, results.map(targetIdOf), { fees: true });
    expect(results.map((r) => docs.get(targetIdOf(r))?.fee?.amount)).toEqual([45n, 25n]);

    // A fee booked before fees were marked (its note the reference alone), its payment never sent.
    expect(await ft.createPayments!(ctx, [of(a, 'OLD-Q1', '0.35', targetIdOf(ib))])).toMatchObject([{ ok: false }]);
    for (const e of feesIn(fsim, 'OLD-Q1')) e.PrivateNote = 'ledgerlink reference: OLD-Q1';
    // Sent with another customer's payment under the same reference: which one's it is, is not guessed.
    const parked = await ft.createPayments!(ctx, [of(a, 'OLD-Q1', '0.35'), of(b, 'OLD-Q1', '0.15')]);
    for (const r of parked)
      expect(r).toMatchObject({ ok: false, error: { code: 'PAYMENT_FEE_AMBIGUOUS', field: 'fee', retryable: false } });
    expect(feesIn(fsim, 'OLD-Q1')).toHaveLength(1);
    // Alone: it is its payment's fee as it would be booked, found and not booked again.
    const [alone] = await ft.createPayments!(ctx, [of(a, 'OLD-Q1', '0.35')]);
    expect(alone).toMatchObject({ ok: true, message: expect.stringMatching(/^fee USD 0.35 already booked/) });
    expect(feesIn(fsim, 'OLD-Q1')).toHaveLength(1);
  });

  it('parks a payment with a fee it cannot place as TARGET_SETTING_MISSING, naming the setting; nothing is written', async () => {
    const [noAccount] = await misconfigured({ fees: 'Merchant Fees' }).createPayments!(ctx, [
      payment('FEE-M1', null, '0.40', ''),
    ]);
    expect(noAccount).toMatchObject({ ok: false, error: { code: 'TARGET_SETTING_MISSING', field: 'accounts.fees' } });
    const [notBank] = await misconfigured({ feesBank: 'Undeposited Funds' }).createPayments!(ctx, [
      payment('FEE-M2', null, '0.40', ''),
    ]);
    expect(notBank).toMatchObject({ ok: false, error: { code: 'TARGET_SETTING_MISSING', field: 'accounts.feesBank' } });
    const refs = ['FEE-M1', 'FEE-M2'];
    expect(
      sim
        .books()
        .all('Payment')
        .filter((e) => refs.includes(String(e.PaymentRefNum))),
    ).toEqual([]);
    expect(refs.flatMap(feesOf)).toEqual([]);
  });
});
