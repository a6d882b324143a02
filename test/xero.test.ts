import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSecondRunWritesNothing } from './helpers/platform-e2e.ts';
import { createTestApp, type TestApp } from './helpers/app.ts';
import { definePipeline, drainTarget, openExceptions, syncService } from './helpers/sync.ts';
import { extractPdfText } from './helpers/pdf-text.ts';
import { xeroContract } from './helpers/xero.ts';
import { invoiceEvent, webhookClient, webhookEvent, type WebhookClient } from './helpers/webhooks.ts';
import { type IxpoleSimulator, startIxpoleSimulator } from '../src/connectors/ixpole/simulator.ts';
import { type XeroSimulator, type XeroSimulatorOptions, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { getRun } from '../src/sync/runs.ts';
import type { SyncService } from '../src/sync/service.ts';
import { processScope } from './helpers/scoped.ts';

/*
 * The Xero target end to end, through the engine, on PGlite (PostgreSQL with DATABASE_URL): the
 * simulated Xero with its identity server (the pipeline connected with a refresh token that
 * rotates on every refresh), its limits, answers dropped after committing, and every request body
 * checked against Xero's OpenAPI contract (../shared/specs; skipped with a message when absent).
 */

const scope = processScope();
const validate = xeroContract('test/xero.test.ts');

const APP = { clientId: 'ledgerlink-test-app', clientSecret: 'xero-client-secret-0123456789' };
const HOOK_SECRET = 'webhook-secret-0123456789abcdef';

let t: TestApp;
let sync: SyncService;
let hooks: WebhookClient;
const closers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await createTestApp();
  sync = syncService(t.db, { pdfs: true, engine: { retry: { baseSeconds: 0, maxAttempts: 10 } } });
  hooks = await webhookClient(t);
  scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, retryAfterMaxMs: 5000 } });
});
afterAll(async () => {
  await hooks.close();
  for (const c of closers) await c.close();
  await t.close();
});

async function xero(options: XeroSimulatorOptions = {}) {
  // The simulator's limits and the pipeline's must agree: the planner believes Xero's remaining-call headers.
  const sim = await startXeroSimulator({
    oauth: APP,
    validate,
    limits: { perMinute: 100_000, perDay: 100_000 },
    ...options,
  });
  closers.push(sim);
  const grant = sim.oauth!.issueGrant();
  const settings = (extra: Record<string, unknown> = {}) => ({
    type: 'xero',
    ...APP,
    refreshToken: grant.refreshToken,
    tenantId: sim.tenantId,
    baseUrl: sim.url,
    tokenUrl: sim.tokenUrl,
    accounts: { sales: '200', bank: '090' },
    // Xero's 60 a minute would make these tests take minutes; the limits test sets its own.
    limits: { callsPerMinute: 100_000, callsPerDay: 100_000 },
    ...extra,
  });
  return { sim, grant, settings };
}

/** Xero's invoices by our reference: each reference must be there exactly once. */
function expectEachOnce(sim: XeroSimulator, references: string[]) {
  const refs = [...sim.tenant().documents.values()].filter((d) => d.Type === 'ACCREC').map((d) => d.Reference);
  const missing = references.filter((r) => !refs.includes(r));
  const twice = references.filter((r) => refs.filter((x) => x === r).length > 1);
  expect({ missing, twice }).toEqual({ missing: [], twice: [] });
  expect(sim.duplicates()).toEqual([]);
}

/** An invoice event of one 10.00 item with its VAT, for the customer c1 named `customer`. */
function itemEvent(id: string, ref: string, customer: string, vatAmount: string, vatRate: string) {
  const c1 = { sourceId: 'c1', name: customer };
  return invoiceEvent(id, ref, { customer: c1, description: 'Item', vatAmount, vatRate, data: { sourceId: ref } });
}

/** 21% of an amount in cents, rounded half up, as decimal text. */
function vatOf(cents: number): string {
  const v = Math.floor((cents * 21 + 50) / 100);
  return `${Math.floor(v / 100)}.${String(v % 100).padStart(2, '0')}`;
}

function expectContract(sim: XeroSimulator) {
  expect(sim.stats.specViolations).toEqual([]);
}

describe('the Xero target, end to end', () => {
  it('iXpole → Xero: every instalment once through dropped answers, Xero’s numbers and PDFs written back', async () => {
    await t.entity('XE1', 'EUR', { standardTaxRate: '0.21' });
    const { sim, settings } = await xero({ seed: 7, dropAfterCommitRate: 0.05 });
    const ix: IxpoleSimulator = await startIxpoleSimulator({ seed: 9, instalments: 120, customers: 15, products: 4 });
    closers.push(ix);
    // Beyond the client's own retries: the engine must look these invoices up before sending them again.
    sim.control.dropNext(6, 'PUT /Invoices');
    const pipeline = await definePipeline(t.db, 'XE1', {
      name: 'ix-to-xero',
      source: {
        type: 'ixpole',
        baseUrl: ix.url,
        apiKey: ix.apiKey,
        backoffBaseMs: 5,
        backoffMaxMs: 20,
        maxAttempts: 4,
      },
      target: settings(),
      options: { pageSize: 60 },
    });
    const run = (await getRun(t.db, (await sync.trigger(pipeline, 'manual', 'test'))!))!;
    expect(['succeeded', 'partial']).toContain(run.status);
    await drainTarget(t.db, sync, pipeline, 'Xero');
    await sync.flushAll();

    expect(await openExceptions(t.db, pipeline)).toEqual([]);
    const codes = [...Array(ix.total).keys()].map((i) => ix.instalmentAt(i).InstalmentCode);
    expectEachOnce(sim, codes);
    expect(sim.stats.dropped).toBeGreaterThanOrEqual(6);
    // Batched: a handful of PUT /Invoices for 120 invoices, never one each.
    expect(sim.stats.batches['PUT /Invoices']!.length).toBeLessThan(12);
    expect(Math.max(...sim.stats.batches['PUT /Invoices']!)).toBeLessThanOrEqual(50);

    // Written back: Xero's own number, and Xero's PDF of that invoice.
    const byRef = new Map([...sim.tenant().documents.values()].map((d) => [d.Reference, d]));
    let pdfs = 0;
    for (const w of ix.writes)
      if (w.method === 'PUT')
        for (const u of w.body as { InstalmentCode: string; InvoiceNumber?: string; Pdf?: string }[]) {
          if (u.InvoiceNumber === undefined) continue;
          expect(u.InvoiceNumber).toBe(byRef.get(u.InstalmentCode)!.Number);
          if (u.Pdf) {
            pdfs++;
            expect(extractPdfText(Buffer.from(u.Pdf, 'base64')).text).toContain(`Invoice ${u.InvoiceNumber}`);
          }
        }
    expect(pdfs).toBeGreaterThanOrEqual(codes.length);
    // Amounts exactly as iXpole gave them.
    for (let i = 0; i < 10; i++) {
      const inst = ix.instalmentAt(i);
      const d = byRef.get(inst.InstalmentCode)!;
      expect(d.SubTotal.toFixed(2)).toBe(inst.NetAmount);
      expect(d.TotalTax.toFixed(2)).toBe(inst.VatAmount);
    }
    expectContract(sim);

    // A second run books nothing again.
    await expectSecondRunWritesNothing(t.db, sync, pipeline, () => sim.stats.writes);
  }, 60_000);

  it('webhook → Xero under enforced limits: paced below them, never over the concurrency, payments applied and their fees spent, nothing lost or doubled', async () => {
    await t.entity('XE2', 'EUR', { standardTaxRate: '0.21' });
    // A minute of one second, 8 calls in it and 2 at once: the planner must pace (the target keeps one call below).
    const { sim, settings } = await xero({
      seed: 21,
      dropAfterCommitRate: 0.05,
      latencyMs: 20,
      limits: { perMinute: 8, perDay: 100_000, concurrent: 2, minuteMs: 1000 },
    });
    scope.xeroRuntime({
      client: { backoffBaseMs: 5, backoffMaxMs: 40, retryAfterMaxMs: 5000 },
      planner: { windowsMs: { minute: 1000 }, pollMs: 10 },
    });
    try {
      const pipeline = await definePipeline(t.db, 'XE2', {
        name: 'shop-to-xero',
        source: { type: 'webhook' },
        webhookSecret: HOOK_SECRET,
        enabled: false,
        target: settings({ limits: { callsPerMinute: 7, callsPerDay: 100_000, concurrent: 2, batchSize: 10 } }),
      });
      const refs = [...Array(30).keys()].map((i) => `SO-${1000 + i}`);
      let seq = 0;
      const send = async (event: object) => {
        expect((await hooks.deliver('shop-to-xero', event, HOOK_SECRET)).status).toBeLessThan(300);
      };
      for (const [i, ref] of refs.entries()) {
        const cust = `cust-${i % 6}`;
        await send(
          invoiceEvent(`evt-${++seq}`, ref, {
            customer: { sourceId: cust, name: `Shop customer ${i % 6}`, email: `${cust}@example.org` },
            description: 'Compressor',
            net: `${100 + i}.10`,
            vatAmount: vatOf(10_010 + i * 100),
            data: { dueDate: '2026-12-21' },
          }),
        );
      }
      for (const [i, ref] of refs.slice(0, 8).entries())
        await send(
          webhookEvent(`evt-${++seq}`, 'payment.received', {
            sourceId: `pay-${i}`,
            externalReference: `PAY-${i}`,
            customerSourceId: `cust-${i % 6}`,
            date: '2026-11-25',
            amount: '50.00',
            currency: 'EUR',
            invoiceExternalReference: ref,
            // The payment provider kept a fee on most of them (none on the last two).
            ...(i < 6 ? { fee: `1.${40 + i}` } : {}),
          }),
        );
      // Answers lost after committing: the first fee write's and the first payment write's, besides 5% at random.
      sim.control.dropNext(1, 'PUT /BankTransactions');
      sim.control.dropNext(1, 'PUT /Payments');
      await t.db.query(`UPDATE pipelines SET enabled = true WHERE id = $1`, [pipeline.id]);
      const started = Date.now();
      const run = (await getRun(t.db, (await sync.trigger({ ...pipeline, enabled: true }, 'manual', 'test'))!))!;
      expect(['succeeded', 'partial']).toContain(run.status);
      await drainTarget(t.db, sync, pipeline, 'Xero');

      expect(await openExceptions(t.db, pipeline)).toEqual([]);
      expectEachOnce(sim, refs);
      const payments = [...sim.tenant().payments.values()];
      expect(payments.map((p) => p.Reference).sort()).toEqual([...Array(8).keys()].map((i) => `PAY-${i}`).sort());
      // Each fee once, as spend money out of the payment's bank to Bank Fees; the payments keep their gross.
      expect(payments.every((p) => p.Amount.toFixed(2) === '50.00')).toBe(true);
      const spends = [...sim.tenant().spends.values()].map((x) => [x.Reference, x.Total.toFixed(2), x.AccountCode]);
      expect(spends.sort()).toEqual([...Array(6).keys()].map((i) => [`PAY-${i}`, `1.${40 + i}`, '090']));
      expect(sim.stats.dropped).toBeGreaterThanOrEqual(2);
      // The limits held: never more than 2 in flight.
      expect(sim.maxConcurrency()).toBeLessThanOrEqual(2);
      expect(sim.maxConcurrency()).toBeGreaterThanOrEqual(1);
      // Concurrency is exact; the minute is paced from grant times while Xero counts arrivals, so a
      // delayed call can still meet a 429 now and then: it is waited out and retried, never a failure
      // (no exception above, every document once).
      expect(sim.stats.rateLimitedBy.concurrent).toBe(0);
      expect(sim.stats.rateLimitedBy.day).toBe(0);
      // And they were what set the pace: more calls than one window allows took more than one window.
      expect(sim.stats.calls).toBeGreaterThan(8);
      expect(Date.now() - started).toBeGreaterThanOrEqual(Math.floor(sim.stats.calls / 7 - 1) * 1000);
      // Batches of the configured size.
      expect(Math.max(...sim.stats.batches['PUT /Invoices']!)).toBeLessThanOrEqual(10);
      expectContract(sim);
    } finally {
      scope.xeroRuntime({ client: { backoffBaseMs: 5, backoffMaxMs: 40, retryAfterMaxMs: 5000 } });
    }
  }, 60_000);

  it('draft mode leaves drafts; a VAT rate Xero has no tax rate for parks TARGET_SETTING_MISSING, alone', async () => {
    await t.entity('XE3', 'EUR', { standardTaxRate: '0.21' });
    const { sim, settings } = await xero({ seed: 3 });
    const pipeline = await definePipeline(t.db, 'XE3', {
      name: 'drafts-to-xero',
      source: { type: 'webhook' },
      webhookSecret: HOOK_SECRET,
      target: settings({ mode: 'draft' }),
    });
    let seq = 0;
    for (const [ref, rate, vat] of [
      ['D-1', '0.21', '2.10'],
      ['D-2', '0.06', '0.60'],
      ['D-3', '0.09', '0.90'],
    ] as const)
      await hooks.deliver('drafts-to-xero', itemEvent(`d-${++seq}`, ref, 'Draft customer', vat, rate), HOOK_SECRET);
    await drainTarget(t.db, sync, pipeline, 'Xero');
    const docs = [...sim.tenant().documents.values()];
    expect(docs.map((d) => [d.Reference, d.Status]).sort()).toEqual([
      ['D-1', 'DRAFT'],
      ['D-3', 'DRAFT'],
    ]);
    const parked = await openExceptions(t.db, pipeline);
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ source_id: 'D-2', reason_code: 'TARGET_SETTING_MISSING' });
    expect(parked[0]!.message).toContain('taxRates');
    expectContract(sim);
  }, 60_000);

  it('a revoked grant parks the documents with TARGET_AUTH_REVOKED, saying how to reconnect; nothing is written', async () => {
    await t.entity('XE4', 'EUR', { standardTaxRate: '0.21' });
    const { sim, grant, settings } = await xero({ seed: 4 });
    const pipeline = await definePipeline(t.db, 'XE4', {
      name: 'revoked-xero',
      source: { type: 'webhook' },
      webhookSecret: HOOK_SECRET,
      target: settings(),
    });
    // The user disconnects the app in Xero: the refresh token and every access token stop working.
    sim.oauth!.revoke(grant);
    await hooks.deliver('revoked-xero', itemEvent('r-1', 'R-1', 'Revoked customer', '2.10', '0.21'), HOOK_SECRET);
    await drainTarget(t.db, sync, pipeline, 'Xero');
    const parked = await openExceptions(t.db, pipeline);
    // The customer is refused for the revoked connection; its invoice then waits for its customer.
    const revoked = parked.filter((p) => p.reason_code === 'TARGET_AUTH_REVOKED');
    expect(revoked.length).toBeGreaterThanOrEqual(1);
    expect(parked.every((p) => ['TARGET_AUTH_REVOKED', 'CUSTOMER_NOT_SYNCED'].includes(p.reason_code))).toBe(true);
    for (const p of revoked) {
      expect(p.message).toContain('oauth/start');
      expect(p.message).not.toContain(APP.clientSecret);
      expect(p.message).not.toContain(grant.refreshToken);
    }
    expect(sim.tenant().documents.size).toBe(0);
    expect(sim.tenant().contacts.size).toBe(0);
  }, 60_000);
});
