import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../db/database.ts';
import type { RatePlanner } from '../../sync/remote/contracts.ts';
import { SecretBox } from '../../sync/secrets.ts';
import type { TargetCallContext, TargetConnector, TargetPayment } from '../../sync/target.ts';
import { feeDescription, feeMark } from './fees.ts';
import { type BusinessCentralSimulator, startBusinessCentralSimulator } from './simulator.ts';
import { checkBody, loadContract } from './simulator-contract.ts';
import { createBusinessCentralTarget } from './target.ts';

/*
 * A payment provider's fee in Business Central: a journal line on the fees G/L account, balanced by
 * the payment journal's bank, under the payment's Document No., posted with the payment; looked up
 * (waiting or posted) before it is entered, so that no retry books it twice; its account named or
 * found, else refused naming `accounts.fees`.
 */

const log = pino({ level: 'silent' });
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
const ctx: TargetCallContext = { db: null as unknown as Queryable, log, actor: 'test' };
const SECRET = 'bc-client-secret-0123456789abcdef';

let sim: BusinessCentralSimulator;
let target: TargetConnector;

function make(extra: Record<string, unknown> = {}): TargetConnector {
  return createBusinessCentralTarget(
    {
      db: ctx.db,
      log,
      mapping: {},
      settings: {
        type: 'businesscentral',
        tenantId: sim.tenantId,
        environment: sim.environment,
        companyId: sim.companyId,
        clientId: sim.client.clientId,
        clientSecret: sim.client.clientSecret,
        baseUrl: sim.baseUrl,
        tokenUrl: sim.tokenUrl,
        accounts: { sales: '40100' },
        taxRates: { '0.21': 'VAT21' },
        ...extra,
      },
      entityId: '1',
      pipelineId: '1',
      pipelineName: 'bc',
      box: new SecretBox(Buffer.alloc(32, 1)),
    },
    { planner, client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 1 } },
  );
}

let alice = '';
let bob = '';
const invoices = new Map<string, string>();

beforeAll(async () => {
  sim = await startBusinessCentralSimulator({ seed: 7, client: { clientId: 'ledgerlink-app', clientSecret: SECRET } });
  target = make();
  const customers = await target.upsertCustomers(
    ctx,
    ['ALICE', 'BOB'].map((code) => ({
      sourceId: code,
      code,
      targetId: null,
      record: { kind: 'customer' as const, sourceId: code, name: code },
    })),
  );
  const [a, b] = customers.map((r) => (r.ok ? r.targetId : ''));
  if (!a || !b) throw new Error(JSON.stringify(customers));
  [alice, bob] = [a, b];
});
afterAll(async () => {
  await sim.close();
});

/** A posted invoice of 121.00 for a customer, to pay. */
async function invoiceFor(customerTargetId: string, ref: string): Promise<string> {
  const [r] = await target.createInvoices(ctx, [
    {
      sourceId: ref,
      idempotencyKey: ref,
      customerTargetId,
      productTargetIds: {},
      record: {
        kind: 'invoice',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: 'c',
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
      },
    },
  ]);
  if (!r?.ok) throw new Error(JSON.stringify(r));
  invoices.set(ref, r.targetId);
  return r.targetId;
}

const pay = (
  ref: string,
  o: { fee?: string | null; amount?: string; customer?: string; invoice?: string | null } = {},
): TargetPayment => ({
  sourceId: `${ref}:${o.customer ?? alice}`,
  idempotencyKey: `${ref}:${o.customer ?? alice}`,
  customerTargetId: o.customer ?? alice,
  invoiceTargetId: o.invoice ?? null,
  bankAccountCode: '',
  record: {
    kind: 'payment',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    date: '2026-11-05',
    amount: o.amount ?? '121.00',
    currency: 'EUR',
    description: '',
    ...(o.fee === undefined ? { fee: '2.50' } : { fee: o.fee }),
  },
});

/** The fee lines Business Central holds (posted or waiting) under a reference. */
const feesUnder = (ref: string) =>
  [...sim.company.postedGlLines, ...sim.company.glJournalLines.values()].filter(
    (l) => l.externalDocumentNumber === ref,
  );
/** What a document's posting did to an account: debits less credits. */
const net = (documentNumber: string, account: string) =>
  sim.company.glEntries
    .filter((e) => e.documentNumber === documentNumber && e.accountNumber === account)
    .reduce((s, e) => s + Number(e.debitAmount) - Number(e.creditAmount), 0);

describe('provider fees in Business Central', () => {
  it('posts the fee with its payment: the fees account against the journal’s bank, the payment gross on its invoice', async () => {
    const inv = await invoiceFor(alice, 'FINV-1');
    const [r] = await target.createPayments!(ctx, [pay('FPAY-1', { invoice: inv })]);
    expect(r).toMatchObject({
      ok: true,
      targetId: `FPAY-1@${alice}`,
      message: expect.stringMatching(/fee EUR 2\.50 posted/),
    });
    expect(feesUnder('FPAY-1')).toMatchObject([
      {
        accountType: 'G/L Account',
        accountNumber: '67100',
        balanceAccountType: 'Bank Account',
        balancingAccountNumber: 'WWB-EUR',
        documentNumber: 'FPAY-1',
        postingDate: '2026-11-05',
        description: feeDescription('FPAY-1', alice),
      },
    ]);
    expect(feesUnder('FPAY-1')[0]!.amount.toFixed(2)).toBe('2.50');
    // The bank takes what the provider paid out; the fee is an expense; the invoice is paid in full.
    expect(net('FPAY-1', '10100')).toBeCloseTo(118.5, 6);
    expect(net('FPAY-1', '67100')).toBeCloseTo(2.5, 6);
    expect(sim.company.payments.find((p) => p.externalDocumentNumber === 'FPAY-1')!.amount.toFixed(2)).toBe('-121.00');
    expect(sim.company.docs.get(inv)!.status).toBe('Paid');
    expect(sim.company.glJournalLines.size).toBe(0);
    expect(sim.violations).toEqual([]);
  });

  it('a lost answer to the fee line books no second fee: found waiting and posted with the payment, once', async () => {
    sim.dropNext(1, (m, p) => m === 'POST' && p.endsWith('/journalLines'));
    await expect(target.createPayments!(ctx, [pay('FPAY-2')])).rejects.toMatchObject({ retryable: true });
    expect(feesUnder('FPAY-2')).toHaveLength(1);
    // The payment itself was never entered: the engine's lookup finds nothing and sends it again.
    expect(await target.findByReference(ctx, 'payment', 'FPAY-2')).toBeNull();
    const [r] = await target.createPayments!(ctx, [pay('FPAY-2')]);
    expect(r).toMatchObject({ ok: true, message: expect.stringMatching(/found waiting/) });
    expect(feesUnder('FPAY-2')).toHaveLength(1);
    expect(sim.company.postedGlLines.filter((l) => l.externalDocumentNumber === 'FPAY-2')).toHaveLength(1);
    expect(sim.duplicates()).toEqual([]);
  });

  it('a lost answer to the payment line: the lookup posts it with its fee; a fee already posted is not entered again', async () => {
    sim.dropNext(1, (m, p) => m === 'POST' && p.endsWith('/customerPayments'));
    await expect(target.createPayments!(ctx, [pay('FPAY-3')])).rejects.toMatchObject({ retryable: true });
    expect(await target.findByReference(ctx, 'payment', 'FPAY-3')).toMatchObject({ targetId: `FPAY-3@${alice}` });
    expect(sim.company.postedGlLines.filter((l) => l.externalDocumentNumber === 'FPAY-3')).toHaveLength(1);
    expect(sim.company.glJournalLines.size).toBe(0);
    // A fee posted before its payment (a post of another payment took its line along): found, not entered twice.
    const jid = [...sim.company.journals.keys()][0]!;
    sim.company.addGlJournalLine(jid, {
      accountNumber: '67100',
      documentNumber: 'FPAY-4',
      externalDocumentNumber: 'FPAY-4',
      postingDate: '2026-11-05',
      amount: '2.50',
      description: feeDescription('FPAY-4', alice),
    });
    sim.company.postJournal(jid);
    const [r] = await target.createPayments!(ctx, [pay('FPAY-4')]);
    expect(r).toMatchObject({ ok: true, message: expect.stringMatching(/already posted \(G\/L entry \d+\)/) });
    expect(feesUnder('FPAY-4')).toHaveLength(1);
    expect(sim.duplicates()).toEqual([]);
  });

  it('two customers’ payments under one reference each post their own fee, once', async () => {
    const batch = [pay('FSHARED', { fee: '1.20' }), pay('FSHARED', { fee: '2.50', customer: bob })];
    expect(await target.createPayments!(ctx, batch)).toMatchObject([{ ok: true }, { ok: true }]);
    expect(await target.createPayments!(ctx, batch)).toMatchObject([
      { ok: true, message: expect.stringMatching(/already posted/) },
      { ok: true, message: expect.stringMatching(/already posted/) },
    ]);
    const held = feesUnder('FSHARED').map((l) => [l.description.endsWith(feeMark(bob)), l.amount.toFixed(2)]);
    expect(held.sort()).toEqual([
      [false, '1.20'],
      [true, '2.50'],
    ]);
  });

  it('a reference longer than a Document No. finds its posted fee under the number it was posted with', async () => {
    const ref = 'order-2026-11-000123-long';
    expect(await target.createPayments!(ctx, [pay(ref)])).toMatchObject([{ ok: true }]);
    // Sent again (as after a payment refused once its fee was posted): the fee is found, not posted twice.
    expect(await target.createPayments!(ctx, [pay(ref)])).toMatchObject([
      { ok: true, message: expect.stringMatching(/already posted/) },
    ]);
    expect(feesUnder(ref.toUpperCase())).toMatchObject([{ documentNumber: expect.stringMatching(/^LL[0-9A-F]{18}$/) }]);
  });

  it('an unmarked fee under the reference is not guessed at: the payment is parked PAYMENT_FEE_AMBIGUOUS', async () => {
    const jid = [...sim.company.journals.keys()][0]!;
    sim.company.addGlJournalLine(jid, {
      accountNumber: '67100',
      documentNumber: 'FPAY-5',
      externalDocumentNumber: 'FPAY-5',
      postingDate: '2026-11-05',
      amount: '9.99',
      description: 'Card fee entered by hand',
    });
    sim.company.postJournal(jid);
    const [r] = await target.createPayments!(ctx, [pay('FPAY-5')]);
    expect(r).toMatchObject({ ok: false, error: { code: 'PAYMENT_FEE_AMBIGUOUS', field: 'fee' } });
    expect(sim.company.payments.some((p) => p.externalDocumentNumber === 'FPAY-5')).toBe(false);
    expect(feesUnder('FPAY-5')).toHaveLength(1);
  });

  it('a payment refused at its post takes its fee line out with it: nothing is posted alone', async () => {
    const [r] = await target.createPayments!(ctx, [pay('FPAY-6', { amount: '-5.00' })]);
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'TARGET_REFUSED', message: expect.stringMatching(/negative/) },
    });
    expect(feesUnder('FPAY-6')).toEqual([]);
    expect(sim.company.glJournalLines.size).toBe(0);
    expect(sim.company.journalLines.size).toBe(0);
    // A fee line found waiting (its answer lost) goes too when the payment's own line is refused.
    sim.dropNext(1, (m, p) => m === 'POST' && p.endsWith('/journalLines'));
    await expect(target.createPayments!(ctx, [pay('FPAY-9')])).rejects.toMatchObject({ retryable: true });
    expect(feesUnder('FPAY-9')).toHaveLength(1);
    const [refused] = await target.createPayments!(ctx, [pay('FPAY-9', { invoice: crypto.randomUUID() })]);
    expect(refused).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED' } });
    expect(feesUnder('FPAY-9')).toEqual([]);
    expect(sim.company.glJournalLines.size).toBe(0);
  });

  it('a zero or absent fee books nothing beside the payment', async () => {
    const calls = sim.log.length;
    expect(
      await target.createPayments!(ctx, [pay('FPAY-7', { fee: '0.00' }), pay('FPAY-8', { fee: null })]),
    ).toMatchObject([{ ok: true }, { ok: true }]);
    expect(sim.log.slice(calls).some((l) => /journalLines|accounts/.test(l.path))).toBe(false);
    expect(feesUnder('FPAY-7')).toEqual([]);
    expect(feesUnder('FPAY-8')).toEqual([]);
    expect(net('FPAY-7', '10100')).toBeCloseTo(121, 6);
  });

  it('refuses a fee without a usable account, naming accounts.fees, and sends neither the fee nor the payment', async () => {
    const refused = async (t: TargetConnector, ref: string) => {
      const [r] = await t.createPayments!(ctx, [pay(ref)]);
      expect(sim.company.payments.some((p) => p.externalDocumentNumber === ref)).toBe(false);
      expect(feesUnder(ref)).toEqual([]);
      return r;
    };
    const setting = { ok: false, error: { code: 'TARGET_SETTING_MISSING', field: 'accounts.fees' } };
    expect(await refused(make({ accounts: { sales: '40100', fees: '99999' } }), 'FBAD-1')).toMatchObject({
      ...setting,
      error: { ...setting.error, message: expect.stringMatching(/not a G\/L account/) },
    });
    expect(await refused(make({ accounts: { sales: '40100', fees: '40100' } }), 'FBAD-2')).toMatchObject({
      ...setting,
      error: { ...setting.error, message: expect.stringMatching(/Income account, not an expense account/) },
    });
    expect(await refused(make({ accounts: { sales: '40100', fees: '60000' } }), 'FBAD-3')).toMatchObject({
      ...setting,
      error: { ...setting.error, message: expect.stringMatching(/Heading account, not a posting account/) },
    });
    // Two accounts named for bank fees: which one is not guessed. None: said so.
    const second = { ...sim.company.accounts.get('67100')!, id: crypto.randomUUID(), number: '67150' };
    sim.company.accounts.set('67150', { ...second, displayName: 'Bank charges' });
    try {
      expect(await refused(make(), 'FBAD-4')).toMatchObject({
        ...setting,
        error: { ...setting.error, message: expect.stringMatching(/2 bank-fee accounts \(67100, 67150\)/) },
      });
      // Named, one of them is taken.
      const [r] = await make({ accounts: { sales: '40100', fees: '67150' } }).createPayments!(ctx, [pay('FOK-1')]);
      expect(r).toMatchObject({ ok: true });
      expect(feesUnder('FOK-1')).toMatchObject([{ accountNumber: '67150' }]);
    } finally {
      sim.company.accounts.delete('67150');
    }
    const fees = sim.company.accounts.get('67100')!;
    sim.company.accounts.set('67100', { ...fees, blocked: true });
    try {
      expect(await refused(make(), 'FBAD-5')).toMatchObject({
        ...setting,
        error: { ...setting.error, message: expect.stringMatching(/no posting expense account named for bank fees/) },
      });
    } finally {
      sim.company.accounts.set('67100', fees);
    }
    expect(sim.violations).toEqual([]);
  });

  it('the simulator takes a journal line as page 30049 declares it, and refuses one Business Central would', async () => {
    const contract = loadContract();
    if (contract) {
      expect(
        checkBody(contract, 'journalLines', { accountType: 'G/L Account', balanceAccountType: 'Bank Account' }),
      ).toEqual([]);
      expect(checkBody(contract, 'journalLines', { id: 'x', currencyCode: 'EUR' })).toEqual([
        '/id: read-only on journalLines (Editable = false)',
        '/currencyCode: journalLines has no property currencyCode',
      ]);
    }
    const jid = [...sim.company.journals.keys()][0]!;
    expect(() => sim.company.addGlJournalLine(jid, { accountNumber: '60000', amount: '1' })).toThrow(
      /Account Type must be equal to 'Posting'/,
    );
    expect(() => sim.company.addGlJournalLine(jid, { accountNumber: '12345', amount: '1' })).toThrow(
      /cannot be found in the related table \(G\/L Account\)/,
    );
    expect(() =>
      sim.company.addGlJournalLine(jid, {
        accountNumber: '67100',
        balanceAccountType: 'Bank Account',
        balancingAccountNumber: 'NOPE',
        amount: '1',
      }),
    ).toThrow(/related table \(Bank Account\)/);
    // A line naming no balancing account takes its journal's, as a new line takes its batch's.
    const line = sim.company.addGlJournalLine(jid, { accountNumber: '67100', amount: '1' });
    expect(line).toMatchObject({ balanceAccountType: 'Bank Account', balancingAccountNumber: 'WWB-EUR' });
    sim.company.glJournalLines.delete(line.id);
  });
});

describe('payments of two customers under one reference in Business Central', () => {
  it('a payment posted for one customer is no proof of another’s after a lost answer: each is found by its own mark', async () => {
    const [first] = await target.createPayments!(ctx, [pay('SHARED-1', { fee: null })]);
    // Its target id names the customer: two customers' payments under one Document No. are two.
    expect(first).toMatchObject({ ok: true, targetId: `SHARED-1@${alice}` });
    expect(await target.findByReference(ctx, 'payment', 'SHARED-1', alice)).toMatchObject({
      targetId: `SHARED-1@${alice}`,
    });
    // Bob's payment under the same reference is not in: found, it would never be sent.
    expect(await target.findByReference(ctx, 'payment', 'SHARED-1', bob)).toBeNull();
    // Bob's answer lost once his line was entered: found waiting, posted now, his.
    sim.dropNext(1, (m, p) => m === 'POST' && p.endsWith('/customerPayments'));
    await expect(target.createPayments!(ctx, [pay('SHARED-1', { fee: null, customer: bob })])).rejects.toMatchObject({
      retryable: true,
    });
    expect(await target.findByReference(ctx, 'payment', 'SHARED-1', bob)).toMatchObject({
      targetId: `SHARED-1@${bob}`,
      customerTargetId: bob,
    });
    const posted = sim.company.payments.filter((p) => p.externalDocumentNumber === 'SHARED-1');
    expect(posted.map((p) => p.customerId).sort()).toEqual([alice, bob].sort());
    // Posted, each line's description ends with its customer's mark, which its G/L entries keep.
    expect(posted.map((p) => p.description.endsWith(feeMark(p.customerId)))).toEqual([true, true]);
    expect(await target.findByReference(ctx, 'payment', 'SHARED-1', bob)).toMatchObject({
      targetId: `SHARED-1@${bob}`,
    });
  });

  it('entries posted without a mark (before payments were marked) prove no customer’s payment', async () => {
    const jid = [...sim.company.journals.keys()][0]!;
    expect(jid).toBeDefined();
    const [r] = await target.createPayments!(ctx, [pay('OLD-1', { fee: null })]);
    expect(r!.ok).toBe(true);
    for (const e of sim.company.glEntries.filter((x) => x.documentNumber === 'OLD-1')) e.description = 'Payment OLD-1';
    expect(await target.findByReference(ctx, 'payment', 'OLD-1', alice)).toBeNull();
    // Without a customer (a caller that has none), the Document No. alone is asked, as before.
    expect(await target.findByReference(ctx, 'payment', 'OLD-1')).toMatchObject({ targetId: 'OLD-1' });
  });
});
