import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../db/database.ts';
import { ConnectorError } from '../../sync/connector.ts';
import type { RatePlanner } from '../../sync/remote/contracts.ts';
import { SecretBox } from '../../sync/secrets.ts';
import type { TargetCallContext, TargetConnector, TargetCreditNote, TargetInvoice } from '../../sync/target.ts';
import { writeControlId } from './api.ts';
import { lineItems } from './map.ts';
import { IntacctSettings } from './settings.ts';
import { type IntacctSimulator, startIntacctSimulator } from './simulator.ts';
import { createIntacctTarget } from './target.ts';
import { parseResponse, requestXml } from './xml.ts';

/*
 * The Intacct connector against its simulated gateway, call by call: settings refused as they
 * should be, lines mapped to accounts, a session that times out renewed once, a repeated control
 * id found again rather than booked twice, a 429 waited out, a wrong sender refused without
 * leaking a password, two customers' credit notes under one reference each booked and found as
 * that customer's own.
 */

const noDb = new Proxy({} as Queryable, {
  get() {
    throw new Error('the Intacct target must not use the database in these tests');
  },
});
const ctx: TargetCallContext = { db: noDb, log: pino({ level: 'silent' }), actor: 'test' };
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
const SENDER = { senderId: 'unit_sender', senderPassword: 'unit-sender-secret-0123' };
const USER = { companyId: 'UNIT', userId: 'xml_user', password: 'unit-user-secret-4567' };
const BASE = {
  ...SENDER,
  companyId: USER.companyId,
  userId: USER.userId,
  userPassword: USER.password,
  currency: 'EUR',
  salesGlAccount: '4000',
  taxGlAccounts: { '0.21': '2200' },
  bankAccountId: 'BANK1',
};

let sim: IntacctSimulator;
beforeAll(async () => {
  sim = await startIntacctSimulator({
    ...SENDER,
    users: [USER],
    companies: { UNIT: { currency: 'EUR', glAccounts: ['4000', '2200'], bankAccounts: ['BANK1'] } },
    seed: 5,
  });
});
afterAll(() => sim.close());

/** The target on `endpoint` (the shared simulator's unless given), with the client's retries as given. */
function target(
  extra: Record<string, unknown> = {},
  endpoint = sim.endpoint,
  client: Record<string, number> = { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 3 },
): TargetConnector {
  return createIntacctTarget(
    {
      db: noDb,
      log: ctx.log,
      mapping: {},
      settings: { type: 'intacct', endpoint, ...BASE, ...extra },
      entityId: 'e1',
      pipelineId: 'p1',
      pipelineName: 'test',
      box: new SecretBox(Buffer.alloc(32, 1)),
    },
    { planner, client },
  );
}

const invoice = (ref: string, key = ref): TargetInvoice => ({
  sourceId: ref,
  customerTargetId: 'C-UNIT',
  productTargetIds: {},
  idempotencyKey: key,
  record: {
    kind: 'invoice',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'c',
    invoiceDate: '2026-11-02',
    dueDate: '2026-12-02',
    currency: 'EUR',
    description: 'Unit',
    lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
  },
});

describe('Intacct settings', () => {
  it('refuses unknown keys, missing credentials and malformed values, naming them', () => {
    expect(IntacctSettings.safeParse(BASE).success).toBe(true);
    const issues = (v: Record<string, unknown>) =>
      IntacctSettings.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.code}`) ?? [];
    expect(issues({ ...BASE, apiKey: 'x' })).toEqual([': unrecognized_keys']);
    const { userPassword: _p, ...noPassword } = BASE;
    expect(issues(noPassword)).toEqual(['userPassword: invalid_type']);
    expect(issues({ ...BASE, currency: 'eur', salesGlAccount: '40 00', paymentMethod: 'Cheque' })).toEqual([
      'salesGlAccount: invalid_format',
      'currency: invalid_format',
      'paymentMethod: invalid_value',
    ]);
    expect(issues({ ...BASE, taxGlAccounts: { '21%': '2200' } })).toEqual(['taxGlAccounts.21%: invalid_key']);
  });
});

describe('Intacct lines', () => {
  const c = { mapping: {}, salesGlAccount: '4000', taxGlAccounts: { '0.21': '2200' }, currency: 'EUR' };
  it('books net amounts on the revenue account and each rate’s tax on its own account; a credit negative', () => {
    const lines = [
      { description: 'A', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' },
      { description: 'B', netAmount: '10.05', vatRate: '0.21' },
      { description: 'C', netAmount: '5.00', vatRate: '0', glAccountCode: '4100' },
    ];
    expect(lineItems(lines, c, 1n)).toEqual({
      items: [
        { glaccountno: '4000', amount: '100.00', memo: 'A' },
        { glaccountno: '4000', amount: '10.05', memo: 'B' },
        { glaccountno: '4100', amount: '5.00', memo: 'C' },
        { glaccountno: '2200', amount: '23.11', memo: 'Tax 21%' },
      ],
      gross: 13816n,
    });
    const credit = lineItems(lines.slice(0, 1), c, -1n);
    expect(credit).toMatchObject({ items: [{ amount: '-100.00' }, { amount: '-21.00' }], gross: 12100n });
  });
  it('refuses a rate with tax and no account for it', () => {
    expect(lineItems([{ description: 'A', netAmount: '10.00', vatRate: '0.09' }], c, 1n)).toMatchObject({
      code: 'MAPPING_NO_TAX_CODE_FOR_RATE',
    });
  });
});

describe('Intacct XML', () => {
  it('escapes what it is given and reads errors back', () => {
    const xml = requestXml(
      { senderId: 's', senderPassword: 'p<&>', controlId: 'c1', uniqueId: true },
      { sessionId: 'sess' },
      [{ controlId: 'c1', name: 'readByQuery', body: { object: 'CUSTOMER', query: "NAME = 'A & B'" } }],
    );
    expect(xml).toContain('<password>p&lt;&amp;&gt;</password>');
    expect(xml).toContain('<uniqueid>true</uniqueid><dtdversion>3.0</dtdversion>');
    expect(xml).toContain('<function controlid="c1"><readByQuery>');
    const r = parseResponse(
      '<response><control><status>failure</status></control><errormessage><error><errorno>GW-0010</errorno><description>Rate</description></error></errormessage></response>',
    );
    expect(r?.controlErrors).toEqual([{ errorno: 'GW-0010', description: 'Rate', description2: '', correction: '' }]);
    expect(parseResponse('not xml')).toBeNull();
  });
});

describe('the simulated gateway', () => {
  it('records a request that breaks the contract, and answers it as Intacct would', async () => {
    const login = requestXml(
      { senderId: SENDER.senderId, senderPassword: SENDER.senderPassword, controlId: 'l1', uniqueId: false },
      { login: { userId: USER.userId, companyId: USER.companyId, password: USER.password } },
      [{ controlId: 'l1', name: 'getAPISession', body: '' }],
    );
    const post = (body: string) => fetch(sim.endpoint, { method: 'POST', body }).then((r) => r.text());
    const session = /<sessionid>([^<]+)<\/sessionid>/.exec(await post(login))![1]!;
    const before = sim.violations.length;
    // A write without uniqueid, its elements out of order, an amount with three decimals.
    const bad = requestXml(
      { senderId: SENDER.senderId, senderPassword: SENDER.senderPassword, controlId: 'b1', uniqueId: false },
      { sessionId: session },
      [
        {
          controlId: 'b1',
          name: 'create_invoice',
          body: {
            datecreated: { year: '2026', month: '11', day: '02' },
            customerid: 'NOBODY',
            datedue: { year: '2026', month: '12', day: '02' },
            invoiceitems: { lineitem: [{ glaccountno: '4000', amount: '1.005' }] },
          },
        },
      ],
    );
    const answer = parseResponse(await post(bad));
    expect(answer?.results[0]).toMatchObject({ status: 'failure', errors: [{ errorno: 'BL01001973' }] });
    expect(sim.violations.slice(before)).toEqual([
      {
        function: 'create_invoice',
        problems: [
          'control: a write is sent with uniqueid true',
          'create_invoice: elements out of order (datecreated, customerid, datedue, invoiceitems)',
          'lineitem: "1.005" is not a decimal amount',
        ],
      },
    ]);
    sim.violations.splice(before);
  });
});

describe('Intacct target against the simulated gateway', () => {
  it('books a customer and an invoice, renews a timed-out session once, and reads the number back', async () => {
    const t = target();
    expect(
      await t.upsertCustomers(ctx, [
        {
          sourceId: 'c',
          code: 'C-UNIT',
          targetId: null,
          record: { kind: 'customer', sourceId: 'c', name: 'Unit customer' },
        },
      ]),
    ).toMatchObject([{ ok: true, targetId: 'C-UNIT', outcome: 'created' }]);
    const logins = sim.stats.logins;
    sim.expireSessions();
    const [r] = await t.createInvoices(ctx, [invoice('U-1')]);
    expect(r).toMatchObject({ ok: true, outcome: 'created', number: expect.stringMatching(/^INV-/) });
    expect(sim.stats.logins).toBe(logins + 1);
    expect(await t.findByReference(ctx, 'invoice', 'U-1', 'C-UNIT')).toMatchObject({
      targetId: (r as { targetId: string }).targetId,
      customerTargetId: 'C-UNIT',
    });
    expect(sim.violations).toEqual([]);
  });

  it('finds a write again when the gateway refuses its control id as already used, instead of booking it twice', async () => {
    const t = target();
    sim.dropNext(1, (r) => r.function === 'create_invoice');
    await expect(t.createInvoices(ctx, [invoice('U-2')])).rejects.toMatchObject({ retryable: true });
    const before = sim.stats.duplicatesRefused;
    // Sent again as it was (same document, same control id): refused by the gateway, linked here.
    const [again] = await t.createInvoices(ctx, [invoice('U-2')]);
    expect(again).toMatchObject({ ok: true, outcome: 'linked', number: expect.stringMatching(/^INV-/) });
    expect(sim.stats.duplicatesRefused).toBe(before + 1);
    expect(sim.duplicates('UNIT')).toEqual([]);
    expect(writeControlId('U-2', 'invoice')).toMatch(/^ll-[0-9a-f]{32}$/);
  });

  it('waits out a 429 and refuses a wrong sender without a password in the message', async () => {
    sim.failNext(429, 429);
    const [r] = await target().createInvoices(ctx, [invoice('U-3')]);
    expect(r).toMatchObject({ ok: true });
    const err = await target({ senderPassword: 'wrong-sender-password-42' })
      .createInvoices(ctx, [invoice('U-4')])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ code: 'TARGET_AUTH_REVOKED', retryable: false });
    expect((err as Error).message).toMatch(/senderId and senderPassword/);
    expect((err as Error).message).not.toContain('wrong-sender-password-42');
  });

  it('past the concurrency entitlement the gateway answers 429, and the client waits it out', async () => {
    const busy = await startIntacctSimulator({
      ...SENDER,
      users: [USER],
      companies: { UNIT: { currency: 'EUR', glAccounts: ['4000', '2200'], bankAccounts: ['BANK1'] } },
      latencyMs: 40,
      limits: { concurrent: 2 },
    });
    try {
      // No planner pacing here: four requests at once against an entitlement of two.
      const t = target({}, busy.endpoint, { backoffBaseMs: 20, backoffMaxMs: 80, maxAttempts: 8 });
      await t.checkConnection!(ctx);
      const found = await Promise.all(['A', 'B', 'C', 'D'].map((c) => t.findByReference(ctx, 'customer', c)));
      expect(found).toEqual([null, null, null, null]);
      expect(busy.stats.rateRefused).toBeGreaterThan(0);
      expect(busy.stats.maxInFlight).toBe(2);
    } finally {
      await busy.close();
    }
  });

  it('sends a batch’s invoices up to the entitlement at once, not one by one, each booked once in order', async () => {
    const slow = await startIntacctSimulator({
      ...SENDER,
      users: [USER],
      companies: { UNIT: { currency: 'EUR', glAccounts: ['4000', '2200'], bankAccounts: ['BANK1'] } },
      latencyMs: 300,
      limits: { concurrent: 2 },
    });
    try {
      const t = target({}, slow.endpoint, { maxAttempts: 1 });
      await t.upsertCustomers(ctx, [
        { sourceId: 'c', code: 'C-UNIT', targetId: null, record: { kind: 'customer', sourceId: 'c', name: 'Unit' } },
      ]);
      const refs = ['P-1', 'P-2', 'P-3', 'P-4'];
      const results = await t.createInvoices(
        ctx,
        refs.map((r) => invoice(r)),
      );
      // One at a time, a slow gateway's second slot would stay idle.
      expect(slow.stats.maxInFlight).toBe(2);
      expect(slow.stats.rateRefused).toBe(0);
      const held = [...slow.company('UNIT').records.values()].filter((r) => r.kind === 'invoice');
      expect(held.map((r) => r.DOCNUMBER).sort()).toEqual(refs);
      for (const [i, r] of results.entries())
        expect(r).toMatchObject({
          ok: true,
          targetId: (await t.findByReference(ctx, 'invoice', refs[i]!, 'C-UNIT'))!.targetId,
        });
    } finally {
      await slow.close();
    }
  });

  it('refuses in Intacct’s words what the company refuses', async () => {
    const [r] = await target({ salesGlAccount: '9999' }).createInvoices(ctx, [invoice('U-5')]);
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'TARGET_REFUSED', message: expect.stringMatching(/Invalid GL Account 9999/) },
    });
  });

  it('books two customers’ credit notes under one reference each as its own, and finds each customer’s own after a lost answer', async () => {
    const t = target();
    const customers = ['C-SN1', 'C-SN2'];
    await t.upsertCustomers(
      ctx,
      customers.map((code) => ({
        sourceId: code,
        code,
        targetId: null,
        record: { kind: 'customer' as const, sourceId: code, name: `Unit ${code}` },
      })),
    );
    const note = (sourceId: string, customerTargetId: string, net: string): TargetCreditNote => ({
      sourceId,
      customerTargetId,
      productTargetIds: {},
      invoiceTargetId: null,
      idempotencyKey: sourceId,
      record: {
        kind: 'creditNote',
        sourceId,
        externalReference: 'U-SN',
        customerSourceId: sourceId,
        date: '2026-11-03',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Returned', netAmount: net, vatRate: '0', vatAmount: '0.00' }],
      },
    });
    const [first] = await t.createCreditNotes!(ctx, [note('N1', 'C-SN1', '20.00')]);
    expect(first).toMatchObject({ ok: true, outcome: 'created', number: 'U-SN' });
    // The second customer's is committed and its answer lost: the lookup takes that customer's own.
    sim.dropNext(1, (r) => r.function === 'create_aradjustment');
    await expect(t.createCreditNotes!(ctx, [note('N2', 'C-SN2', '10.00')])).rejects.toMatchObject({ retryable: true });
    const held = [...sim.company('UNIT').records.values()].filter(
      (r) => r.kind === 'adjustment' && r.DOCNUMBER === 'U-SN',
    );
    // Our reference in each one's reference number; the adjustment number only the first's (one a company).
    expect(held.map((r) => [r.CUSTOMERID, r.DOCNUMBER, r.RECORDID, r.total])).toEqual([
      ['C-SN1', 'U-SN', 'U-SN', -2000n],
      ['C-SN2', 'U-SN', '', -1000n],
    ]);
    for (const [k, c] of customers.entries())
      expect(await t.findByReference(ctx, 'creditNote', 'U-SN', c)).toMatchObject({
        targetId: held[k]!.RECORDNO,
        customerTargetId: c,
      });
    // Sent again as it was: the gateway refuses the control id, and the customer's own is linked.
    const [again] = await t.createCreditNotes!(ctx, [note('N2', 'C-SN2', '10.00')]);
    expect(again).toMatchObject({ ok: true, outcome: 'linked', targetId: held[1]!.RECORDNO });
    const read = await t.documents!(
      ctx,
      held.map((r) => r.RECORDNO),
    );
    expect([...read.values()].map((d) => [d.externalReference, d.customerTargetId])).toEqual([
      ['U-SN', 'C-SN1'],
      ['U-SN', 'C-SN2'],
    ]);
    // An adjustment an earlier version booked (our reference its number only) is still found as its customer's.
    sim.company('UNIT').createAdjustment({
      customerid: 'C-SN1',
      datecreated: { year: '2026', month: '11', day: '04' },
      adjustmentno: 'U-OLD',
      aradjustmentitems: { lineitem: [{ glaccountno: '4000', amount: '-5.00' }] },
    });
    expect(await t.findByReference(ctx, 'creditNote', 'U-OLD', 'C-SN1')).toMatchObject({ number: 'U-OLD' });
    expect(await t.findByReference(ctx, 'creditNote', 'U-OLD', 'C-SN2')).toBeNull();
    expect(sim.duplicates('UNIT')).toEqual([]);
    expect(sim.violations).toEqual([]);
  });
});
