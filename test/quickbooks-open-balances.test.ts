import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import { directQuickBooksTarget } from './helpers/quickbooks.ts';
import type { Database } from '../src/db/database.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { type Entity, Fault } from '../src/connectors/quickbooks/simulator.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetCallContext, TargetConnector, TargetRefund } from '../src/sync/target.ts';

/*
 * Each customer's open balance as the QuickBooks target reads it (src/connectors/quickbooks/
 * balances.ts), against the simulator: invoices, credit memos and payments of the customers asked
 * dated up to the day, and every journal entry's Accounts Receivable lines naming them (a refund out
 * of a customer's credit, which its payment links, and what a person keys by hand: a write-off, a
 * balance moved between customers, in the entry's currency); a refund receipt adds nothing, as
 * documents() says of it. A document dated after the day, another customer's (under the same
 * number too), a journal line on another account, a voided or deleted one: not counted. Queries of
 * 100 customers, the company's journal entries counted and read 1,000 a page, 30 queries a batch
 * call, pages of 1,000 read on.
 */

const log = pino({ level: 'silent' });
const REALM = '9130350000000733';
/** A company of its own for the paging test, so that its thousands of journal entries weigh on no other test. */
const MANY = '9130350000000734';
let db: Database;
let sim: QuickBooksSimulator;
let target: TargetConnector;
let ctx: TargetCallContext;
let ann: string;
let bob: string;
let item: string;
let taxCode: string;
/** Answers the next batch call with a Fault per item, in QuickBooks' form, when set. */
let faultNextBatch = false;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startQuickBooksSimulator({
    realms: {
      [REALM]: { country: 'IE', currency: 'EUR', vatRates: [['23% S', '23']] },
      [MANY]: { country: 'IE', currency: 'EUR', vatRates: [['23% S', '23']] },
    },
    seed: 11,
    limits: { callsPerSecond: 10_000, callsPerMinute: 100_000, batchPerMinute: 100_000 },
    mount: (req, res, url) => (faultNextBatch && url.pathname.endsWith('/batch') ? refuseQueries(req, res) : false),
  });
  target = directQuickBooksTarget(db, sim, REALM, {
    settings: { limits: { callsPerMinute: 100_000, callsPerSecond: 10_000 } },
    options: { client: { backoffBaseMs: 5, backoffMaxMs: 20, maxAttempts: 1 } },
  });
  ctx = { db, log, actor: 'test' };
  const b = books();
  ann = b.write('Customer', 'create', { DisplayName: 'Ann' }).Id;
  bob = b.write('Customer', 'create', { DisplayName: 'Bob' }).Id;
  const income = b.all('Account').find((a) => a.Name === 'Services')!;
  item = b.write('Item', 'create', { Name: 'Service', Type: 'Service', IncomeAccountRef: { value: income.Id } }).Id;
  taxCode = b.all('TaxCode').find((c) => c.Name === '23% S')!.Id;
  // Known to the target from the start (read with the company when its session opens).
  b.addAccount({ Name: 'Bad Debts', AccountType: 'Expense', AccountSubType: 'BadDebts', AcctNum: '6900' });
  b.addAccount({
    Name: 'Accounts Receivable (A/R) - USD',
    AccountType: 'Accounts Receivable',
    AccountSubType: 'AccountsReceivable',
    CurrencyRef: { value: 'USD' },
  });
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

const books = () => sim.books(REALM);

/** A QueryParserError for every query of the batch, as QuickBooks answers one inside a 200. */
async function refuseQueries(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  faultNextBatch = false;
  let body = '';
  for await (const chunk of req) body += String(chunk);
  const items = (JSON.parse(body) as { BatchItemRequest: { bId: string }[] }).BatchItemRequest;
  res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' });
  res.end(
    JSON.stringify({
      BatchItemResponse: items.map((i) => ({
        bId: i.bId,
        Fault: {
          Error: [{ Message: 'Error parsing query', Detail: 'QueryParserError: Encountered " <EOF>', code: '4000' }],
          type: 'ValidationFault',
        },
      })),
      time: new Date().toISOString(),
    }),
  );
  return true;
}

/** A sales document typed into QuickBooks: one line of `net` at 23 % VAT. */
const sale = (type: 'Invoice' | 'CreditMemo', customer: string, date: string, net: string, docNumber: string) =>
  books().write(type, 'create', {
    DocNumber: docNumber,
    CustomerRef: { value: customer },
    TxnDate: date,
    Line: [
      {
        Amount: net,
        DetailType: 'SalesItemLineDetail',
        SalesItemLineDetail: { ItemRef: { value: item }, TaxCodeRef: { value: taxCode } },
      },
    ],
  });

/** A payment received through the target: applied to the invoice named, as much as it owes, the rest unapplied. */
async function pay(ref: string, customer: string, invoice: Entity | null, date: string, amount: string) {
  const [r] = await target.createPayments!(ctx, [
    {
      sourceId: ref,
      idempotencyKey: `key-${ref}`,
      customerTargetId: customer,
      invoiceTargetId: invoice?.Id ?? null,
      bankAccountCode: '',
      record: {
        kind: 'payment',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: customer,
        date,
        amount,
        currency: 'EUR',
        invoiceExternalReference: null,
        description: '',
      },
    },
  ]);
  expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
  return books().get('Payment', (r as { targetId: string }).targetId)!;
}

const refund = (ref: string, customer: string, payment: Entity, date: string, amount: string): TargetRefund => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId: customer,
  paymentTargetId: payment.Id,
  bankAccountCode: '',
  record: {
    kind: 'refund',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: customer,
    date,
    amount,
    currency: 'EUR',
    paymentExternalReference: String(payment.PaymentRefNum),
    description: '',
  },
});

/** The balances of these customers as at the day, as "id currency amount" in cents. */
const balances = async (ids: string[], asAt: string) =>
  (await target.openBalances!(ctx, ids, asAt)).map((b) => `${b.customerTargetId} ${b.currency} ${b.balance}`);

describe('QuickBooks target: open balances', () => {
  it('sums what the customers asked owe as at the day: invoices, less credit memos and payments (unapplied too), plus refunds out of their credit', async () => {
    // Ann: 123.00 on 2 November, a credit memo of 12.30 on 15 November, 150.00 paid on 10 November
    // (27.00 of it unapplied), 61.50 more on 3 December and 20.00 paid on 5 December.
    const i1 = sale('Invoice', ann, '2026-11-02', '100.00', 'OB-1');
    sale('CreditMemo', ann, '2026-11-15', '10.00', 'OB-CM1');
    sale('Invoice', ann, '2026-12-03', '50.00', 'OB-2');
    // Bob's invoice under Ann's number, and a payment of his on account.
    sale('Invoice', bob, '2026-11-05', '200.00', 'OB-1');
    await pay('OB-PB', bob, null, '2026-11-06', '46.00');
    const p1 = await pay('OB-P1', ann, i1, '2026-11-10', '150.00');
    expect(String(p1.UnappliedAmt)).toBe('27.00');
    await pay('OB-P2', ann, null, '2026-12-05', '20.00');

    expect(await balances([ann, bob], '2026-11-30')).toEqual([`${ann} EUR -3930`, `${bob} EUR 20000`]);
    // Before anything was dated: nothing; before the payment: the invoice alone.
    expect(await balances([ann, bob], '2026-11-01')).toEqual([]);
    expect(await balances([ann], '2026-11-09')).toEqual([`${ann} EUR 12300`]);
    // The day itself counts: the December invoice on 3 December, its payment only from the 5th.
    expect(await balances([ann], '2026-12-03')).toEqual([`${ann} EUR 2220`]);
    expect(await balances([ann], '2026-12-31')).toEqual([`${ann} EUR 220`]);

    // A refund of 10.00 on 25 November, out of the 27.00 unapplied: cash on Ann's receivable (a
    // journal entry the payment links), owed again; 30.00 more on 28 November: the 17.00 left of
    // the credit in cash, 13.00 as a refund receipt reversing the sale (A/R untouched).
    const [r1] = await target.createRefunds!(ctx, [refund('OB-R1', ann, p1, '2026-11-25', '10.00')]);
    const [r2] = await target.createRefunds!(ctx, [
      refund('OB-R2', ann, books().get('Payment', p1.Id)!, '2026-11-28', '30.00'),
    ]);
    expect([r1, r2].map((r) => r?.ok)).toEqual([true, true]);
    expect(await balances([ann], '2026-11-24')).toEqual([`${ann} EUR -3930`]);
    expect(await balances([ann], '2026-11-25')).toEqual([`${ann} EUR -2930`]);
    expect(await balances([ann], '2026-11-30')).toEqual([`${ann} EUR -1230`]);
    // What reconciliation adds to the source's side for these refunds, asked alone: the same 27.00.
    const refunds = await target.documents!(
      ctx,
      [r1, r2].map((r) => (r as { targetId: string }).targetId),
      { kind: 'refund' },
    );
    expect([...refunds.values()].map((d) => [d.kind, d.customerTargetId, d.gross, d.balanceEffect])).toEqual([
      ['refund', ann, 3000n, 1700n],
      ['refund', ann, 1000n, 1000n],
    ]);
  });

  it('counts no voided or deleted document', async () => {
    const cara = books().write('Customer', 'create', { DisplayName: 'Cara' }).Id;
    const kept = sale('Invoice', cara, '2026-11-02', '10.00', 'OB-V1');
    const voided = sale('Invoice', cara, '2026-11-03', '20.00', 'OB-V2');
    const deleted = sale('Invoice', cara, '2026-11-04', '40.00', 'OB-V3');
    await pay('OB-VP', cara, voided, '2026-11-05', '24.60');
    expect(await balances([cara], '2026-11-30')).toEqual([`${cara} EUR 6150`]);
    // Voided through the API as a person would: kept with its amounts zeroed; its payment now the customer's credit.
    const res = await fetch(`${sim.url}/v3/company/${REALM}/invoice?operation=void&minorversion=75`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sim.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ Id: voided.Id, SyncToken: books().get('Invoice', voided.Id)!.SyncToken }),
    });
    expect(res.status).toBe(200);
    const after = books().get('Invoice', voided.Id)!;
    expect([String(after.TotalAmt), String(after.Balance), after.PrivateNote]).toEqual(['0.00', '0.00', 'Voided']);
    // Read back for reconciliation, it is voided (counted missing), not an invoice of 0.00.
    const read = await target.documents!(ctx, [kept.Id, voided.Id], { kind: 'invoice' });
    expect([read.get(kept.Id)?.voided, read.get(voided.Id)?.voided]).toEqual([undefined, true]);
    books().write('Invoice', 'delete', { Id: deleted.Id, SyncToken: deleted.SyncToken });
    // 12.30 owed, 24.60 paid and now on account.
    expect(await balances([cara], '2026-11-30')).toEqual([`${cara} EUR -1230`]);
    expect(String(kept.TotalAmt)).toBe('12.30');
  });

  it('asks 100 customers a query and 30 queries a batch call, and reads a full page on', async () => {
    const dora = books().write('Customer', 'create', { DisplayName: 'Dora' }).Id;
    for (let n = 0; n < 1001; n++) sale('Invoice', dora, '2026-10-01', '1.00', `OB-M${n}`);
    await target.openBalances!(ctx, [dora], '2026-01-01'); // the session (company, accounts) opened
    // 1,001 QuickBooks ids besides Dora's, and ids that cannot be QuickBooks': ignored.
    const others = Array.from({ length: 1001 }, (_, n) => String(900_000 + n));
    const [calls, queries] = [sim.stats.batchCalls, sim.stats.batchItems];
    expect(await balances(['ANN-01', '', 'c-1', ...others, dora], '2026-10-31')).toEqual([`${dora} EUR 123123`]);
    // 1,002 customers: 11 queries of each of three entity types and the journal entries' count and
    // first page, 35 queries in two batch calls; Dora's invoices fill their page of 1,000, read on
    // from STARTPOSITION 1001 in a third.
    expect([sim.stats.batchCalls - calls, sim.stats.batchItems - queries]).toEqual([3, 36]);
    // Nothing to ask: no call.
    const idle = sim.stats.batchCalls;
    expect(await balances(['ANN-01', 'x'], '2026-10-31')).toEqual([]);
    expect(sim.stats.batchCalls).toBe(idle);
  });

  it('answers QuickBooks refusing a query, or failing, as a ConnectorError', async () => {
    faultNextBatch = true;
    const refused = await target.openBalances!(ctx, [ann], '2026-11-30').then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ConnectorError);
    expect((refused as ConnectorError).message).toMatch(
      /reading JournalEntry for open balances: 4000 Error parsing query/,
    );
    expect((refused as ConnectorError).retryable).toBe(false);
    sim.failNext(503);
    const failed = await target.openBalances!(ctx, [ann], '2026-11-30').then(
      () => null,
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(ConnectorError);
    expect((failed as ConnectorError).retryable).toBe(true);
    sim.failNext(403);
    const lost = await target.openBalances!(ctx, [ann], '2026-11-30').then(
      () => null,
      (e: unknown) => e,
    );
    expect((lost as ConnectorError).code).toBe('TARGET_AUTH_REVOKED');
  });
});

/** An account of the company by name. */
const accountId = (name: string, realm = REALM) =>
  sim
    .books(realm)
    .all('Account')
    .find((a) => a.Name === name)!.Id;

type JournalLine = [posting: 'Debit' | 'Credit', account: string, customer: string | null, amount: string];

/** A journal entry a person keys into QuickBooks: its lines as [posting, account id, customer named or null, amount]. */
const journal = (date: string, lines: JournalLine[], extra: Record<string, unknown> = {}, realm = REALM) =>
  sim.books(realm).write('JournalEntry', 'create', {
    TxnDate: date,
    ...extra,
    Line: lines.map(([posting, account, customer, amount]) => ({
      Amount: amount,
      DetailType: 'JournalEntryLineDetail',
      JournalEntryLineDetail: {
        PostingType: posting,
        AccountRef: { value: account },
        ...(customer ? { Entity: { Type: 'Customer', EntityRef: { value: customer } } } : {}),
      },
    })),
  });

describe('QuickBooks target: open balances, journal entries keyed by hand', () => {
  const customer = (name: string, extra: Record<string, unknown> = {}) =>
    books().write('Customer', 'create', { DisplayName: name, ...extra }).Id;
  const ar = () => accountId('Accounts Receivable (A/R)');
  const badDebts = () => accountId('Bad Debts');

  it("counts a journal entry on a customer's A/R that no payment links, dated up to the day", async () => {
    const erin = customer('Erin');
    sale('Invoice', erin, '2026-11-02', '100.00', 'JE-1');
    // Written off by hand: 23.00 on 20 November, 50.00 more on 10 December.
    journal('2026-11-20', [
      ['Debit', badDebts(), null, '23.00'],
      ['Credit', ar(), erin, '23.00'],
    ]);
    journal('2026-12-10', [
      ['Debit', badDebts(), null, '50.00'],
      ['Credit', ar(), erin, '50.00'],
    ]);
    expect(await balances([erin], '2026-11-19')).toEqual([`${erin} EUR 12300`]);
    expect(await balances([erin], '2026-11-20')).toEqual([`${erin} EUR 10000`]);
    expect(await balances([erin], '2026-11-30')).toEqual([`${erin} EUR 10000`]);
    expect(await balances([erin], '2026-12-31')).toEqual([`${erin} EUR 5000`]);
  });

  it("moves what a journal entry moves from one customer's A/R to another's", async () => {
    const fred = customer('Fred');
    const gina = customer('Gina');
    sale('Invoice', fred, '2026-11-02', '100.00', 'JE-2');
    journal('2026-11-21', [
      ['Credit', ar(), fred, '30.00'],
      ['Debit', ar(), gina, '30.00'],
    ]);
    expect(await balances([fred, gina], '2026-11-30')).toEqual([`${fred} EUR 9300`, `${gina} EUR 3000`]);
    // Asked alone, each sees its own line only.
    expect(await balances([gina], '2026-11-30')).toEqual([`${gina} EUR 3000`]);
    expect(await balances([fred, gina], '2026-11-20')).toEqual([`${fred} EUR 12300`]);
  });

  it("counts only A/R lines naming the customer asked: not a line on another account naming it, nor another customer's", async () => {
    const hana = customer('Hana');
    const ivan = customer('Ivan');
    sale('Invoice', hana, '2026-11-02', '100.00', 'JE-3');
    // 20.00 of Hana's written off, the expense line naming her too (QuickBooks allows a name on any line).
    journal('2026-11-22', [
      ['Debit', badDebts(), hana, '20.00'],
      ['Credit', ar(), hana, '20.00'],
    ]);
    // A bank line naming Hana: not her receivable.
    journal('2026-11-23', [
      ['Debit', accountId('Checking'), hana, '7.00'],
      ['Credit', accountId('Services'), null, '7.00'],
    ]);
    journal('2026-11-24', [
      ['Debit', badDebts(), null, '5.00'],
      ['Credit', ar(), ivan, '5.00'],
    ]);
    expect(await balances([hana], '2026-11-30')).toEqual([`${hana} EUR 10300`]);
    expect(await balances([hana, ivan], '2026-11-30')).toEqual([`${hana} EUR 10300`, `${ivan} EUR -500`]);
  });

  it('counts a journal entry in a foreign currency in that currency, on the A/R account of that currency', async () => {
    const jack = customer('Jack', { CurrencyRef: { value: 'USD' } });
    journal(
      '2026-11-25',
      [
        ['Debit', accountId('Accounts Receivable (A/R) - USD'), jack, '40.00'],
        ['Credit', accountId('Services'), null, '40.00'],
      ],
      { CurrencyRef: { value: 'USD' }, ExchangeRate: '0.9' },
    );
    expect(await balances([jack], '2026-11-30')).toEqual([`${jack} USD 4000`]);
    // QuickBooks keeps a foreign entry's A/R line on the A/R account of its currency.
    const refused = (() => {
      try {
        journal(
          '2026-11-25',
          [
            ['Debit', ar(), jack, '1.00'],
            ['Credit', accountId('Services'), null, '1.00'],
          ],
          { CurrencyRef: { value: 'USD' } },
        );
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(refused).toBeInstanceOf(Fault);
    expect((refused as Fault).errors[0]!.Detail).toMatch(/same currency as the A\/R/);
  });

  it('counts a charge keyed on A/R once when a payment is applied to it, and a voided entry not at all', async () => {
    const lena = customer('Lena');
    // An opening balance keyed by hand, then paid: the payment links the journal entry.
    const charge = journal('2026-11-03', [
      ['Debit', ar(), lena, '50.00'],
      ['Credit', accountId('Services'), null, '50.00'],
    ]);
    books().write('Payment', 'create', {
      CustomerRef: { value: lena },
      TxnDate: '2026-11-12',
      TotalAmt: '50.00',
      Line: [{ Amount: '50.00', LinkedTxn: [{ TxnId: charge.Id, TxnType: 'JournalEntry' }] }],
    });
    expect(await balances([lena], '2026-11-11')).toEqual([`${lena} EUR 5000`]);
    expect(await balances([lena], '2026-11-30')).toEqual([`${lena} EUR 0`]);

    const kim = customer('Kim');
    sale('Invoice', kim, '2026-11-02', '100.00', 'JE-5');
    const writeOff = journal('2026-11-26', [
      ['Debit', badDebts(), null, '15.00'],
      ['Credit', ar(), kim, '15.00'],
    ]);
    expect(await balances([kim], '2026-11-30')).toEqual([`${kim} EUR 10800`]);
    // Voided by a person: kept, its amounts zeroed.
    books().voidByHand('JournalEntry', writeOff.Id);
    expect(String((books().get('JournalEntry', writeOff.Id)!.Line as { Amount: unknown }[])[1]!.Amount)).toBe('0.00');
    expect(await balances([kim], '2026-11-30')).toEqual([`${kim} EUR 12300`]);
    // Deleted: no longer answered.
    const again = journal('2026-11-27', [
      ['Debit', badDebts(), null, '15.00'],
      ['Credit', ar(), kim, '15.00'],
    ]);
    expect(await balances([kim], '2026-11-30')).toEqual([`${kim} EUR 10800`]);
    books().write('JournalEntry', 'delete', { Id: again.Id, SyncToken: again.SyncToken });
    expect(await balances([kim], '2026-11-30')).toEqual([`${kim} EUR 12300`]);
  });

  it('reads an account the session does not know by id, and refuses a line on one QuickBooks does not answer', async () => {
    const nora = customer('Nora');
    sale('Invoice', nora, '2026-11-02', '100.00', 'JE-6');
    await target.openBalances!(ctx, [nora], '2026-11-30'); // the session open, its accounts read
    // Added since: a second A/R account and an expense account.
    const ar2 = books().addAccount({
      Name: 'Accounts Receivable (A/R) 2',
      AccountType: 'Accounts Receivable',
      AccountSubType: 'AccountsReceivable',
    }).Id;
    const writeOffs = books().addAccount({ Name: 'Write-offs', AccountType: 'Expense', AccountSubType: 'BadDebts' }).Id;
    journal('2026-11-28', [
      ['Debit', writeOffs, nora, '10.00'],
      ['Credit', ar2, nora, '10.00'],
    ]);
    const [calls, queries] = [sim.stats.batchCalls, sim.stats.batchItems];
    expect(await balances([nora], '2026-11-30')).toEqual([`${nora} EUR 11300`]);
    // Three queries of the customers' documents, the journal entries' count and page; then the two accounts.
    expect([sim.stats.batchCalls - calls, sim.stats.batchItems - queries]).toEqual([2, 6]);

    // A line on an account QuickBooks does not answer (the simulated books edited to name one): refused, never guessed.
    const odd = journal('2026-11-29', [
      ['Debit', writeOffs, null, '1.00'],
      ['Credit', ar2, nora, '1.00'],
    ]);
    const line = (odd.Line as { JournalEntryLineDetail: { AccountRef: { value: string } } }[])[1]!;
    line.JournalEntryLineDetail.AccountRef = { value: '999999' };
    const refused = await target.openBalances!(ctx, [nora], '2026-11-30').then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ConnectorError);
    expect((refused as ConnectorError).message).toMatch(
      new RegExp(`JournalEntry ${odd.Id} .*account 999999.*not an account QuickBooks answered`),
    );
    expect((refused as ConnectorError).retryable).toBe(false);
    books().write('JournalEntry', 'delete', { Id: odd.Id, SyncToken: odd.SyncToken });
  });

  it("reads the company's journal entries 1,000 a page, the pages after the first together, as their count says", async () => {
    const many = sim.books(MANY);
    const manyTarget = directQuickBooksTarget(db, sim, MANY, {
      settings: { limits: { callsPerMinute: 100_000, callsPerSecond: 10_000 } },
      options: { client: { backoffBaseMs: 5, backoffMaxMs: 20, maxAttempts: 1 } },
    });
    const mia = many.write('Customer', 'create', { DisplayName: 'Mia' }).Id;
    const income = accountId('Services', MANY);
    const manyItem = many.write('Item', 'create', {
      Name: 'Service',
      Type: 'Service',
      IncomeAccountRef: { value: income },
    }).Id;
    const manyTax = many.all('TaxCode').find((c) => c.Name === '23% S')!.Id;
    many.write('Invoice', 'create', {
      DocNumber: 'JE-M',
      CustomerRef: { value: mia },
      TxnDate: '2026-10-01',
      Line: [
        {
          Amount: '2000.00',
          DetailType: 'SalesItemLineDetail',
          SalesItemLineDetail: { ItemRef: { value: manyItem }, TaxCodeRef: { value: manyTax } },
        },
      ],
    });
    const [arMany, bank] = [accountId('Accounts Receivable (A/R)', MANY), accountId('Checking', MANY)];
    // 2,500 entries crediting 1.00 of Mia's receivable, and one after the day.
    for (let n = 0; n < 2500; n++)
      journal(
        '2026-10-15',
        [
          ['Debit', bank, null, '1.00'],
          ['Credit', arMany, mia, '1.00'],
        ],
        {},
        MANY,
      );
    journal(
      '2026-11-02',
      [
        ['Debit', bank, null, '9.00'],
        ['Credit', arMany, mia, '9.00'],
      ],
      {},
      MANY,
    );
    await manyTarget.openBalances!(ctx, [mia], '2026-01-01'); // the session opened
    const [calls, queries] = [sim.stats.batchCalls, sim.stats.batchItems];
    const read = await manyTarget.openBalances!(ctx, [mia], '2026-10-31');
    expect(read.map((b) => `${b.customerTargetId} ${b.currency} ${b.balance}`)).toEqual([`${mia} EUR -4000`]);
    // The customers' three queries with the journal entries' count and first page in one batch
    // call; then the pages from 1,001 and 2,001 together in one more (read one after the other,
    // they would take two).
    expect([sim.stats.batchCalls - calls, sim.stats.batchItems - queries]).toEqual([2, 7]);
  });
});
