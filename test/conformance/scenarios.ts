import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CanonicalAllocation,
  CanonicalCreditNote,
  CanonicalCustomer,
  CanonicalInvoice,
  CanonicalPayment,
  CanonicalRecord,
} from '../../src/sync/canonical.ts';
import { createTarget } from '../../src/sync/engine/run.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import { listRunRecords } from '../../src/sync/runs.ts';
import type { SyncService } from '../../src/sync/service.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { definePipeline, drainTarget, openExceptions, silentLog, syncService, testBox } from '../helpers/sync.ts';
import type { Feature, HeldDocument, Platform, ScenarioEnv, TargetHarness } from './harness.ts';

/*
 * The conformance suite: the same scenarios, through the real engine, against every target
 * (issue #13). Each scenario gets an entity of its own and a pipeline from the `records` source
 * (the engine path CSV imports and exception retries take; the only source that carries every
 * kind of document, credit notes and allocations included) to the harness's platform, and checks
 * what the platform then holds, read back from the platform itself. Simulators that can lose an
 * answer after committing lose 10% of them at random besides, in every scenario. A scenario
 * needing a feature the harness declares unsupported is skipped with its reason in the test's
 * name; a separate test checks that each such declaration is true of the target, so nothing is
 * skipped to hide a failure.
 */

interface World {
  t: TestApp;
  sync: SyncService;
}

interface Run {
  env: ScenarioEnv;
  platform: Platform;
  pipeline: Pipeline;
  /** Runs the engine over these records, then sends whatever still waits for the target; the run's id. */
  send(records: CanonicalRecord[]): Promise<string>;
  /** What the engine recorded: source id → the platform's id and number. */
  mapped(kind: string, sourceId: string): Promise<{ targetId: string; number: string | null } | null>;
  openExceptions(): Promise<{ source_id: string; reason_code: string; message: string }[]>;
  /** What a worker's timer does: sends whatever is due for the target. */
  flush(): Promise<void>;
  /** Whether the platform keeps what each invoice still owes (else `due` is not checked: amountsDue is declared unsupported). */
  dues: boolean;
}

interface Scenario {
  name: string;
  needs: Feature[];
  run(r: Run, tag: string): Promise<void>;
}

// Documents of one scenario, their references prefixed with its tag (short: QuickBooks keeps 21 characters).
const customer = (tag: string): CanonicalCustomer => ({
  kind: 'customer',
  sourceId: `${tag}-C`,
  name: `Conformance ${tag}`,
  email: `${tag.toLowerCase()}@example.org`,
});

function invoice(tag: string, n: number, net = '100.00', vat = '21.00'): CanonicalInvoice {
  return {
    kind: 'invoice',
    sourceId: `${tag}-I${n}`,
    externalReference: `${tag}-I${n}`,
    customerSourceId: `${tag}-C`,
    invoiceDate: '2026-11-02',
    dueDate: '2026-12-02',
    currency: 'EUR',
    description: 'Conformance',
    lines: [{ description: 'Service', netAmount: net, vatRate: '0.21', vatAmount: vat }],
  };
}

function payment(tag: string, n: number, invoiceRef: string, amount: string): CanonicalPayment {
  return {
    kind: 'payment',
    sourceId: `${tag}-P${n}`,
    externalReference: `${tag}-P${n}`,
    customerSourceId: `${tag}-C`,
    date: '2026-11-05',
    amount,
    currency: 'EUR',
    invoiceExternalReference: invoiceRef,
    description: '',
  };
}

function creditNote(tag: string, invoiceRef: string): CanonicalCreditNote {
  return {
    kind: 'creditNote',
    sourceId: `${tag}-N1`,
    externalReference: `${tag}-N1`,
    customerSourceId: `${tag}-C`,
    date: '2026-11-04',
    currency: 'EUR',
    description: 'Returned',
    invoiceExternalReference: invoiceRef,
    lines: [{ description: 'Returned', netAmount: '20.00', vatRate: '0.21', vatAmount: '4.20' }],
  };
}

function creditAllocation(tag: string, invoiceRef: string, noteRef: string, amount: string): CanonicalAllocation {
  return {
    kind: 'allocation',
    sourceId: `${tag}-A1`,
    customerSourceId: `${tag}-C`,
    date: '2026-11-04',
    currency: 'EUR',
    amount,
    invoiceExternalReference: invoiceRef,
    from: 'creditNote',
    fromExternalReference: noteRef,
  };
}

/** The one document the platform holds under a reference; fails when it holds none or several. */
function one<T extends { reference: string }>(docs: T[], reference: string): T {
  const found = docs.filter((d) => d.reference === reference);
  expect(
    found.map((d) => d.reference),
    `documents held under ${reference}`,
  ).toEqual([reference]);
  return found[0]!;
}

/** The invoice is held once, under our reference, as the engine mapped it: the platform's id and number. */
async function expectBooked(r: Run, held: HeldDocument[], kind: string, reference: string): Promise<HeldDocument> {
  const doc = one(held, reference);
  const map = await r.mapped(kind, reference);
  expect(map, `${kind} ${reference} mapped`).not.toBeNull();
  expect({ id: doc.id, number: doc.number }).toEqual({ id: map!.targetId, number: map!.number });
  expect(doc.number).not.toBe('');
  return doc;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'books a new customer and its invoice once, under our reference, and keeps the platform’s number',
    needs: [],
    async run(r, tag) {
      await r.send([customer(tag), invoice(tag, 1)]);
      const held = await r.platform.holdings();
      const cust = await r.mapped('customer', `${tag}-C`);
      expect(held.customers.filter((c) => c.id === cust?.targetId).map((c) => c.name)).toEqual([`Conformance ${tag}`]);
      expect(held.customers.filter((c) => c.name === `Conformance ${tag}`)).toHaveLength(1);
      const inv = await expectBooked(r, held.invoices, 'invoice', `${tag}-I1`);
      expect(inv).toMatchObject({ customerId: cust!.targetId, gross: '121.00' });
      if (r.dues) expect(inv.due).toBe('121.00');
      expect(await r.openExceptions()).toEqual([]);
    },
  },
  {
    name: 'books nothing new when the same batch is sent again',
    needs: [],
    async run(r, tag) {
      const batch = [
        customer(tag),
        invoice(tag, 1),
        invoice(tag, 2, '50.00', '10.50'),
        payment(tag, 1, `${tag}-I1`, '121.00'),
      ];
      await r.send(batch);
      const before = await r.platform.holdings();
      expect(before.invoices.filter((i) => i.reference.startsWith(`${tag}-`))).toHaveLength(2);
      const again = await r.send(batch);
      expect(await r.platform.holdings()).toEqual(before);
      const records = await listRunRecords(r.env.t.db, again, 100, 0);
      expect(records.filter((x) => x.outcome === 'created')).toEqual([]);
      expect(await r.openExceptions()).toEqual([]);
    },
  },
  {
    name: 'applies a payment to the invoice it names, and to no other',
    needs: [],
    async run(r, tag) {
      await r.send([customer(tag), invoice(tag, 1), invoice(tag, 2), payment(tag, 1, `${tag}-I2`, '50.00')]);
      const held = await r.platform.holdings();
      const [first, second] = [one(held.invoices, `${tag}-I1`), one(held.invoices, `${tag}-I2`)];
      const pay = one(held.payments, `${tag}-P1`);
      expect((await r.mapped('payment', `${tag}-P1`))?.targetId).toBe(pay.id);
      expect(pay).toMatchObject({ amount: '50.00', customerId: second.customerId });
      expect(pay.appliedTo).toEqual([{ invoiceId: second.id, amount: '50.00' }]);
      if (r.dues) expect([first.due, second.due]).toEqual(['121.00', '71.00']);
      expect(await r.openExceptions()).toEqual([]);
    },
  },
  {
    name: 'books a credit note once and sets it against the invoice it credits',
    needs: ['creditNotes'],
    async run(r, tag) {
      await r.send([
        customer(tag),
        invoice(tag, 1),
        creditNote(tag, `${tag}-I1`),
        creditAllocation(tag, `${tag}-I1`, `${tag}-N1`, '24.20'),
      ]);
      const held = await r.platform.holdings();
      const inv = one(held.invoices, `${tag}-I1`);
      const note = await expectBooked(r, held.creditNotes, 'creditNote', `${tag}-N1`);
      expect(note).toMatchObject({ gross: '24.20', customerId: inv.customerId });
      expect(one(held.creditNotes, `${tag}-N1`).appliedTo).toEqual([{ invoiceId: inv.id, amount: '24.20' }]);
      if (r.dues) expect([inv.due, note.due]).toEqual(['96.80', '0.00']);
      expect(await r.openExceptions()).toEqual([]);
    },
  },
  {
    name: 'looks up an invoice whose answer was lost after the platform committed it, and does not send it again',
    needs: ['droppedAnswers'],
    async run(r, tag) {
      await r.send([customer(tag)]);
      const dropped = r.platform.dropped!();
      r.platform.dropNextInvoiceAnswer!();
      const runId = await r.send([invoice(tag, 1)]);
      expect(r.platform.dropped!()).toBeGreaterThan(dropped);
      const held = await r.platform.holdings();
      await expectBooked(r, held.invoices, 'invoice', `${tag}-I1`);
      const records = await listRunRecords(r.env.t.db, runId, 100, 0);
      expect(records.filter((x) => x.kind === 'invoice')).toMatchObject([
        { sourceId: `${tag}-I1`, outcome: 'skipped', message: expect.stringMatching(/after an uncertain answer/) },
      ]);
      expect(await r.openExceptions()).toEqual([]);
    },
  },
  {
    name: 'parks an invoice the platform refuses with a stable reason, alone, and does not send it again',
    needs: [],
    async run(r, tag) {
      await r.send([customer(tag)]);
      const refusal = await r.platform.refuse(invoice(tag, 2));
      await r.send([invoice(tag, 1), refusal.invoice]);
      const held = await r.platform.holdings();
      const booked = await expectBooked(r, held.invoices, 'invoice', `${tag}-I1`);
      // Nothing of it for our customer (a platform may hold a document of that number of someone else's).
      expect(held.invoices.filter((i) => i.reference === `${tag}-I2` && i.customerId === booked.customerId)).toEqual(
        [],
      );
      const parked = await r.openExceptions();
      expect(parked.map((p) => [p.source_id, p.reason_code])).toEqual([[`${tag}-I2`, refusal.code]]);
      expect(parked[0]!.message).toMatch(refusal.says);
      // Refused is final: nothing of it waits in the outbox, and the timer's flushes leave it parked as it was.
      const pending = async () =>
        (
          await r.env.t.db.query(
            `SELECT 1 FROM outbox WHERE pipeline_id = $1 AND direction = 'target' AND status = 'pending'`,
            [r.pipeline.id],
          )
        ).rows.length;
      expect(await pending()).toBe(0);
      await r.flush();
      expect(await pending()).toBe(0);
      expect(await r.mapped('invoice', `${tag}-I2`)).toBeNull();
      expect(await r.openExceptions()).toEqual(parked);
    },
  },
];

let entities = 0;

async function start(w: World, harness: TargetHarness): Promise<Run> {
  const code = `CF${++entities}`;
  const entity = await w.t.entity(code, 'EUR', { standardTaxRate: '0.21' });
  const env = { t: w.t, entity };
  const platform = await harness.open(env);
  const pipeline = await definePipeline(w.t.db, code, {
    name: 'conformance',
    source: { type: 'records' },
    target: platform.target,
    ...platform.pipeline,
  });
  return {
    env,
    platform,
    pipeline,
    async send(records) {
      const runId = await w.sync.processRecords(
        pipeline,
        'import',
        'conformance',
        records.map((record) => ({ record })),
      );
      await drainTarget(w.t.db, w.sync, pipeline, 'the target');
      return runId;
    },
    async mapped(kind, sourceId) {
      const { rows } = await w.t.db.query<{ target_id: string; target_number: string | null }>(
        `SELECT target_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = $2 AND source_id = $3`,
        [pipeline.id, kind, sourceId],
      );
      return rows[0] ? { targetId: rows[0].target_id, number: rows[0].target_number } : null;
    },
    flush: () => w.sync.flushAll().then(() => undefined),
    dues: harness.unsupported.amountsDue === undefined,
    openExceptions: () => openExceptions(w.t.db, pipeline),
  };
}

/** Whether the target itself lacks what the harness says it cannot be held to. */
async function gapIsReal(w: World, harness: TargetHarness, feature: Feature): Promise<boolean> {
  const r = await start(w, harness);
  const target = await createTarget({ db: w.t.db, log: silentLog, box: testBox }, r.pipeline);
  if (feature === 'creditNotes') return !target.capabilities.creditNotes;
  // An answer can only be lost by a target that has one: a transactional write commits with the engine's own.
  if (feature === 'droppedAnswers') return target.transactional;
  // A platform that keeps no balances holds none.
  await r.send([customer('GAP'), invoice('GAP', 1)]);
  const held = await r.platform.holdings();
  return held.invoices.length > 0 && held.invoices.every((i) => i.due === null);
}

/** Registers the suite for one target: every scenario, each skipped only for a gap the target really has. */
export function conformance(harness: TargetHarness): void {
  const w = {} as World;
  beforeAll(async () => {
    w.t = await createTestApp();
    // Retries without waiting, so that the test drives them instead of the clock.
    w.sync = syncService(w.t.db, { engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  });
  afterAll(async () => {
    await harness.close();
    await w.t?.close();
  });

  describe(`conformance: ${harness.type}`, () => {
    for (const [n, s] of SCENARIOS.entries()) {
      const gap = s.needs.find((f) => harness.unsupported[f] !== undefined);
      if (gap) {
        it.skip(`${s.name} — skipped: ${harness.unsupported[gap]}`, () => undefined);
        continue;
      }
      it(s.name, async () => {
        const r = await start(w, harness);
        await s.run(r, `S${n + 1}`);
        expect(r.platform.violations()).toEqual([]);
      });
    }
    const gaps = Object.keys(harness.unsupported) as Feature[];
    if (gaps.length > 0)
      it(`declares only gaps the target has (${gaps.join(', ')})`, async () => {
        for (const f of gaps)
          expect({ feature: f, real: await gapIsReal(w, harness, f) }).toEqual({ feature: f, real: true });
      });
  });
}
