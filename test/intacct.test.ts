import { describe, expect, it } from 'vitest';
import {
  expectInvoicesMapped,
  expectNumbersWrittenBack,
  expectSecondRunWritesNothing,
  e2eRecords,
  heldOnce,
} from './helpers/platform-e2e.ts';
import { platformEngine } from './helpers/platform-engine.ts';
import { openExceptions } from './helpers/sync.ts';
import { intacctTarget } from '../src/connectors/intacct/index.ts';
import { type IntacctSimulator, startIntacctSimulator } from '../src/connectors/intacct/simulator.ts';
import { createIntacctTarget } from '../src/connectors/intacct/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';

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

let sim: IntacctSimulator;

const e2e = platformEngine({
  name: 'Intacct',
  start: async (e) => {
    sim = e.closeLater(
      await startIntacctSimulator({
        ...SENDER,
        users: COMPANIES.map((companyId) => ({ companyId, userId: 'xml_user', password: PASSWORD })),
        companies: Object.fromEntries(COMPANIES.map((c) => [c, BOOKS])),
        seed: 17,
        dropAfterCommitRate: 0.05,
        latencyMs: 5,
        limits: { concurrent: 2 },
      }),
    );
  },
  target: () => ({
    ...intacctTarget,
    create: (deps) => Promise.resolve(createIntacctTarget(deps, { client: { backoffBaseMs: 5, backoffMaxMs: 40 } })),
  }),
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
    sim.dropNext(3, (r) => r.companyId === 'E2E-IX' && r.function === 'create_invoice');
    sim.failNext(429, 429, 429, 429, 429);
    const logins = sim.stats.logins;
    // The session times out while the run is under way: the connector signs in again.
    sim.expireSessionsAfter(40);
    const { ix, pipeline, codes } = await e2e.ixpoleRun({
      entity: 'SI1',
      name: 'ix-to-intacct',
      target: settings('E2E-IX'),
      pageSize: 10,
      ix: { instalments: 30, customers: 6 },
    });
    const invoices = recordsOf('E2E-IX', 'invoice');
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
    await expectSecondRunWritesNothing(e2e.db, e2e.sync, pipeline, () => sim.stats.writes);
    expect(sim.violations).toEqual([]);
  }, 120_000);

  it('records → Intacct: payments applied to the invoices they name, overpayments and credit adjustments set against invoices, nothing lost or doubled', async () => {
    const pipeline = await e2e.recordsPipeline('SI2', 'records-to-intacct', settings('E2E-REC'));
    const { customers, invoices, payment: pay, creditNote, allocation } = e2eRecords();
    const records: CanonicalRecord[] = [
      ...customers(),
      ...invoices(12),
      // Paid in full, in part, one unassigned then set against an invoice, one paying more than owed.
      pay(1, 'A', '121.00', 'E2-I1'),
      pay(2, 'B', '50.00', 'E2-I2'),
      pay(3, 'C', '30.00', null),
      pay(4, 'C', '130.00', 'E2-I6'),
      allocation(1, 'C', '30.00', 'E2-I3', 'payment', 'E2-P3'),
      creditNote(1, 'A', 'E2-I4'),
      allocation(2, 'A', '24.20', 'E2-I4', 'creditNote', 'E2-N1'),
    ];
    sim.dropNext(2, (r) => r.companyId === 'E2E-REC' && (r.function === 'create' || r.function === 'create_arpayment'));
    sim.dropNext(1, (r) => r.companyId === 'E2E-REC' && r.function === 'apply_arpayment');
    sim.dropNext(1, (r) => r.companyId === 'E2E-REC' && r.function === 'create_aradjustment');
    sim.expireSessions();
    await e2e.send(pipeline, records);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);

    const company = sim.company('E2E-REC');
    const one = (ref: string) =>
      heldOnce(
        recordsOf('E2E-REC', 'invoice').filter((r) => r.DOCNUMBER === ref),
        ref,
      );
    for (let n = 1; n <= 12; n++) expect(one(`E2-I${n}`).total).toBe(12100n);
    expect(['E2-I1', 'E2-I2', 'E2-I3', 'E2-I4', 'E2-I5', 'E2-I6'].map((r) => one(r).open)).toEqual([
      0n,
      7100n,
      9100n,
      9680n,
      12100n,
      0n,
    ]);
    const payment = (ref: string) =>
      heldOnce(
        recordsOf('E2E-REC', 'payment').filter((p) => p.DOCNUMBER === ref),
        ref,
      );
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
    await expectInvoicesMapped(e2e.db, pipeline, 12, (ref) => ({ id: one(ref).RECORDNO, number: one(ref).RECORDID }));
    expect(sim.duplicates('E2E-REC')).toEqual([]);
    expect(sim.violations).toEqual([]);

    // Sent again: nothing new.
    await e2e.expectResendWritesNothing(pipeline, records, () => sim.stats.writes);
  }, 120_000);

  it('parks what Intacct refuses with a stable reason and does not send it again; a wrong password parks TARGET_AUTH_REVOKED without a secret', async () => {
    const pipeline = await e2e.recordsPipeline('SI3', 'refused-intacct', settings('E2E-REF'));
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
    await e2e.send(pipeline, [
      { kind: 'customer', sourceId: 'R-C', name: 'Refused customer' },
      invoice('R-OK', '2026-11-02'),
      invoice('R-CLOSED', '2000-06-01'),
      invoice('R-RATE', '2026-11-02', '0.06'),
    ]);
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([
      ['R-CLOSED', 'TARGET_REFUSED'],
      ['R-RATE', 'MAPPING_NO_TAX_CODE_FOR_RATE'],
    ]);
    expect(parked[0]!.message).toMatch(/BL03000018.*within a period that's been closed/);
    const sent = () => sim.requests.filter((r) => r.function === 'create_invoice' && r.companyId === 'E2E-REF').length;
    await e2e.expectFlushesSendNothing(pipeline, { parked, sent, flushes: 2 });
    expect(recordsOf('E2E-REF', 'invoice').map((r) => r.DOCNUMBER)).toEqual(['R-OK']);

    // A user whose password is wrong: parked, saying what to check, no secret in the message.
    const wrong = 'wrong-user-password-987654';
    const denied = await e2e.recordsPipeline('SI4', 'denied-intacct', settings('E2E-REF', wrong));
    await e2e.expectRevokedParked(denied, {
      writes: () => sim.stats.writes,
      message: /userPassword/,
      secrets: [wrong, SENDER.senderPassword],
      customer: { kind: 'customer', sourceId: 'D-C', name: 'Denied customer' },
    });
    expect(sim.violations).toEqual([]);
  }, 60_000);
});
