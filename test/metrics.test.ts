import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { definePipeline, openExceptions, silentLog } from './helpers/sync.ts';
import { invoiceEvent, webhookClient, type WebhookClient } from './helpers/webhooks.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { createRatePlanner, rateWaits } from '../src/sync/remote/rate-planner.ts';
import { appConfigFromEnv } from '../src/api/services.ts';
import { AppMetrics } from '../src/api/metrics.ts';
import type { Queryable } from '../src/db/database.ts';

/*
 * GET /metrics: off unless a token is set, the Prometheus text format, the ledger's figures read
 * from the database at scrape time, request latency by route template, and no secret in it.
 */

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const SECRET = 'metrics-webhook-secret-0123456789';
let t: TestApp;
let c: Client;
let hooks: WebhookClient;
let shop: Pipeline;

beforeAll(async () => {
  t = await createTestApp({ metricsToken: METRICS_TOKEN });
  c = await t.entity('METRICS', 'EUR', { standardTaxRate: '0.21' });
  hooks = await webhookClient(t);
  shop = await definePipeline(t.db, 'METRICS', { name: 'shop', source: { type: 'webhook' }, webhookSecret: SECRET });
});
afterAll(async () => {
  // The tally is the process's: what this file put in goes, for the files after it in this worker.
  rateWaits.delete('testplatform');
  rateWaits.delete('metricsplatform');
  await hooks.close();
  await t.close();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format strictly: every line a comment, a sample, or empty. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][\w:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][\w:]* .*$/.test(line)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (-?(?:[\d.]+(?:e[+-]?\d+)?|nan|\+?inf))(?: \d+)?$/i.exec(line);
    if (!m) throw new Error(`not in the Prometheus text format: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)",?/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: /nan/i.test(m[3]!) ? NaN : Number(m[3]) });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function scrape() {
  const res = await t.request('GET', '/metrics', undefined, { authorization: `Bearer ${METRICS_TOKEN}` });
  expect(res.status).toBe(200);
  expect(String(res.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = Buffer.from(res.body as Buffer).toString('utf8');
  return { text, ...parseExposition(text) };
}

async function send(event: unknown) {
  expect((await hooks.deliver('shop', event, SECRET)).status).toBe(202);
}

describe('GET /metrics', () => {
  it('takes LEDGERLINK_METRICS_TOKEN from the environment: unset or empty is off, a short one stops the start', () => {
    expect(appConfigFromEnv({}).metricsToken).toBeNull();
    expect(appConfigFromEnv({ LEDGERLINK_METRICS_TOKEN: '' }).metricsToken).toBeNull();
    expect(appConfigFromEnv({ LEDGERLINK_METRICS_TOKEN: METRICS_TOKEN }).metricsToken).toBe(METRICS_TOKEN);
    for (const bad of ['short', 'sixteen chars here'])
      expect(() => appConfigFromEnv({ LEDGERLINK_METRICS_TOKEN: bad })).toThrow(/LEDGERLINK_METRICS_TOKEN/);
  });

  it('is off without a token (404 METRICS_DISABLED) and refuses a wrong or missing bearer token', async () => {
    const off = await createTestApp();
    try {
      const r = await off.request('GET', '/metrics', undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect([r.status, r.body.error.code]).toEqual([404, 'METRICS_DISABLED']);
    } finally {
      await off.close();
    }
    const none = await t.request('GET', '/metrics');
    expect([none.status, none.body.error.code]).toEqual([401, 'UNAUTHORIZED']);
    const admin = await t.request('GET', '/metrics', undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(admin.status).toBe(401);
  });

  it('answers the text format with process metrics, and its figures match the database after a sync with a parked exception', async () => {
    await send(invoiceEvent('evt-1', 'GOOD-1', { net: '10.00' }));
    await send(invoiceEvent('evt-2', 'HUGE', { net: '100000000000000000000' }));
    await send(invoiceEvent('evt-3', 'GOOD-2', { net: '20.00' }));
    expect((await openExceptions(t.db, shop)).map((e) => e.reason_code)).toEqual(['AMOUNT_OUT_OF_RANGE']);
    rateWaits.set('testplatform', { count: 3, seconds: 1.5 });

    const { samples, types, text } = await scrape();
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(types.get('ledgerlink_http_request_duration_seconds')).toBe('histogram');
    expect(value(samples, 'ledgerlink_database_up', {})).toBe(1);

    const { rows: runs } = await t.db.query<{ status: string; n: string }>(
      `SELECT status, count(*) AS n FROM runs WHERE entity_id = $1 GROUP BY 1`,
      [c.entityId],
    );
    expect(runs.length).toBeGreaterThan(0);
    for (const r of runs)
      expect(value(samples, 'ledgerlink_runs', { entity: 'METRICS', status: r.status })).toBe(Number(r.n));
    expect(value(samples, 'ledgerlink_runs', { entity: 'METRICS', status: 'running' })).toBe(0);

    const { rows: posted } = await t.db.query<{ kind: string; n: string }>(
      `SELECT kind, count(*) AS n FROM sync_map WHERE pipeline_id = $1 GROUP BY 1`,
      [shop.id],
    );
    expect(posted.find((p) => p.kind === 'invoice')?.n).toBe('2');
    for (const p of posted)
      expect(value(samples, 'ledgerlink_documents_posted', { entity: 'METRICS', kind: p.kind })).toBe(Number(p.n));

    expect(value(samples, 'ledgerlink_exceptions_open', { entity: 'METRICS', reason: 'AMOUNT_OUT_OF_RANGE' })).toBe(1);
    expect(samples.some((s) => s.name === 'ledgerlink_documents_held')).toBe(false);
    expect(samples.some((s) => s.name === 'ledgerlink_payments_awaiting_invoice')).toBe(false);
    expect(samples.some((s) => s.name === 'ledgerlink_refunds_awaiting_payment')).toBe(false);
    expect(samples.some((s) => s.name === 'ledgerlink_payments_before_invoice')).toBe(false);
    for (const direction of ['source', 'target']) {
      expect(value(samples, 'ledgerlink_outbox_pending', { direction })).toBe(0);
      expect(value(samples, 'ledgerlink_outbox_oldest_age_seconds', { direction })).toBe(0);
    }
    expect(value(samples, 'ledgerlink_rate_planner_waits_total', { system: 'testplatform' })).toBe(3);
    expect(value(samples, 'ledgerlink_rate_planner_wait_seconds_total', { system: 'testplatform' })).toBe(1.5);

    // No secret of any kind: tokens, the webhook secret, the entity's bearer token.
    for (const secret of [METRICS_TOKEN, ADMIN_TOKEN, SECRET, c.token]) expect(text).not.toContain(secret);
  });

  it('counts a pending outbox item and its age by direction, a held document, and resolves the exception away', async () => {
    await t.db.query(
      `INSERT INTO held_records (pipeline_id, kind, source_id, waits_for_kind, waits_for, reason_code, message, payload)
       VALUES ($1, 'payment', 'metrics-held', 'invoice', 'metrics-inv', 'ALLOCATION_DOCUMENT_NOT_SYNCED', 'waits', '{}')`,
      [shop.id],
    );
    await t.db.query(
      `INSERT INTO outbox (pipeline_id, kind, source_id, payload, direction, idempotency_key, created_at)
       VALUES ($1, 'invoice', 'metrics-wb', '{}', 'source', 'source:invoice:metrics-wb', now() - interval '90 seconds')`,
      [shop.id],
    );
    await t.db.query(`UPDATE exceptions SET status = 'resolved', resolved_at = now() WHERE pipeline_id = $1`, [
      shop.id,
    ]);
    const { samples } = await scrape();
    expect(value(samples, 'ledgerlink_outbox_pending', { direction: 'source' })).toBe(1);
    expect(value(samples, 'ledgerlink_outbox_oldest_age_seconds', { direction: 'source' })).toBeGreaterThanOrEqual(90);
    expect(value(samples, 'ledgerlink_outbox_pending', { direction: 'target' })).toBe(0);
    expect(value(samples, 'ledgerlink_documents_held', { entity: 'METRICS', kind: 'payment' })).toBe(1);
    expect(samples.some((s) => s.name === 'ledgerlink_exceptions_open')).toBe(false);
  });

  it('counts the receipts waiting for the invoice they name, until it is booked', async () => {
    await send({
      id: 'evt-early-pay',
      type: 'payment.received',
      created: Math.floor(Date.now() / 1000),
      data: {
        sourceId: 'pay-early',
        externalReference: 'PAY-EARLY',
        customerSourceId: 'cust-1',
        date: '2026-11-22',
        amount: '12.10',
        currency: 'EUR',
        invoiceExternalReference: 'LATE-1',
      },
    });
    expect(value((await scrape()).samples, 'ledgerlink_payments_awaiting_invoice', { entity: 'METRICS' })).toBe(1);
    await send(invoiceEvent('evt-late-inv', 'LATE-1', { net: '10.00' }));
    const { samples } = await scrape();
    expect(samples.some((s) => s.name === 'ledgerlink_payments_awaiting_invoice')).toBe(false);

    // One a person allocates by hand meanwhile (to another invoice) waits for nothing any more.
    await send({
      id: 'evt-early-pay-2',
      type: 'payment.received',
      created: Math.floor(Date.now() / 1000),
      data: {
        sourceId: 'pay-early-2',
        externalReference: 'PAY-EARLY-2',
        customerSourceId: 'cust-1',
        date: '2026-11-22',
        amount: '12.10',
        currency: 'EUR',
        invoiceExternalReference: 'NEVER-1',
      },
    });
    await send(invoiceEvent('evt-other-inv', 'OTHER-1', { net: '5.00' }));
    expect(value((await scrape()).samples, 'ledgerlink_payments_awaiting_invoice', { entity: 'METRICS' })).toBe(1);
    const { rows } = await t.db.query<{ id: string; type: string }>(
      `SELECT id, type FROM transactions WHERE entity_id = $1 AND external_reference IN ('PAY-EARLY-2', 'OTHER-1')`,
      [c.entityId],
    );
    const id = (type: string) => Number(rows.find((r) => r.type === type)!.id);
    const part = { transactionId1: id('SI'), transactionId2: id('SR'), date: '2026-11-22', reference: 'BY-HAND' };
    // Part of it: still money waiting for NEVER-1.
    expect((await c.post('/v1/allocations', { ...part, amount: '5.00' })).status).toBe(201);
    expect(value((await scrape()).samples, 'ledgerlink_payments_awaiting_invoice', { entity: 'METRICS' })).toBe(1);
    // The rest against another invoice: nothing left to wait with.
    await send(invoiceEvent('evt-other-inv-2', 'OTHER-2', { net: '10.00' }));
    const { rows: other } = await t.db.query<{ id: string }>(
      `SELECT id FROM transactions WHERE entity_id = $1 AND external_reference = 'OTHER-2'`,
      [c.entityId],
    );
    expect(
      (await c.post('/v1/allocations', { ...part, transactionId1: Number(other[0]!.id), amount: '7.10' })).status,
    ).toBe(201);
    expect((await scrape()).samples.some((s) => s.name === 'ledgerlink_payments_awaiting_invoice')).toBe(false);
  });

  it('counts the refunds waiting for the payment they refund, until it is booked', async () => {
    const created = Math.floor(Date.now() / 1000);
    await send({
      id: 'evt-early-refund',
      type: 'refund.created',
      created,
      data: {
        sourceId: 'ref-early',
        externalReference: 'RF-EARLY',
        customerSourceId: 'cust-1',
        date: '2026-11-23',
        amount: '5.00',
        currency: 'EUR',
        paymentExternalReference: 'PAY-LATE',
      },
    });
    expect(value((await scrape()).samples, 'ledgerlink_refunds_awaiting_payment', { entity: 'METRICS' })).toBe(1);
    await send({
      id: 'evt-late-pay',
      type: 'payment.received',
      created,
      data: {
        sourceId: 'pay-late',
        externalReference: 'PAY-LATE',
        customerSourceId: 'cust-1',
        date: '2026-11-22',
        amount: '12.10',
        currency: 'EUR',
      },
    });
    const { samples } = await scrape();
    expect(samples.some((s) => s.name === 'ledgerlink_refunds_awaiting_payment')).toBe(false);
  });

  it('counts the payments a remote target holds unapplied before their invoice, by pipeline, until applied', async () => {
    // As the engine notes them (src/sync/engine/early-payments.ts; the QuickBooks tests book them for real).
    await t.db.query(
      `INSERT INTO payments_before_invoice (pipeline_id, payment_source_id, payment_target_id, payment_reference, customer_target_id, invoice_reference)
       VALUES ($1, 'pay-a', '41', 'PAY-A', '7', 'SO-A'), ($1, 'pay-b', '42', 'PAY-B', '7', 'SO-B')`,
      [shop.id],
    );
    const labels = { entity: 'METRICS', pipeline: 'shop' };
    expect(value((await scrape()).samples, 'ledgerlink_payments_before_invoice', labels)).toBe(2);
    await t.db.query(`DELETE FROM payments_before_invoice WHERE pipeline_id = $1`, [shop.id]);
    const { samples } = await scrape();
    expect(samples.some((s) => s.name === 'ledgerlink_payments_before_invoice')).toBe(false);
  });

  it("counts the rate planner's waits by platform", async () => {
    const slept: number[] = [];
    const planner = createRatePlanner(t.db, {
      sleep: async (ms) => {
        slept.push(ms);
        await new Promise((r) => setTimeout(r, ms));
      },
      // Long enough that the second call surely lands in the first's window on a loaded machine
      // (at 200 ms a slow database round trip between the two once let it through without a wait).
      windowsMs: { second: 1000 },
      marginMs: () => 0,
    });
    const scope = { key: 'metricsplatform:tenant-1', limits: { callsPerSecond: 1 } };
    await (await planner.acquire([scope], 'read')).release();
    await (await planner.acquire([scope], 'read')).release();
    expect(slept.length).toBeGreaterThan(0);
    const { samples } = await scrape();
    expect(value(samples, 'ledgerlink_rate_planner_waits_total', { system: 'metricsplatform' })).toBe(slept.length);
    const seconds = value(samples, 'ledgerlink_rate_planner_wait_seconds_total', { system: 'metricsplatform' })!;
    expect(seconds).toBeCloseTo(slept.reduce((a, b) => a + b, 0) / 1000, 6);
    expect(samples.some((s) => s.labels.system === 'metricsplatform:tenant-1')).toBe(false);
  });

  it('records each request in the histogram by route template, never by raw URL', async () => {
    await t.request('GET', `/v1/runs/${'0'.repeat(8)}-0000-0000-0000-000000000000`, undefined, {
      authorization: `Bearer ${c.token}`,
    });
    await t.request('GET', '/no/such/path/secret-looking-123');
    // A URL that does not parse is answered before routing, and counted all the same.
    expect((await t.request('GET', '/v1/customers/%zz')).status).toBe(400);
    const { samples } = await scrape();
    const count = (labels: Record<string, string>) =>
      value(samples, 'ledgerlink_http_request_duration_seconds_count', labels);
    expect(count({ method: 'GET', route: '/v1/runs/:runId', status: '404' })).toBe(1);
    expect(count({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(count({ method: 'GET', route: 'unmatched', status: '400' })).toBe(1);
    expect(count({ method: 'GET', route: '/metrics', status: '200' })).toBeGreaterThanOrEqual(2);
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes('secret-looking')))).toBe(false);
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes('0000-0000')))).toBe(false);
  });

  it("a scrape that cannot read the database says so and exports none of the last scrape's figures, until it can again", async () => {
    const metrics = new AppMetrics();
    const dbFigures = (text: string) =>
      parseExposition(text).samples.filter(
        (x) => /^ledgerlink_/.test(x.name) && !/^ledgerlink_(database_up|http_|rate_planner_)/.test(x.name),
      );
    const before = parseExposition(await metrics.scrape(t.db, silentLog)).samples;
    expect(value(before, 'ledgerlink_database_up', {})).toBe(1);
    expect(value(before, 'ledgerlink_outbox_pending', { direction: 'source' })).toBeDefined();
    // As PostgreSQL answers a database that takes no connections (ALTER DATABASE … ALLOW_CONNECTIONS false).
    const down = {
      query: () =>
        Promise.reject(
          Object.assign(new Error('database "ledgerlink" is not currently accepting connections'), { code: '55000' }),
        ),
    } as unknown as Queryable;
    const during = await metrics.scrape(down, silentLog);
    expect(value(parseExposition(during).samples, 'ledgerlink_database_up', {})).toBe(0);
    // Before, the last scrape's runs, outbox depth and age stayed, frozen, beside database_up 0.
    expect(dbFigures(during)).toEqual([]);
    const after = parseExposition(await metrics.scrape(t.db, silentLog)).samples;
    expect(value(after, 'ledgerlink_database_up', {})).toBe(1);
    expect(value(after, 'ledgerlink_outbox_pending', { direction: 'source' })).toBeDefined();
  });
});
