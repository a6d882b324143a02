import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CanonicalPayment } from '../../sync/canonical.ts';
import type { TokenSource } from '../../sync/remote/contracts.ts';
import type { ItemResult, TargetDeps, TargetPayment } from '../../sync/target.ts';
import { type MyobSimulator, startMyobSimulator } from './simulator.ts';
import type { AccountOptions } from './simulator-store.ts';
import { createMyobTarget } from './target.ts';

/*
 * A payment provider's fee in MYOB, the connector against the simulated company file: spend money
 * out of the payment's bank account to the bank-fees account (with its own tax code), before the
 * payment; found again rather than spent twice after a lost answer; each customer's own under a
 * shared reference; the fees account from `accounts.fees` or the one bank-fees account of the chart,
 * anything else refused naming the setting; read back for reconciliation.
 */

const CLIENT = { clientId: 'fees-api-key', clientSecret: 'fees-secret-0123456789' };
const FILE = '33333333-4444-4555-8666-777777777777';
const log = pino({ level: 'silent' });
const CHART: Record<string, string | AccountOptions> = {
  '4-1000': 'Sales',
  '1-1110': 'Business Bank Account',
  '6-1100': { name: 'Bank Fees', taxCode: 'FRE' },
  '6-2000': { name: 'Advertising', taxCode: 'GST' },
};
let sim: MyobSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** A target over a company file with this chart, two customers and an invoice of 121.00 each. */
async function setup(chart: Record<string, string | AccountOptions> = CHART, accounts: Record<string, string> = {}) {
  sim = await startMyobSimulator({
    ...CLIENT,
    companyFiles: { [FILE]: { accounts: chart } },
    limits: { perSecond: 10_000 },
  });
  const s = sim;
  let refresh = s.issueRefreshToken();
  let access: string | null = null;
  const auth: TokenSource = {
    async accessToken() {
      if (access) return access;
      const form = new URLSearchParams({
        ...{ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret },
        grant_type: 'refresh_token',
        refresh_token: refresh,
      });
      const body = (await (await fetch(s.tokenUrl, { method: 'POST', body: form })).json()) as Record<string, string>;
      refresh = body.refresh_token!;
      access = body.access_token!;
      return access;
    },
    invalidate: () => {
      access = null;
    },
    secrets: () => [CLIENT.clientSecret],
  };
  const settings = {
    ...CLIENT,
    companyFileId: FILE,
    accounts: { sales: '4-1000', bank: '1-1110', ...accounts },
    baseUrl: s.baseUrl,
    tokenUrl: s.tokenUrl,
  };
  const deps = { db: null, log, settings, pipelineId: 'p', pipelineName: 'p', entityId: 'e' } as unknown as TargetDeps;
  const planner = {
    acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
    pause: () => Promise.resolve(),
    observe: () => Promise.resolve(),
  };
  const target = createMyobTarget(deps, { auth, planner, client: { maxAttempts: 1, backoffBaseMs: 1 } });
  const ctx = { db: null as never, log, actor: 'test' };
  const customers = await target.upsertCustomers(
    ctx,
    ['A', 'B'].map((c) => ({
      sourceId: c,
      code: `C-${c}`,
      targetId: null,
      record: { kind: 'customer', sourceId: c, name: `Customer ${c}` },
    })),
  );
  const [a, b] = customers.map(idOf) as [string, string];
  const invoices = await target.createInvoices(
    ctx,
    [a, b].map((customer, i) => ({
      sourceId: `I${i + 1}`,
      customerTargetId: customer,
      productTargetIds: {},
      idempotencyKey: `I${i + 1}`,
      record: {
        kind: 'invoice',
        sourceId: `I${i + 1}`,
        externalReference: `I${i + 1}`,
        customerSourceId: i === 0 ? 'A' : 'B',
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'AUD',
        description: '',
        lines: [{ description: 'Service', netAmount: '110.00', vatRate: '0.10', vatAmount: '11.00' }],
      },
    })),
  );
  const file = s.file(FILE);
  const account = (displayId: string) => file.accounts.find((x) => x.DisplayID === displayId)!.UID;
  return { s, file, target, ctx, customers: [a, b], invoices: invoices.map(idOf), account };
}

function idOf(r: ItemResult | undefined): string {
  if (!r?.ok) throw new Error(`not booked: ${JSON.stringify(r)}`);
  return r.targetId;
}

/** A payment of 121.00 paying invoice n (1: customer A's, 2: B's). */
function payment(
  env: Awaited<ReturnType<typeof setup>>,
  n: 1 | 2,
  fee: string | null | undefined,
  reference = `P${n}`,
): TargetPayment {
  const record: CanonicalPayment = {
    kind: 'payment',
    sourceId: `P${n}`,
    externalReference: reference,
    customerSourceId: n === 1 ? 'A' : 'B',
    date: '2026-11-20',
    amount: '121.00',
    currency: 'AUD',
    invoiceExternalReference: `I${n}`,
    description: '',
    ...(fee === undefined ? {} : { fee }),
  };
  return {
    sourceId: `P${n}`,
    record,
    customerTargetId: env.customers[n - 1]!,
    invoiceTargetId: env.invoices[n - 1]!,
    bankAccountCode: '',
    idempotencyKey: `key-P${n}`,
  };
}

const spends = (env: Awaited<ReturnType<typeof setup>>) => [...env.file.spendMoney.values()];

describe('a payment provider’s fee in MYOB', () => {
  it('is spent out of the payment’s bank account to Bank Fees with its tax code, tax inclusive, the payment kept gross', async () => {
    const env = await setup();
    const [r] = await env.target.createPayments!(env.ctx, [payment(env, 1, '2.50')]);
    const [spend] = spends(env);
    expect(r).toMatchObject({ ok: true, message: `fee AUD 2.50 booked as spend money ${spend!.UID}` });
    expect(spends(env)).toHaveLength(1);
    const fre = env.file.taxCodes.find((t) => t.Code === 'FRE')!.UID;
    expect(spend).toMatchObject({
      accountUid: env.account('1-1110'),
      memo: 'P1',
      Date: '2026-11-20',
      isTaxInclusive: true,
      total: 250n,
      lines: [
        {
          accountUid: env.account('6-1100'),
          taxUid: fre,
          amount: 250n,
          tax: 0n,
          memo: `Payment provider fee on P1 (ledgerlink customer ${env.customers[0]})`,
        },
      ],
    });
    // The customer paid 121.00: the invoice is paid in full, the payment is gross.
    const [pay] = [...env.file.payments.values()];
    expect([pay!.amount, env.file.sales.get(env.invoices[0]!)!.balance]).toEqual([12100n, 0n]);
    expect(env.s.violations).toEqual([]);
  });

  it('goes to accounts.fees when it is set, whatever the chart calls it', async () => {
    const env = await setup({ ...CHART, '6-3000': { name: 'Stripe charges', taxCode: 'GST' } }, { fees: '6-3000' });
    const [r] = await env.target.createPayments!(env.ctx, [payment(env, 1, '1.10')]);
    expect(r!.ok).toBe(true);
    expect(spends(env).map((x) => [x.lines[0]!.accountUid, x.lines[0]!.amount, x.lines[0]!.tax, x.total])).toEqual([
      // GST inside the fee (tax inclusive): 1.10 left the bank, 0.10 of it GST.
      [env.account('6-3000'), 110n, 10n, 110n],
    ]);
  });

  it('after a lost answer is found, not spent again, and the payment follows', async () => {
    const env = await setup();
    env.s.dropNext(1, (q) => q.method === 'POST' && q.route === 'Banking/SpendMoneyTxn');
    const p = payment(env, 1, '2.50');
    await expect(env.target.createPayments!(env.ctx, [p])).rejects.toMatchObject({ retryable: true });
    // The fee is there, the payment is not: the engine finds no payment and sends it again.
    expect([spends(env).length, env.file.payments.size]).toEqual([1, 0]);
    expect(await env.target.findByReference(env.ctx, 'payment', 'P1', env.customers[0])).toBeNull();
    const [r] = await env.target.createPayments!(env.ctx, [p]);
    expect(r).toMatchObject({ ok: true, message: `fee AUD 2.50 already booked as spend money ${spends(env)[0]!.UID}` });
    expect([spends(env).length, env.file.payments.size]).toEqual([1, 1]);
    expect(env.s.duplicates(FILE)).toEqual([]);
  });

  it('a payment MYOB refuses after its fee was spent says so, and its fee is not spent again when it is sent again', async () => {
    const env = await setup();
    const p = payment(env, 1, '2.50');
    // Our own check (more than the invoice owes) comes before the fee: nothing spent.
    env.file.sales.get(env.invoices[0]!)!.balance = 100n;
    const [ours] = await env.target.createPayments!(env.ctx, [p]);
    expect(ours).toMatchObject({ ok: false, error: { code: 'TARGET_CAPABILITY_MISSING' } });
    expect(spends(env)).toEqual([]);
    env.file.sales.get(env.invoices[0]!)!.balance = 12100n;
    // MYOB refuses the payment itself (its customer card gone meanwhile), after the fee was spent.
    const card = env.file.customers.get(env.customers[0]!)!;
    env.file.customers.delete(card.UID);
    const [refused] = await env.target.createPayments!(env.ctx, [p]);
    expect(refused).toMatchObject({
      ok: false,
      error: {
        code: 'TARGET_REFUSED',
        message: expect.stringMatching(
          /NotFound 150: Customer not found\) \(its fee AUD 2\.50 is booked as spend money \S+ and is not booked again/,
        ),
      },
    });
    env.file.customers.set(card.UID, card);
    const [r] = await env.target.createPayments!(env.ctx, [p]);
    expect(r).toMatchObject({ ok: true, message: expect.stringMatching(/^fee AUD 2\.50 already booked/) });
    expect([spends(env).length, env.file.payments.size]).toEqual([1, 1]);
  });

  it('under one reference shared by two customers’ payments, each gets its own fee, once', async () => {
    const env = await setup();
    const both = [payment(env, 1, '2.50', 'ORDER-1'), payment(env, 2, '1.20', 'ORDER-1')];
    expect((await env.target.createPayments!(env.ctx, both)).map((r) => r.ok)).toEqual([true, true]);
    const mine = () =>
      spends(env)
        .map((x) => [x.memo, x.total, x.lines[0]!.memo])
        .sort();
    const held = mine();
    expect(held).toEqual([
      ['ORDER-1', 120n, `Payment provider fee on ORDER-1 (ledgerlink customer ${env.customers[1]})`],
      ['ORDER-1', 250n, `Payment provider fee on ORDER-1 (ledgerlink customer ${env.customers[0]})`],
    ]);
    // Each looked up again (a retry of the whole batch after a lost answer): found, not spent again.
    env.file.sales.get(env.invoices[0]!)!.balance = 12100n;
    env.file.sales.get(env.invoices[1]!)!.balance = 12100n;
    const again = await env.target.createPayments!(env.ctx, both);
    expect(again.map((r) => r.ok && r.message?.startsWith('fee') && r.message.includes('already booked'))).toEqual([
      true,
      true,
    ]);
    expect(mine()).toEqual(held);
  });

  it('a fee keyed by hand under the reference is the payment’s when it is what would be booked, else the payment is parked', async () => {
    const env = await setup();
    const byHand = async (amount: string, date = '2026-11-20') => {
      env.file.createSpendMoney({
        PayFrom: 'Account',
        Account: { UID: env.account('1-1110') },
        Date: `${date}T00:00:00`,
        IsTaxInclusive: true,
        Memo: 'P1',
        Lines: [
          {
            Account: { UID: env.account('6-1100') },
            TaxCode: { UID: env.file.taxCodes.find((t) => t.Code === 'FRE')!.UID },
            Amount: amount,
            Memo: 'Stripe fee',
          },
        ],
      });
      return Promise.resolve();
    };
    await byHand('2.50');
    const [found] = await env.target.createPayments!(env.ctx, [payment(env, 1, '2.50')]);
    expect(found).toMatchObject({ ok: true, message: expect.stringMatching(/^fee AUD 2\.50 already booked/) });
    expect(spends(env)).toHaveLength(1);

    await byHand('3.00', '2026-11-21');
    const [other] = await env.target.createPayments!(env.ctx, [payment(env, 2, '3.00', 'P1')]);
    expect(other).toMatchObject({ ok: false, error: { code: 'PAYMENT_FEE_AMBIGUOUS', field: 'fee' } });
    expect(spends(env)).toHaveLength(2);
    expect(env.file.payments.size).toBe(1);
  });

  it('books nothing beside the payment for a zero or absent fee; refuses a negative one', async () => {
    const env = await setup();
    const results = await env.target.createPayments!(env.ctx, [payment(env, 1, '0.00'), payment(env, 2, undefined)]);
    expect(results.map((r) => r.ok && r.message)).toEqual([undefined, undefined]);
    expect([spends(env).length, env.file.payments.size]).toEqual([0, 2]);
    const env2 = await setup();
    const [negative] = await env2.target.createPayments!(env2.ctx, [payment(env2, 1, '-1.00')]);
    expect(negative).toMatchObject({ ok: false, error: { code: 'AMOUNT_INVALID', field: 'fee' } });
    expect([spends(env2).length, env2.file.payments.size]).toEqual([0, 0]);
  });

  it.each([
    [
      'no bank-fees account in the chart',
      { '4-1000': 'Sales', '1-1110': 'Business Bank Account' },
      {},
      /has no Bank Fees expense account.*accounts\.fees/,
    ],
    [
      'two bank-fees accounts',
      { ...CHART, '6-1200': { name: 'Merchant Fees', taxCode: 'FRE' } },
      {},
      /has 2 bank-fee accounts \(6-1100 \(Bank Fees\), 6-1200 \(Merchant Fees\)\): choose one in accounts\.fees/,
    ],
    ['accounts.fees not in the chart', CHART, { fees: '6-9999' }, /accounts\.fees is 6-9999, which is not an account/],
    [
      'accounts.fees an income account',
      CHART,
      { fees: '4-1000' },
      /accounts\.fees is 4-1000 \(Sales\), Income account/,
    ],
    [
      'accounts.fees the bank',
      CHART,
      { fees: '1-1110' },
      /accounts\.fees is 1-1110 \(Business Bank Account\), Asset account/,
    ],
    [
      'accounts.fees a header account',
      { ...CHART, '6-0000': { name: 'General Expenses', isHeader: true } },
      { fees: '6-0000' },
      /a header account/,
    ],
    [
      'the fees account without a default tax code',
      { '4-1000': 'Sales', '1-1110': 'Business Bank Account', '6-1100': 'Bank Fees' },
      {},
      /6-1100 \(Bank Fees\) has no default tax code/,
    ],
  ] as const)(
    'is refused with TARGET_SETTING_MISSING on accounts.fees: %s; nothing is sent',
    async (_, chart, accounts, says) => {
      const env = await setup(chart, accounts);
      const results = await env.target.createPayments!(env.ctx, [payment(env, 1, '2.50'), payment(env, 2, null)]);
      expect(results[0]).toMatchObject({
        ok: false,
        error: { code: 'TARGET_SETTING_MISSING', field: 'accounts.fees', message: expect.stringMatching(says) },
      });
      // The payment without a fee goes; the one with a fee waits for the setting, its fee not spent.
      expect(results[1]!.ok).toBe(true);
      expect([spends(env).length, env.file.payments.size]).toEqual([0, 1]);
    },
  );

  it('is read back for reconciliation: each payment’s own under a shared reference, none where none is held', async () => {
    const env = await setup();
    const results = await env.target.createPayments!(env.ctx, [
      payment(env, 1, '2.50', 'ORDER-1'),
      payment(env, 2, '1.20', 'ORDER-1'),
    ]);
    const ids = results.map(idOf);
    const docs = await env.target.documents!(env.ctx, ids, { fees: true });
    expect(ids.map((id) => docs.get(id)!.fee && [docs.get(id)!.fee!.amount, docs.get(id)!.fee!.currency])).toEqual([
      [250n, 'AUD'],
      [120n, 'AUD'],
    ]);
    expect(docs.get(ids[0]!)!.fee!.label).toMatch(/^spend money \d{8}$/);
    // Not asked: not read.
    expect((await env.target.documents!(env.ctx, ids)).get(ids[0]!)!.fee).toBeUndefined();
    // A spend money deleted in MYOB: the payment holds no fee.
    env.file.spendMoney.delete(docs.get(ids[0]!)!.fee!.targetId);
    expect((await env.target.documents!(env.ctx, ids, { fees: true })).get(ids[0]!)!.fee).toBeNull();
    expect(
      env.target.feeRemedy!('missing', { targetId: ids[0]!, reference: 'ORDER-1', currency: 'AUD', fee: null }),
    ).toMatch(/Spend Money .* with the memo ORDER-1/);
  });

  it('documents() reads what the company file holds now, many UIDs a list: a deleted sale is missing, a fee read or none', async () => {
    const env = await setup();
    const [paid] = (await env.target.createPayments!(env.ctx, [payment(env, 1, '2.50')])).map(idOf);
    const ids = [...env.invoices, paid!];
    const reads = () => env.s.requests.filter((r) => r.method === 'GET').length;
    const before = reads();
    const docs = await env.target.documents!(env.ctx, ids, { fees: true });
    expect(ids.map((id) => [docs.get(id)?.kind, docs.get(id)?.externalReference, docs.get(id)?.gross])).toEqual([
      ['invoice', 'I1', 12100n],
      ['invoice', 'I2', 12100n],
      ['payment', 'P1', 12100n],
    ]);
    expect(docs.get(paid!)!.fee).toMatchObject({ amount: 250n, currency: 'AUD' });
    // One list of sales, one of payments, one of spend money: not one GET a document.
    expect(reads() - before).toBe(3);
    // A person deletes invoice I2 in MYOB (MYOB voids nothing): it is not in the map, so reconciliation counts it missing.
    env.file.deleteSale(env.invoices[1]!);
    const after = await env.target.documents!(env.ctx, ids, { fees: true });
    expect([after.has(env.invoices[0]!), after.has(env.invoices[1]!), after.has(paid!)]).toEqual([true, false, true]);
    // The fee deleted there too: the payment holds none.
    env.file.spendMoney.clear();
    expect((await env.target.documents!(env.ctx, [paid!], { fees: true })).get(paid!)!.fee).toBeNull();
    // 40 UIDs fit two lists of sales (and of payments, for those that are not sales), within the query string's limit.
    const many = Array.from({ length: 40 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const start = reads();
    expect((await env.target.documents!(env.ctx, many)).size).toBe(0);
    expect(reads() - start).toBe(4);
    expect(env.s.violations).toEqual([]);
  });
});
