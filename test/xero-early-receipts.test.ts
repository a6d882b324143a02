import { afterAll, beforeAll, expect, it } from 'vitest';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { migrate } from '../src/db/migrate.ts';
import type { CanonicalRecord } from '../src/sync/canonical.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import type { SyncService } from '../src/sync/service.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { processScope } from './helpers/scoped.ts';
import { definePipeline, drainTarget, openExceptions, syncService } from './helpers/sync.ts';
import { XERO_APP, xeroTarget } from './helpers/xero.ts';

/*
 * Receipts that reach Xero before their invoice, through the engine: booked as overpayments, noted
 * (src/sync/engine/early-payments.ts) and allocated once the invoice is booked. Migration 0107: one
 * booked before the upgrade (its note missing) becomes a note from what its outbox entry says it
 * named; one that named no invoice does not. A refund of such a receipt waits until it is
 * allocated (its credit note takes the invoice's lines).
 */

const APP = XERO_APP;
const scope = processScope();
scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, maxAttempts: 1 } });

let t: TestApp;
let sim: XeroSimulator;
let sync: SyncService;
let pipeline: Pipeline;

beforeAll(async () => {
  t = await createTestApp();
  await t.entity('XMIG', 'EUR', { standardTaxRate: '0.21' });
  sim = await startXeroSimulator({ oauth: APP, seed: 7, limits: { perMinute: 100_000, perDay: 100_000 } });
  sync = syncService(t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  pipeline = await definePipeline(t.db, 'XMIG', {
    name: 'records-to-xero',
    source: { type: 'records' },
    target: xeroTarget(sim),
  });
}, 60_000);
afterAll(async () => {
  await sim?.close();
  await t?.close();
});

async function send(records: CanonicalRecord[]) {
  await sync.processRecords(
    pipeline,
    'import',
    'test',
    records.map((record) => ({ record })),
  );
  await drainTarget(t.db, sync, pipeline, 'Xero');
}

const payment = (ref: string, invoiceRef: string | null): CanonicalRecord => ({
  kind: 'payment',
  sourceId: ref,
  externalReference: ref,
  customerSourceId: 'C1',
  date: '2026-11-05',
  amount: '40.00',
  currency: 'EUR',
  invoiceExternalReference: invoiceRef,
  description: '',
});

/** An invoice of 121.00 (100.00 + 21% VAT) to C1, dated before the receipts. */
const lateInvoice = (ref: string): CanonicalRecord => ({
  kind: 'invoice',
  sourceId: ref,
  externalReference: ref,
  customerSourceId: 'C1',
  invoiceDate: '2026-11-02',
  dueDate: '2026-12-02',
  currency: 'EUR',
  description: 'Late invoice',
  lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
});

it('notes the overpayments booked before it that name an invoice, which are then allocated to it', async () => {
  await send([
    { kind: 'customer', sourceId: 'C1', name: 'Migrating Customer', email: 'c1@example.org' },
    payment('PAY-OLD', 'INV-OLD'),
    payment('PAY-NONE', null),
  ]);
  // As a version before 0107 left it: booked as an overpayment, no note.
  await t.db.query(`DELETE FROM payments_before_invoice WHERE pipeline_id = $1`, [pipeline.id]);
  await t.db.query(`DELETE FROM ledgerlink_migrations WHERE id = 107`);
  expect(await migrate(t.db)).toEqual(['0107_xero_overpayments_noted']);
  const { rows } = await t.db.query<Record<string, string>>(
    `SELECT n.payment_source_id, n.payment_target_id, n.payment_reference, n.customer_target_id, n.invoice_reference,
            m.target_id AS mapped, c.target_id AS customer
       FROM payments_before_invoice n
       JOIN sync_map m ON m.pipeline_id = n.pipeline_id AND m.kind = 'payment' AND m.source_id = n.payment_source_id
       JOIN sync_map c ON c.pipeline_id = n.pipeline_id AND c.kind = 'customer' AND c.source_id = 'C1'
      WHERE n.pipeline_id = $1`,
    [pipeline.id],
  );
  expect(rows).toHaveLength(1);
  const note = rows[0]!;
  expect(note).toMatchObject({
    payment_source_id: 'PAY-OLD',
    payment_reference: 'PAY-OLD',
    invoice_reference: 'INV-OLD',
  });
  expect([note.payment_target_id, note.customer_target_id]).toEqual([note.mapped, note.customer]);
  expect(note.payment_target_id).toMatch(/^OP:/);

  await send([lateInvoice('INV-OLD')]);
  const overpayment = sim.tenant().overpayments.get(note.payment_target_id!.slice('OP:'.length))!;
  expect(overpayment.Allocated.toFixed(2)).toBe('40.00');
  const invoice = [...sim.tenant().documents.values()].find((d) => d.Reference === 'INV-OLD')!;
  expect(sim.tenant().due(invoice).toFixed(2)).toBe('81.00');
  expect(
    (await t.db.query(`SELECT 1 FROM payments_before_invoice WHERE pipeline_id = $1`, [pipeline.id])).rows,
  ).toEqual([]);
  expect(await openExceptions(t.db, pipeline)).toEqual([]);
});

it('holds a refund of an early receipt until the receipt is allocated to its invoice, then books it at the invoice’s rates', async () => {
  await send([
    payment('PAY-EARLY', 'INV-EARLY'),
    {
      kind: 'refund',
      sourceId: 'RF-EARLY',
      externalReference: 'RF-EARLY',
      customerSourceId: 'C1',
      date: '2026-11-07',
      amount: '12.10',
      currency: 'EUR',
      paymentExternalReference: 'PAY-EARLY',
      description: 'Refunded in part',
    },
  ]);
  // Waiting, not refused: Xero takes a refund's lines from the invoice the receipt paid.
  const parked = await openExceptions(t.db, pipeline);
  expect(parked.map((x) => [x.source_id, x.reason_code])).toEqual([['RF-EARLY', 'ALLOCATION_DOCUMENT_NOT_SYNCED']]);
  expect(parked[0]!.message).toMatch(/before invoice INV-EARLY and is not applied to it yet/);
  await send([lateInvoice('INV-EARLY')]);
  expect(await openExceptions(t.db, pipeline)).toEqual([]);
  const note = [...sim.tenant().documents.values()].filter(
    (d) => d.Type === 'ACCRECCREDIT' && d.Reference === 'RF-EARLY',
  );
  expect(note.map((d) => d.Total.toFixed(2))).toEqual(['12.10']);
  const invoice = [...sim.tenant().documents.values()].find((d) => d.Reference === 'INV-EARLY')!;
  expect(sim.tenant().due(invoice).toFixed(2)).toBe('81.00');
});
