import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNumbersWrittenBack, expectSecondRunWritesNothing, e2eRecords } from './helpers/platform-e2e.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, openExceptions, syncService } from './helpers/sync.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { intacctTarget } from '../src/connectors/intacct/index.ts';
import { type IntacctSimulator, startIntacctSimulator } from '../src/connectors/intacct/simulator.ts';
import { createIntacctTarget } from '../src/connectors/intacct/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { processScope } from './helpers/scoped.ts';
import { getRun } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';

/*
 * The Sage Intacct target end to end, through the engine, against the simulated XML gateway with
 * 5% of write answers lost after committing, requests answered 429 (GW-0010) in storms and when
 * more than two are in flight, and API sessions that time out during the run: zero duplicates,
 * zero missing documents, Intacct's invoice numbers written back to iXpole, payments and credit
 * adjustments applied to the invoices they name, refusals parked with a stable reason and not
 * sent again, a wrong user password parked as TARGET_AUTH_REVOKED without a secret in sight.
 * Every request is checked against the contract the simulator keeps.
 */

const SENDER = { senderId: 'll_e2e_sender', senderPassword: 'e2e-sender-secret-0123456789' };
const PASSWORD = 'e2e-user-secret-0123456789';
const COMPANIES = ['E2E-IX', 'E2E-REC', 'E2E-REF'] as const;
const BOOKS = { currency: 'EUR', glAccounts: ['4000', '4100', '2200'], bankAccounts: ['BANK1'] };

let t: TestApp;
let sync: SyncService;
let sim: IntacctSimulator;
const closers: { close(): Promise<void> }[] = [];

const scope = processScope();

beforeAll(async () => {
  t = await createTestApp();
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  sim = await startIntacctSimulator({
    ...SENDER,
    users: COMPANIES.map((companyId) => ({ companyId, userId: 'xml_user', password: PASSWORD })),
    companies: Object.fromEntries(COMPANIES.map((c) => [c, BOOKS])),
    seed: 17,
    dropAfterCommitRate: 0.05,
    latencyMs: 5,
    limits: { concurrent: 2 },
  });
  scope.target({
    ...intacctTarget,
    create: (deps) => Promise.resolve(createIntacctTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40 } })),
  });
}, 60_000);
afterAll(async () => {
  for (const c of closers) await c.close();
  await sim.close();
  await t.close();
});

function settings(companyId: string, userPassword = PASSWORD) {
  return {
    type: 'intacct',
    endpoint: sim.endpoint,
    ...SENDER,
    companyId,
    userId: 'xml_user',
    userPassword,
    currency: 'EUR',
    salesGlAccount: '4000',
    taxGlAccounts: { '0.21': '2200', '0.09': '2200' },
    bankAccountId: 'BANK1',
  };
}

const recordsOf = (companyId: string, kind: 'invoice' | 'adjustment' | 'payment') =>
  [...sim.company(companyId).records.values()].filter((r) => r.kind === kind);

describe('Sage Intacct end to end', () => {
  it('iXpole → Intacct: every instalment once through lost answers, 429 storms and timed-out sessions; Intacct’s numbers written back', async () => {
    await t.entity('SI1', 'EUR', { standardTaxRate: '0.21' });
    const ix: IxpoleSimulator = await startIxpoleSimulator({ seed: 9, instalments: 30, customers: 6, products: 3 });
    closers.push(ix);
    sim.dropNext(3, (r) => r.companyId === 'E2E-IX' && r.function === 'create_invoice');
    sim.failNext(429, 429, 429, 429, 429);
    const pipeline = await definePipeline(t.db, 'SI1', {
      name: 'ix-to-intacct',
      source: {
        type: 'ixpole',
        baseUrl: ix.url,
        apiKey: ix.apiKey,
        backoffBaseMs: 5,
        backoffMaxMs: 20,
        maxAttempts: 4,
      },
      target: settings('E2E-IX'),
      options: { pageSize: 10 },
    });
    const logins = sim.stats.logins;
    // The session times out while the run is under way: the connector signs in again.
    sim.expireSessionsAfter(40);
    const run = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test'))!))!;
    expect(['succeeded', 'partial']).toContain(run.status);
    await drainTarget(t.db, sync, pipeline, 'Intacct');
    await sync.flushAll();

    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const invoices = recordsOf('E2E-IX', 'invoice');
    const codes = [...Array(ix.total).keys()].map((i) => ix.instalmentAt(i).InstalmentCode);
    for (const code of codes)
      expect(
        invoices.filter((r) => r.DOCNUMBER === code),
        code,
      ).toHaveLength(1);
    expect(invoices).toHaveLength(codes.length);
    expect(sim.duplicates('E2E-IX')).toEqual([]);
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(3);
    // The storm was answered 429 and weathered; more than two in flight would have been refused.
    expect(sim.stats.failed).toBe(5);
    expect(sim.stats.maxInFlight).toBeLessThanOrEqual(2);
    expect(sim.stats.rateRefused).toBe(0);
    expect(sim.stats.logins).toBeGreaterThanOrEqual(logins + 2);
    // Amounts as iXpole gave them: net and tax lines add up to the instalment's gross.
    for (let i = 0; i < 10; i++) {
      const inst = ix.instalmentAt(i);
      const r = invoices.find((x) => x.DOCNUMBER === inst.InstalmentCode)!;
      expect(r.total).toBe(BigInt(Math.round((Number(inst.NetAmount) + Number(inst.VatAmount)) * 100)));
    }

    // Written back: Intacct's own invoice number (RECORDID).
    expectNumbersWrittenBack(ix, {
      atLeast: codes.length,
      numberOf: (code) => invoices.find((x) => x.DOCNUMBER === code)?.RECORDID,
      format: /^INV-\d+$/,
    });

    // A second run books nothing again.
    await expectSecondRunWritesNothing(t.db, sync, pipeline, () => sim.stats.writes);
    expect(sim.violations).toEqual([]);
  }, 120_000);

  it('records → Intacct: payments applied to the invoices they name, overpayments and credit adjustments set against invoices, nothing lost or doubled', async () => {
    await t.entity('SI2', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'SI2', {
      name: 'records-to-intacct',
      source: { type: 'records' },
      target: settings('E2E-REC'),
    });
    const customers = e2eRecords().customers();
    const inv = e2eRecords().invoice;
    const pay = e2eRecords().payment;
    const records: CanonicalRecord[] = [
      ...customers,
      ...[...Array(12).keys()].map((i) => inv(i + 1, ['A', 'B', 'C'][i % 3]!)),
      // Paid in full, in part, one unassigned then set against an invoice, one paying more than owed.
      pay(1, 'A', '121.00', 'E2-I1'),
      pay(2, 'B', '50.00', 'E2-I2'),
      pay(3, 'C', '30.00', null),
      pay(4, 'C', '130.00', 'E2-I6'),
      {
        kind: 'allocation',
        sourceId: 'E2-A1',
        customerSourceId: 'E2-C',
        date: '2026-11-06',
        currency: 'EUR',
        amount: '30.00',
        invoiceExternalReference: 'E2-I3',
        from: 'payment',
        fromExternalReference: 'E2-P3',
      },
      {
        kind: 'creditNote',
        sourceId: 'E2-N1',
        externalReference: 'E2-N1',
        customerSourceId: 'E2-A',
        date: '2026-11-04',
        currency: 'EUR',
        description: 'Returned',
        invoiceExternalReference: 'E2-I4',
        lines: [{ description: 'Returned', netAmount: '20.00', vatRate: '0.21', vatAmount: '4.20' }],
      },
      {
        kind: 'allocation',
        sourceId: 'E2-A2',
        customerSourceId: 'E2-A',
        date: '2026-11-04',
        currency: 'EUR',
        amount: '24.20',
        invoiceExternalReference: 'E2-I4',
        from: 'creditNote',
        fromExternalReference: 'E2-N1',
      },
    ];
    sim.dropNext(2, (r) => r.companyId === 'E2E-REC' && (r.function === 'create' || r.function === 'create_arpayment'));
    sim.dropNext(1, (r) => r.companyId === 'E2E-REC' && r.function === 'apply_arpayment');
    sim.dropNext(1, (r) => r.companyId === 'E2E-REC' && r.function === 'create_aradjustment');
    sim.expireSessions();
    await sync.processRecords(
      pipeline,
      'import',
      'e2e',
      records.map((record) => ({ record })),
    );
    await drainTarget(t.db, sync, pipeline, 'Intacct');
    expect(await openExceptions(t.db, pipeline)).toEqual([]);

    const company = sim.company('E2E-REC');
    const one = (ref: string) => {
      const found = recordsOf('E2E-REC', 'invoice').filter((r) => r.DOCNUMBER === ref);
      expect(found, ref).toHaveLength(1);
      return found[0]!;
    };
    for (let n = 1; n <= 12; n++) expect(one(`E2-I${n}`).total).toBe(12100n);
    expect(['E2-I1', 'E2-I2', 'E2-I3', 'E2-I4', 'E2-I5', 'E2-I6'].map((r) => one(r).open)).toEqual([
      0n,
      7100n,
      9100n,
      9680n,
      12100n,
      0n,
    ]);
    const payment = (ref: string) => {
      const found = recordsOf('E2E-REC', 'payment').filter((p) => p.DOCNUMBER === ref);
      expect(found, ref).toHaveLength(1);
      return found[0]!;
    };
    const appliedBy = (ref: string) =>
      company.details.filter((d) => d.PAYMENTKEY === payment(ref).RECORDNO).map((d) => [d.RECORDKEY, d.amount]);
    expect(appliedBy('E2-P1')).toEqual([[one('E2-I1').RECORDNO, 12100n]]);
    expect(appliedBy('E2-P2')).toEqual([[one('E2-I2').RECORDNO, 5000n]]);
    expect(appliedBy('E2-P3')).toEqual([[one('E2-I3').RECORDNO, 3000n]]);
    // 130.00 against 121.00 owed: 9.00 stays on the payment as an overpayment.
    expect(appliedBy('E2-P4')).toEqual([[one('E2-I6').RECORDNO, 12100n]]);
    expect([payment('E2-P4').total, payment('E2-P4').open]).toEqual([13000n, 900n]);
    const notes = recordsOf('E2E-REC', 'adjustment').filter((r) => r.RECORDID === 'E2-N1');
    expect(notes.map((d) => [d.total, d.open])).toEqual([[-2420n, 0n]]);
    expect(
      company.details.filter((d) => d.PAYMENTKEY === notes[0]!.RECORDNO).map((d) => [d.RECORDKEY, d.amount]),
    ).toEqual([[one('E2-I4').RECORDNO, 2420n]]);
    // What the engine mapped is what Intacct holds, with Intacct's numbers.
    const { rows } = await t.db.query<{ source_id: string; target_id: string; target_number: string | null }>(
      `SELECT source_id, target_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' ORDER BY source_id`,
      [pipeline.id],
    );
    expect(rows).toHaveLength(12);
    for (const r of rows)
      expect({ id: r.target_id, number: r.target_number }).toEqual({
        id: one(r.source_id).RECORDNO,
        number: one(r.source_id).RECORDID,
      });
    expect(sim.duplicates('E2E-REC')).toEqual([]);
    expect(sim.violations).toEqual([]);

    // Sent again: nothing new.
    const writes = sim.stats.writes;
    await sync.processRecords(
      pipeline,
      'import',
      'e2e',
      records.map((record) => ({ record })),
    );
    await drainTarget(t.db, sync, pipeline, 'Intacct');
    expect(sim.stats.writes).toBe(writes);
  }, 120_000);

  it('parks what Intacct refuses with a stable reason and does not send it again; a wrong password parks TARGET_AUTH_REVOKED without a secret', async () => {
    await t.entity('SI3', 'EUR', { standardTaxRate: '0.21' });
    const pipeline = await definePipeline(t.db, 'SI3', {
      name: 'refused-intacct',
      source: { type: 'records' },
      target: settings('E2E-REF'),
    });
    sim.company('E2E-REF').closedThrough = '2000-12-31';
    const invoice = (ref: string, date: string, rate = '0.21'): CanonicalRecord => ({
      kind: 'invoice',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'R-C',
      invoiceDate: date,
      dueDate: date,
      currency: 'EUR',
      description: '',
      lines: [
        { description: 'Service', netAmount: '10.00', vatRate: rate, vatAmount: rate === '0.21' ? '2.10' : '0.60' },
      ],
    });
    await sync.processRecords(pipeline, 'import', 'e2e', [
      { record: { kind: 'customer', sourceId: 'R-C', name: 'Refused customer' } },
      { record: invoice('R-OK', '2026-11-02') },
      { record: invoice('R-CLOSED', '2000-06-01') },
      { record: invoice('R-RATE', '2026-11-02', '0.06') },
    ]);
    await drainTarget(t.db, sync, pipeline, 'Intacct');
    const parked = await openExceptions(t.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([
      ['R-CLOSED', 'TARGET_REFUSED'],
      ['R-RATE', 'MAPPING_NO_TAX_CODE_FOR_RATE'],
    ]);
    expect(parked[0]!.message).toMatch(/BL03000018.*within a period that's been closed/);
    const sent = () => sim.requests.filter((r) => r.function === 'create_invoice' && r.companyId === 'E2E-REF').length;
    const before = sent();
    await sync.flushAll();
    await sync.flushAll();
    expect(sent()).toBe(before);
    expect(await openExceptions(t.db, pipeline)).toEqual(parked);
    expect(recordsOf('E2E-REF', 'invoice').map((r) => r.DOCNUMBER)).toEqual(['R-OK']);

    // A user whose password is wrong: parked, saying what to check, no secret in the message.
    await t.entity('SI4', 'EUR', { standardTaxRate: '0.21' });
    const wrong = 'wrong-user-password-987654';
    const denied = await definePipeline(t.db, 'SI4', {
      name: 'denied-intacct',
      source: { type: 'records' },
      target: settings('E2E-REF', wrong),
    });
    const writes = sim.stats.writes;
    await sync.processRecords(denied, 'import', 'e2e', [
      { record: { kind: 'customer', sourceId: 'D-C', name: 'Denied customer' } },
    ]);
    await drainTarget(t.db, sync, denied, 'Intacct').catch(() => undefined);
    const refused = await openExceptions(t.db, denied);
    expect(refused.map((p) => p.reason_code)).toEqual(['TARGET_AUTH_REVOKED']);
    expect(refused[0]!.message).toMatch(/userPassword/);
    for (const secret of [wrong, SENDER.senderPassword]) expect(refused[0]!.message).not.toContain(secret);
    expect(sim.stats.writes).toBe(writes);
    expect(sim.violations).toEqual([]);
  }, 60_000);
});
