/**
 * What posts through a GL account keeps it a posting account, and a bank account keeps its currency
 * once it has postings. An attack review found that a tax code, bank account or the entity's
 * customer defaults could be left on an inactive or header account (journals refused the account,
 * a VAT line or receipt still posted to it, and a new customer was refused for a field its caller
 * never sent), that an account with postings could become a header account, and that a bank
 * account holding EUR receipts could be relabelled USD.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../src/db/database.ts';
import { openPostgres } from '../src/db/postgres.ts';
import { findEntityById } from '../src/ledger/entities.ts';
import { postReceipt } from '../src/ledger/posting/receipts.ts';
import { saveBankAccount } from '../src/ledger/setup/bank-accounts.ts';
import { saveGlAccount } from '../src/ledger/setup/gl-accounts.ts';
import { saveTaxCode } from '../src/ledger/setup/tax-codes.ts';
import { type Client, type TestApp, createTestApp, type TestResponse } from './helpers/app.ts';
import { holdTransaction, onPostgres, waitBlockedBehind } from './helpers/db.ts';
import { checkInvariants, invoice, receipt, seedCustomer } from './helpers/ledger.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t.close());

let n = 0;
/** A fresh EUR entity with the default chart and customer C1. */
async function entity(): Promise<Client> {
  const c = await t.entity(`GUARD${++n}`, 'EUR', { standardTaxRate: '0.21' });
  await seedCustomer(t.db, c.entityId, 'C1');
  return c;
}

/** Asserts an error answer: its status, code, and the field its details name. */
function expectError(res: TestResponse, status: number, code: string, field: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual([field]);
}

async function account(c: Client, code: string) {
  return (await c.get(`/v1/gl-accounts/${code}`)).body as { isActive: boolean; isPosting: boolean };
}

async function postedCount(c: Client): Promise<number> {
  const { rows } = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM transactions WHERE entity_id = $1', [
    c.entityId,
  ]);
  return rows[0]!.n;
}

/** Puts the account in a state setup now refuses, as data stored before the rule may hold it. */
async function closeBehindSetup(c: Client, code: string, column: 'is_active' | 'is_posting') {
  await t.db.query(`UPDATE gl_accounts SET ${column} = false WHERE entity_id = $1 AND code = $2`, [c.entityId, code]);
}

describe('an account in use stays an active posting account', () => {
  it('refuses to make the VAT account a header, to close the bank account, or to head the default sales account (the reproduction)', async () => {
    const c = await entity();
    const vat = await c.put('/v1/gl-accounts/2200', { isPosting: false });
    expectError(vat, 422, 'GLACCOUNT_IN_USE', 'body.isPosting');
    expect(vat.body.error.message).toBe(
      "body.isPosting: GL account 2200 is used by the entity's account role vatOutput, tax codes STD, ZERO, EXEMPT, " +
        "so it cannot become a header account; the entity's account roles and customer defaults cannot be changed, " +
        'so it stays an active posting account',
    );
    expect(await account(c, '2200')).toMatchObject({ isActive: true, isPosting: true });

    const bank = await c.put('/v1/gl-accounts/1200', { isActive: false });
    expectError(bank, 422, 'GLACCOUNT_IN_USE', 'body.isActive');
    expect(bank.body.error.message).toMatch(/account role bank, bank account BANK, so it cannot become inactive/);

    const sales = await c.put('/v1/gl-accounts/4000', { isPosting: false, isActive: false });
    expectError(sales, 422, 'GLACCOUNT_IN_USE', 'body.isPosting');
    expect(sales.body.error.message).toMatch(
      /account role sales, the entity's customer default defaultGlAccountCode, customer C1, so it cannot become an inactive header account/,
    );
    // So a customer created from the defaults is not refused for a field its caller never sent.
    expect((await c.put('/v1/customers/NEWDEF', { name: 'def' })).status).toBe(201);

    // Every role the entity posts through: control accounts, FX, bank charges, suspense…
    for (const code of ['1100', '2100', '2300', '4900', '5000', '7700', '7900', '7910', '9999']) {
      const r = await c.put(`/v1/gl-accounts/${code}`, { isActive: false });
      expect([code, r.status, r.body.error?.code]).toEqual([code, 422, 'GLACCOUNT_IN_USE']);
    }
    // And the documents still post to them as active posting accounts.
    expect((await c.post('/v1/sales/batch-invoices', invoice('C1', '100.00'))).status).toBe(201);
    expect((await c.post('/v1/sales/receipts', receipt('C1', '121.00'))).status).toBe(201);
    await checkInvariants(t.db, c.entityId);
  });

  it('frees an account once what used it (tax code, bank account, customer, supplier, item, deferral) moves', async () => {
    const c = await entity();
    const accounts: [string, string][] = [
      ['2250', 'liability'],
      ['1210', 'asset'],
      ['4010', 'income'],
      ['5010', 'expense'],
      ['4020', 'income'],
      ['4030', 'income'],
    ];
    for (const [code, type] of accounts)
      expect((await c.put(`/v1/gl-accounts/${code}`, { name: `Account ${code}`, type })).status).toBe(201);
    // An inactive tax code counts: reactivating it does not look at its account again.
    expect((await c.put('/v1/tax-codes/OLD', { name: 'Old', rate: '0.1', glAccountCode: '2250' })).status).toBe(201);
    expect((await c.put('/v1/tax-codes/OLD', { isActive: false })).status).toBe(200);
    expect(
      (await c.put('/v1/bank-accounts/BANK2', { name: 'Second', glAccountCode: '1210', currency: 'EUR' })).status,
    ).toBe(201);
    expect(
      (await c.put('/v1/customers/DEF4010', { name: 'Defaults to 4010', defaultGlAccountCode: '4010' })).status,
    ).toBe(201);
    expect(
      (await c.put('/v1/suppliers/S5010', { name: 'Defaults to 5010', defaultGlAccountCode: '5010' })).status,
    ).toBe(201);
    expect((await c.put('/v1/items/W4020', { description: 'Widget', glAccountCode: '4020' })).status).toBe(201);
    const deferred = await c.post('/v1/sales/batch-invoices', {
      ...invoice('C1', '120.00'),
      lines: [
        {
          glAccountCode: '4030',
          taxCode: 'STD',
          netAmount: '120.00',
          deferral: { months: 3, startDate: '2026-11-01' },
        },
      ],
    });
    expect(deferred.status, JSON.stringify(deferred.body)).toBe(201);

    const refusals: [string, string][] = [
      ['2250', 'tax code OLD'],
      ['1210', 'bank account BANK2'],
      ['4010', 'customer DEF4010'],
      ['5010', 'supplier S5010'],
      ['4020', 'item W4020'],
      ['4030', `the deferral schedule of invoice ${deferred.body.number}`],
    ];
    for (const [code, user] of refusals) {
      const r = await c.put(`/v1/gl-accounts/${code}`, { isActive: false });
      expectError(r, 422, 'GLACCOUNT_IN_USE', 'body.isActive');
      expect(r.body.error.message).toBe(
        `body.isActive: GL account ${code} is used by ${user}, so it cannot become inactive; ` +
          'give them another active posting account first',
      );
      expect(await account(c, code)).toMatchObject({ isActive: true });
    }

    expect((await c.put('/v1/tax-codes/OLD', { glAccountCode: '2200' })).status).toBe(200);
    expect((await c.put('/v1/bank-accounts/BANK2', { glAccountCode: '1200' })).status).toBe(200);
    expect((await c.put('/v1/customers/DEF4010', { defaultGlAccountCode: null, rowVersion: 1 })).status).toBe(200);
    expect((await c.put('/v1/suppliers/S5010', { defaultGlAccountCode: null })).status).toBe(200);
    expect((await c.put('/v1/items/W4020', { glAccountCode: null })).status).toBe(200);
    // The releases posted, the schedule no longer uses its revenue account.
    expect((await c.post('/v1/deferrals/release?upTo=2027-01-31', {})).status).toBe(200);
    for (const [code] of refusals) {
      const r = await c.put(`/v1/gl-accounts/${code}`, { isActive: false });
      expect([code, r.status, r.body.error?.message]).toEqual([code, 200, undefined]);
    }
    await checkInvariants(t.db, c.entityId);
  });

  it('names five users of a kind and counts the rest', async () => {
    const c = await entity();
    expect((await c.put('/v1/gl-accounts/4040', { name: 'Shop', type: 'income' })).status).toBe(201);
    for (const code of ['K1', 'K2', 'K3', 'K4', 'K5', 'K6', 'K7'])
      expect((await c.put(`/v1/customers/${code}`, { name: code, defaultGlAccountCode: '4040' })).status).toBe(201);
    const r = await c.put('/v1/gl-accounts/4040', { isPosting: false });
    expectError(r, 422, 'GLACCOUNT_IN_USE', 'body.isPosting');
    expect(r.body.error.message).toMatch(/is used by customers K1, K2, K3, K4, K5 and 2 more, so it cannot/);
  });
});

describe('an account with postings', () => {
  it('never becomes a header account, but may be closed, and is then refused on a line', async () => {
    const c = await entity();
    expect((await c.put('/v1/gl-accounts/4300', { name: 'Sales - shop', type: 'income' })).status).toBe(201);
    const line = { glAccountCode: '4300', taxCode: 'STD', netAmount: '10.00' };
    expect((await c.post('/v1/sales/batch-invoices', { ...invoice('C1', '10.00'), lines: [line] })).status).toBe(201);
    const heading = await c.put('/v1/gl-accounts/4300', { isPosting: false });
    expectError(heading, 422, 'GLACCOUNT_CANNOT_BECOME_HEADER', 'body.isPosting');
    expect(heading.body.error.message).toBe(
      'body.isPosting: GL account 4300 has postings, so it cannot become a header account; send isActive: false to close it instead',
    );
    expectError(
      await c.put('/v1/gl-accounts/4300', { isPosting: false, isActive: false }),
      422,
      'GLACCOUNT_CANNOT_BECOME_HEADER',
      'body.isPosting',
    );
    expect(await account(c, '4300')).toMatchObject({ isActive: true, isPosting: true });

    expect((await c.put('/v1/gl-accounts/4300', { isActive: false })).status).toBe(200);
    const refused = await c.post('/v1/sales/batch-invoices', { ...invoice('C1', '10.00'), lines: [line] });
    expectError(refused, 422, 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', 'lines[0].glAccountCode');
    // Reopened, it takes postings again; an unused account may become a header account.
    expect((await c.put('/v1/gl-accounts/4300', { isActive: true })).status).toBe(200);
    expect((await c.put('/v1/gl-accounts/4310', { name: 'Shop group', type: 'income' })).status).toBe(201);
    expect((await c.put('/v1/gl-accounts/4310', { isPosting: false })).status).toBe(200);
    expect((await c.put('/v1/gl-accounts/4310', { isPosting: true })).status).toBe(200);
  });
});

describe('posting through a tax code or bank account whose account was closed before these rules', () => {
  it('refuses the VAT line on a header account, as a journal line on it is, and posts nothing', async () => {
    const c = await entity();
    await closeBehindSetup(c, '2200', 'is_posting');
    const res = await c.post('/v1/sales/batch-invoices', invoice('C1', '100.00'));
    expectError(res, 422, 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', 'lines[0].taxCode');
    expect(res.body.error.message).toBe(
      'lines[0].taxCode: Tax code STD posts to GL account 2200, which is inactive or a header account; ' +
        'give it an active posting account (PUT /v1/tax-codes/STD) or make 2200 one again',
    );
    const ppa = await c.post('/v1/sales/post-pay-allocate', {
      batchInvoice: invoice('C1', '100.00'),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: false,
    });
    expectError(ppa, 422, 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', 'batchInvoice.lines[0].taxCode');
    expect(await postedCount(c)).toBe(0);
  });

  it('refuses a receipt, a refund and a post-pay-allocate receipt into a bank on an inactive account', async () => {
    const c = await entity();
    expect((await c.post('/v1/sales/batch-invoices', invoice('C1', '100.00'))).status).toBe(201);
    await closeBehindSetup(c, '1200', 'is_active');
    const before = await postedCount(c);
    const res = await c.post('/v1/sales/receipts', receipt('C1', '121.00'));
    expectError(res, 422, 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', 'bankAccountCode');
    expect(res.body.error.message).toMatch(
      /^bankAccountCode: Bank account BANK posts to GL account 1200, which is inactive/,
    );
    const refund = await c.post('/v1/sales/debit-journals', {
      customerCode: 'C1',
      transactionDate: '2026-11-05',
      lines: [{ bankAccountCode: 'BANK', amount: '1.00' }],
    });
    expectError(refund, 422, 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', 'lines[0].bankAccountCode');
    const ppa = await c.post('/v1/sales/post-pay-allocate', {
      receipt: receipt('C1', '121.00'),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: false,
    });
    expectError(ppa, 422, 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', 'receipt.bankAccountCode');
    expect(await postedCount(c)).toBe(before);
  });
});

describe("a bank account's currency", () => {
  it('cannot change once the bank account has postings, as a customer’s cannot', async () => {
    const c = await entity();
    // Without postings it may still change.
    expect((await c.put('/v1/bank-accounts/BANK', { currency: 'USD' })).body.currency).toBe('USD');
    expect((await c.put('/v1/bank-accounts/BANK', { currency: 'EUR' })).body.currency).toBe('EUR');
    expect((await c.post('/v1/sales/receipts', receipt('C1', '12.10'))).status).toBe(201);
    const res = await c.put('/v1/bank-accounts/BANK', { currency: 'USD' });
    expectError(res, 422, 'BANK_ACCOUNT_CURRENCY_CANNOT_CHANGE', 'body.currency');
    expect(res.body.error.message).toBe(
      'body.currency: bank account BANK has postings in EUR; its currency cannot change (open another bank account in USD)',
    );
    expect((await c.get('/v1/bank-accounts/BANK')).body.currency).toBe('EUR');
    // The rest may change, the currency sent unchanged too.
    expect((await c.put('/v1/bank-accounts/BANK', { name: 'Main', currency: 'EUR' })).status).toBe(200);
  });

  it('counts a refund booked through it, and not the postings of another bank account on the same GL account', async () => {
    const c = await entity();
    expect((await c.post('/v1/sales/receipts', receipt('C1', '12.10'))).status).toBe(201);
    for (const code of ['BANK2', 'BANK3'])
      expect(
        (await c.put(`/v1/bank-accounts/${code}`, { name: code, glAccountCode: '1200', currency: 'EUR' })).status,
      ).toBe(201);
    // BANK's receipt names BANK: BANK2 and BANK3, on 1200 too, have none of their own.
    expect((await c.put('/v1/bank-accounts/BANK2', { currency: 'USD' })).status).toBe(200);
    const refund = await c.post('/v1/sales/debit-journals', {
      customerCode: 'C1',
      transactionDate: '2026-11-06',
      lines: [{ bankAccountCode: 'BANK3', amount: '1.00' }],
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    // A journal's bank line does not say which bank account of 1200 it was: any of them counts it.
    expectError(
      await c.put('/v1/bank-accounts/BANK3', { currency: 'USD' }),
      422,
      'BANK_ACCOUNT_CURRENCY_CANNOT_CHANGE',
      'body.currency',
    );
  });
});

/**
 * Races on PostgreSQL: a second pool holds a posting or setup change open in its transaction
 * while the API request that would contradict it runs; the request must wait for it and then
 * refuse, never slip past it. PGlite has one connection and serialises transactions.
 */
describe.runIf(onPostgres)('under concurrency', () => {
  let side: Database;
  beforeAll(async () => {
    const { rows } = await t.db.query<{ schema: string }>('SELECT current_schema() AS schema');
    side = await openPostgres(process.env.DATABASE_URL!, { schema: rows[0]!.schema, max: 2 });
  });
  afterAll(async () => side.close());

  /**
   * Runs `hold` in a transaction of the side pool, fires `request` while it is open, and commits
   * once the request is seen blocked behind it (or has answered: it did not wait). Returns the
   * answer and whether it waited.
   */
  async function whileHeld(
    hold: (tx: Queryable) => Promise<void>,
    request: () => Promise<TestResponse>,
  ): Promise<{ res: TestResponse; waited: boolean }> {
    const holder = await holdTransaction(side, hold);
    let answered = false;
    const pending = request().finally(() => (answered = true));
    const waited = await waitBlockedBehind(t.db, holder.pid, { stop: () => answered });
    await holder.release();
    return { res: await pending, waited };
  }

  it('a currency change waits for a receipt in flight into the bank, then refuses', async () => {
    const c = await entity();
    const ctx = { entity: (await findEntityById(side, c.entityId))!, actor: 'test' };
    const { res, waited } = await whileHeld(
      async (db) => {
        await postReceipt({ ...ctx, db }, receipt('C1', '12.10'), true);
      },
      () => c.put('/v1/bank-accounts/BANK', { currency: 'USD' }),
    );
    expect(waited).toBe(true);
    expectError(res, 422, 'BANK_ACCOUNT_CURRENCY_CANNOT_CHANGE', 'body.currency');
  });

  it('a receipt waits for a currency change of its bank in flight, then sees the new currency', async () => {
    const c = await entity();
    const { res, waited } = await whileHeld(
      async (db) => {
        await saveBankAccount(db, c.entityId, 'BANK', { currency: 'USD' });
      },
      () => c.post('/v1/sales/receipts', receipt('C1', '12.10')),
    );
    expect(waited).toBe(true);
    expectError(res, 422, 'BANK_ACCOUNT_CURRENCY_MISMATCH', 'bankAccountCode');
    expect(await postedCount(c)).toBe(0);
  });

  it('closing an account waits for a tax code being saved onto it, then refuses', async () => {
    const c = await entity();
    expect((await c.put('/v1/gl-accounts/2250', { name: 'VAT new', type: 'liability' })).status).toBe(201);
    const { res, waited } = await whileHeld(
      async (db) => {
        await saveTaxCode(db, c.entityId, 'NEWVAT', { name: 'New VAT', rate: '0.1', glAccountCode: '2250' });
      },
      () => c.put('/v1/gl-accounts/2250', { isActive: false }),
    );
    expect(waited).toBe(true);
    expectError(res, 422, 'GLACCOUNT_IN_USE', 'body.isActive');
  });

  it('a tax code saved onto an account being closed waits for it, then is refused', async () => {
    const c = await entity();
    expect((await c.put('/v1/gl-accounts/2250', { name: 'VAT new', type: 'liability' })).status).toBe(201);
    const { res, waited } = await whileHeld(
      async (db) => {
        await saveGlAccount(db, c.entityId, '2250', { isActive: false });
      },
      () => c.put('/v1/tax-codes/NEWVAT', { name: 'New VAT', rate: '0.1', glAccountCode: '2250' }),
    );
    expect(waited).toBe(true);
    expectError(res, 422, 'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST', 'body.glAccountCode');
  });
});
