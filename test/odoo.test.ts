import { describe, expect, it } from 'vitest';
import {
  e2eRecords,
  expectAmountsAsGiven,
  expectInvoicesMapped,
  expectNumbersWrittenBack,
  expectSecondRunWritesNothing,
  heldOnce,
} from './helpers/platform-e2e.ts';
import { onScaledMinute, platformEngine } from './helpers/platform-engine.ts';
import { openExceptions } from './helpers/sync.ts';
import { odooTarget } from '../src/connectors/odoo/index.ts';
import { type OdooSimulator, startOdooSimulator } from '../src/connectors/odoo/simulator.ts';
import { createOdooTarget } from '../src/connectors/odoo/target.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import { listRunRecords } from '../src/sync/runs.ts';

/*
 * The Odoo target end to end, through the engine, against simulated Odoo servers (17 for iXpole;
 * 16, 17 and 18 for records), with 5% of write answers lost after committing and the database's
 * limit enforced on a scaled clock (a "minute" of one second): zero duplicates, zero missing
 * documents, Odoo's numbers written back to the source, payments and credit notes set against the
 * invoices they name; a 429 storm ridden out; a refused invoice parked once with TARGET_REFUSED;
 * an API key revoked or expired during the run parked with TARGET_AUTH_REVOKED; a server of
 * another version than the settings say refused with TARGET_SETTING_MISSING. Every call is
 * checked against the contract of the server's version.
 */

const MINUTE_MS = 1000;
const PER_MINUTE = 40;

const e2e = platformEngine({
  name: 'Odoo',
  // The planner on the simulators' scaled clock, with the margin production gives a minute.
  target: onScaledMinute(odooTarget, createOdooTarget, MINUTE_MS),
});

async function odoo(version: '16' | '17' | '18', seed: number, dropAfterCommitRate = 0.05) {
  const s = await startOdooSimulator({
    version,
    database: `e2e${version}`,
    company: {
      companyName: `E2E ${version} BV`,
      currency: 'EUR',
      taxes: { '21%': '21', '9%': '9', '6%': '6', '0%': '0' },
    },
    seed,
    dropAfterCommitRate,
    limits: { perMinute: PER_MINUTE, minuteMs: MINUTE_MS },
  });
  return e2e.closeLater(s);
}

function settings(s: OdooSimulator, apiKey = s.issueApiKey(), version = s.options.version) {
  return {
    type: 'odoo',
    url: s.url,
    database: s.database,
    login: s.login,
    apiKey,
    version,
    // A little below the server's count: a grant reaches the simulator a moment later on a busy machine.
    limits: { callsPerMinute: PER_MINUTE - 4 },
  };
}

const posted = (s: OdooSimulator, type: 'out_invoice' | 'out_refund', ref: string) =>
  [...s.db.moves.values()].filter((m) => m.move_type === type && m.ref === ref && m.state === 'posted');
const residual = (s: OdooSimulator, lineId: number) => s.db.lines.get(lineId)!.residual;

describe('Odoo end to end', () => {
  it('iXpole → Odoo 17: every instalment once through lost answers, paced under the limit, Odoo’s numbers written back', async () => {
    const s = await odoo('17', 11);
    // Beyond the random 5%: the engine must look these invoices up before sending them again.
    s.dropNext(4, (c) => c.model === 'account.move' && c.modelMethod === 'create');
    const { ix, pipeline, codes } = await e2e.ixpoleRun({
      entity: 'OD1',
      name: 'ix-to-odoo',
      target: settings(s),
      pageSize: 20,
    });
    for (const code of codes) expect(posted(s, 'out_invoice', code), code).toHaveLength(1);
    expect(s.duplicates()).toEqual([]);
    expect(s.stats.dropped).toBeGreaterThanOrEqual(4);
    expect(s.stats.rateRefused).toBe(0);

    expectNumbersWrittenBack(ix, {
      atLeast: codes.length,
      numberOf: (code) => posted(s, 'out_invoice', code)[0]?.name,
      format: /^INV\/\d{4}\/\d{5}$/,
    });
    expectAmountsAsGiven(ix, 10, (code) => posted(s, 'out_invoice', code)[0]!.lines);

    await expectSecondRunWritesNothing(e2e.db, e2e.sync, pipeline, () => s.stats.writes);
    expect(s.violations).toEqual([]);
  }, 120_000);

  for (const version of ['16', '17', '18'] as const)
    it(`records → Odoo ${version}: payments applied to the invoices they name, credit notes and unused payments set against invoices, a refund, nothing lost or doubled`, async () => {
      const s = await odoo(version, 20 + Number(version));
      const code = `OR${version}`;
      const pipeline = await e2e.recordsPipeline(code, `records-to-odoo-${version}`, settings(s));
      const records = recordsFor(code);
      s.dropNext(2, (c) => c.model === 'account.payment.register' && c.modelMethod === 'action_create_payments');
      s.dropNext(1, (c) => c.modelMethod === 'js_assign_outstanding_line');
      s.dropNext(1, (c) => c.model === 'account.payment' && c.modelMethod === 'create');
      const runId = await e2e.sync.processRecords(
        pipeline,
        'import',
        'e2e',
        records.map((record) => ({ record })),
      );
      // The unassigned payment's answer was lost, so its allocation came while the payment waited
      // to be found again: the allocation waited behind it, was never parked, and went once it was
      // (linked, when its own answer was among those lost).
      const a1 = (await listRunRecords(e2e.db, runId, 500, 0)).filter((r) => r.sourceId === `${code}-A1`);
      expect(a1.map((r) => r.outcome)).toEqual(['failed', expect.stringMatching(/^(created|skipped)$/)]);
      expect(a1[0]!.message).toMatch(/^waiting: The payment .* is on its way to the odoo target/);
      const { rows: everParked } = await e2e.db.query(`SELECT source_id FROM exceptions WHERE pipeline_id = $1`, [
        pipeline.id,
      ]);
      expect(everParked).toEqual([]);
      await e2e.drain(pipeline);
      expect(await openExceptions(e2e.db, pipeline)).toEqual([]);

      const one = (ref: string) => heldOnce(posted(s, 'out_invoice', ref), ref);
      for (let n = 1; n <= 12; n++) expect(one(`${code}-I${n}`).total).toBe(12100n);
      const due = (n: number) => residual(s, one(`${code}-I${n}`).receivable);
      expect([due(1), due(2), due(3), due(4), due(5)]).toEqual([0n, 7100n, 9100n, 9680n, 12100n]);
      const paymentOf = (ref: string) => [...s.db.payments.values()].filter((p) => p.ref === ref);
      const appliedTo = (lineId: number) =>
        s.db.partials
          .filter((p) => p.credit_move_id === lineId)
          .map((p) => [s.db.lines.get(p.debit_move_id)!.move_id, p.amount]);
      expect(paymentOf(`${code}-P1`).map((p) => appliedTo(p.receivable))).toEqual([[[one(`${code}-I1`).id, 12100n]]]);
      expect(paymentOf(`${code}-P2`).map((p) => appliedTo(p.receivable))).toEqual([[[one(`${code}-I2`).id, 5000n]]]);
      expect(paymentOf(`${code}-P3`).map((p) => appliedTo(p.receivable))).toEqual([[[one(`${code}-I3`).id, 3000n]]]);
      const notes = posted(s, 'out_refund', `${code}-N1`);
      expect(notes.map((m) => [m.total, residual(s, m.receivable), m.reversed_entry_id])).toEqual([
        [2420n, 0n, one(`${code}-I4`).id],
      ]);
      expect(appliedTo(notes[0]!.receivable)).toEqual([[one(`${code}-I4`).id, 2420n]]);
      // What the engine mapped is what Odoo holds, with Odoo's numbers.
      await expectInvoicesMapped(e2e.db, pipeline, 12, (ref) => ({ id: String(one(ref).id), number: one(ref).name }));
      // The refund: money sent back to the customer, an outbound payment under our reference,
      // reconciled with the payment it returns (its receivable debit against the payment's credit).
      const refund = [...s.db.payments.values()].filter((p) => p.ref === `${code}-R1`);
      expect(refund.map((p) => [p.payment_type, p.amount, p.state === 'draft'])).toEqual([['outbound', 4000n, false]]);
      const returned = paymentOf(`${code}-P4`)[0]!;
      expect(s.db.partials.filter((p) => p.debit_move_id === refund[0]!.receivable)).toMatchObject([
        { credit_move_id: returned.receivable, amount: 4000n },
      ]);
      expect([residual(s, refund[0]!.receivable), residual(s, returned.receivable)]).toEqual([0n, 0n]);
      const refundMap = await e2e.db.query<{ target_id: string }>(
        `SELECT target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'refund'`,
        [pipeline.id],
      );
      expect(refundMap.rows).toEqual([{ target_id: `payment:${refund[0]!.id}` }]);
      expect(s.duplicates()).toEqual([]);
      expect(s.stats.rateRefused).toBe(0);
      expect(s.violations).toEqual([]);

      await e2e.expectResendWritesNothing(pipeline, records, () => s.stats.writes);
    }, 120_000);

  it('a refund is reconciled with the payment it returns exactly once through a lost answer to the reconciliation; one that comes before its payment waits for it', async () => {
    const s = await odoo('18', 31, 0);
    const pipeline = await e2e.recordsPipeline('OD3', 'refunds', settings(s));
    const record = (sourceId: string) => recordsFor('OD3').find((r) => r.sourceId === sourceId)!;
    const refundOf = (n: number, amount: string, payment: string, customer: string) =>
      e2eRecords('OD3').refund(n, customer, amount, payment, PAID_TWICE);
    const send = (records: CanonicalRecord[]) => e2e.send(pipeline, records);
    // P3 (30.00 on account) booked; its refund's reconciliation committed, the answer lost.
    await send([record('OD3-C'), record('OD3-P3')]);
    s.dropNext(1, (c) => c.modelMethod === 'js_assign_outstanding_line');
    await send([refundOf(1, '30.00', 'OD3-P3', 'C')]);
    // P4 (40.00 on account) comes after its refund: the refund waits for it, parked, and runs
    // again by itself once P4 is booked (its exception then resolved), reconciled with it.
    const early = await send([record('OD3-B'), refundOf(2, '40.00', 'OD3-P4', 'B')]);
    const waited = (await listRunRecords(e2e.db, early, 50, 0)).filter((r) => r.sourceId === 'OD3-R2');
    expect(waited.map((r) => [r.outcome, r.message])).toEqual([
      ['parked', expect.stringMatching(/^ALLOCATION_DOCUMENT_NOT_SYNCED: The payment OD3-P4 it refunds is not booked/)],
    ]);
    expect(s.db.payments.size).toBe(2);
    await send([record('OD3-P4')]);
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);

    const one = (ref: string) =>
      heldOnce(
        [...s.db.payments.values()].filter((p) => p.ref === ref),
        ref,
      );
    for (const [r, p, amount] of [
      ['OD3-R1', 'OD3-P3', 3000n],
      ['OD3-R2', 'OD3-P4', 4000n],
    ] as const) {
      const [refund, payment] = [one(r), one(p)];
      expect(refund.payment_type).toBe('outbound');
      expect(s.db.partials.filter((x) => x.debit_move_id === refund.receivable)).toMatchObject([
        { credit_move_id: payment.receivable, amount },
      ]);
      expect([residual(s, refund.receivable), residual(s, payment.receivable)]).toEqual([0n, 0n]);
    }
    expect(s.stats.dropped).toBe(1);
    expect(s.duplicates()).toEqual([]);
    expect(s.violations).toEqual([]);
    const { rows } = await e2e.db.query<{ source_id: string; target_id: string }>(
      `SELECT source_id, target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'refund' ORDER BY source_id`,
      [pipeline.id],
    );
    expect(rows).toEqual([
      { source_id: 'OD3-R1', target_id: `payment:${one('OD3-R1').id}` },
      { source_id: 'OD3-R2', target_id: `payment:${one('OD3-R2').id}` },
    ]);
  }, 60_000);

  it('rides out a 429 storm, and parks an invoice Odoo refuses to post once, with TARGET_REFUSED, leaving no draft behind', async () => {
    const s = await odoo('17', 41, 0);
    const pipeline = await e2e.recordsPipeline('OD4', 'storm', settings(s));
    s.db.lockDate = '2000-12-31';
    // Four refusals in a row: the client waits them out (backing off, and pausing the database's budget for every worker).
    s.failNext(429, 429, 429, 429);
    const records = recordsFor('OD4').slice(0, 6);
    const old = {
      ...(records[5] as Extract<CanonicalRecord, { kind: 'invoice' }>),
      invoiceDate: '2000-12-01',
      dueDate: '2000-12-31',
    };
    await e2e.send(pipeline, [...records.slice(0, 5), old]);
    expect(s.stats.rateRefused).toBe(4);
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([['OD4-I3', 'TARGET_REFUSED']]);
    expect(parked[0]!.message).toMatch(
      /UserError: You cannot add\/modify entries prior to and inclusive of the lock date/,
    );
    for (const n of [1, 2]) expect(posted(s, 'out_invoice', `OD4-I${n}`)).toHaveLength(1);
    expect([...s.db.moves.values()].filter((m) => m.ref === 'OD4-I3')).toEqual([]);
    await e2e.expectFlushesSendNothing(pipeline, { parked, sent: () => s.stats.writes });
    expect(s.violations).toEqual([]);
  }, 60_000);

  it('an API key revoked or expired parks the documents with TARGET_AUTH_REVOKED, never showing the key; nothing is written', async () => {
    const s = await odoo('17', 51, 0);
    const key = s.issueApiKey();
    const pipeline = await e2e.recordsPipeline('OD5', 'revoked', settings(s, key));
    await e2e.send(pipeline, recordsFor('OD5').slice(0, 3));
    expect(await openExceptions(e2e.db, pipeline)).toEqual([]);
    // The key reaches the end of its duration during the next run.
    s.revokeApiKey(key);
    const writes = s.stats.writes;
    await e2e.send(pipeline, recordsFor('OD5').slice(3, 5), { mayStillWait: true });
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.length).toBeGreaterThan(0);
    for (const p of parked) {
      expect(p.reason_code).toBe('TARGET_AUTH_REVOKED');
      expect(p.message).toMatch(/API key/);
      expect(p.message).not.toContain(key);
    }
    expect(s.stats.writes).toBe(writes);
    expect(s.stats.denied).toBeGreaterThan(0);
  }, 60_000);

  it('a server of another version than the settings say is refused with TARGET_SETTING_MISSING, naming the version', async () => {
    const s = await odoo('18', 61, 0);
    const pipeline = await e2e.recordsPipeline('OD6', 'wrong-version', settings(s, s.issueApiKey(), '17'));
    await e2e.send(pipeline, recordsFor('OD6').slice(0, 2), { mayStillWait: true });
    const parked = await openExceptions(e2e.db, pipeline);
    expect(parked.map((p) => p.reason_code)).toContain('TARGET_SETTING_MISSING');
    expect(parked.find((p) => p.reason_code === 'TARGET_SETTING_MISSING')!.message).toMatch(
      /runs Odoo 18\.0.*version: 18/,
    );
    expect(s.stats.writes).toBe(0);
  }, 60_000);
});

/** The refunds of these scenarios: a day after the allocations, money paid twice sent back. */
const PAID_TWICE = { date: '2026-11-07', description: 'Paid twice' };

/** Three customers, twelve invoices, payments in full, in part and unassigned, a refund, a credit note and two allocations. */
function recordsFor(code: string): CanonicalRecord[] {
  const customers: CanonicalRecord[] = ['A', 'B', 'C'].map((c) => ({
    kind: 'customer',
    sourceId: `${code}-${c}`,
    name: `${code} customer ${c}`,
    email: `${c.toLowerCase()}@example.org`,
    country: 'BE',
  }));
  const { invoices, payment: pay, refund, creditNote, allocation } = e2eRecords(code);
  return [
    ...customers,
    ...invoices(12),
    pay(1, 'A', '121.00', `${code}-I1`),
    pay(2, 'B', '50.00', `${code}-I2`),
    pay(3, 'C', '30.00', null),
    pay(4, 'B', '40.00', null),
    refund(1, 'B', '40.00', `${code}-P4`, PAID_TWICE),
    allocation(1, 'C', '30.00', `${code}-I3`, 'payment', `${code}-P3`),
    creditNote(1, 'A', `${code}-I4`),
    allocation(2, 'A', '24.20', `${code}-I4`, 'creditNote', `${code}-N1`),
  ];
}
