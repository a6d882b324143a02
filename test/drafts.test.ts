import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { checkInvariants, invoice, postInvoice, seedCustomer } from './helpers/ledger.ts';
import { definePipeline, syncService } from './helpers/sync.ts';
import { extractPdfText } from './helpers/pdf-text.ts';
import { ConnectorError, type SourceItem, type WriteBackItem } from '../src/sync/connector.ts';
import { createSource } from '../src/sync/registry.ts';
import type { Pipeline } from '../src/sync/pipelines.ts';
import { getRun } from '../src/sync/runs.ts';
import { createTarget, syncContext } from '../src/sync/engine/run.ts';
import { flushWriteBack } from '../src/sync/engine/writeback.ts';
import { findEntityByCode } from '../src/ledger/entities.ts';
import '../src/connectors/all.ts';

let t: TestApp;
let c: Client;
let other: Client;
beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('DRAFTS', 'EUR', { standardTaxRate: '0.21' });
  other = await t.entity('DRAFTSOTHER', 'EUR');
  await seedCustomer(t.db, c.entityId, 'C1', { creditDays: 14 });
  await seedCustomer(t.db, c.entityId, 'TIGHT', { creditLimit: 10000n });
});
afterAll(async () => t.close());

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(sql, params as string[]);
  return Number(rows[0]!.n);
}
const invoicesWithReference = (ref: string) =>
  count(`SELECT count(*) AS n FROM transactions WHERE entity_id = $1 AND type = 'SI' AND external_reference = $2`, [
    c.entityId,
    ref,
  ]);

describe('draft invoices through the API', () => {
  it('creates numbered drafts that post nothing, and refuses a draft that could not be posted', async () => {
    const before = await count(`SELECT count(*) AS n FROM transactions WHERE entity_id = $1`, [c.entityId]);
    const a = await c.post('/v1/sales/draft-invoices', invoice('C1', '100.00', { externalReference: 'DR-A' }));
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({
      number: 1,
      status: 'draft',
      customerCode: 'C1',
      netAmount: '100.00',
      taxAmount: '21.00',
      grossAmount: '121.00',
      dueDate: '2026-11-15',
      transactionId: null,
    });
    expect(await count(`SELECT count(*) AS n FROM transactions WHERE entity_id = $1`, [c.entityId])).toBe(before);

    const refusals: [Record<string, unknown>, number, string][] = [
      [invoice('NOBODY', '1.00'), 422, 'CUSTOMER_CODE_DOES_NOT_EXIST'],
      [
        invoice('C1', '1.00', { lines: [{ glAccountCode: '4000', taxCode: 'NOPE', netAmount: '1.00' }] }),
        422,
        'TAX_CODE_DOES_NOT_EXIST',
      ],
      [
        invoice('C1', '1.00', { lines: [{ glAccountCode: 'NOGL', taxCode: 'STD', netAmount: '1.00' }] }),
        422,
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
      ],
      [invoice('C1', '1.001'), 400, 'AMOUNT_HAS_TOO_MANY_DECIMALS'],
      [invoice('C1', '0'), 422, 'DOCUMENT_TOTAL_MUST_BE_POSITIVE'],
      [invoice('C1', '1.00', { dueDate: '2026-10-01' }), 422, 'DUE_DATE_BEFORE_TRANSACTION_DATE'],
      [invoice('C1', '1.00', { externalReference: 'DR-A' }), 409, 'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS'], // an open draft has it
    ];
    await postInvoice(c, 'C1', '1.00', { externalReference: 'POSTED-REF' });
    refusals.push([
      invoice('C1', '1.00', { externalReference: 'POSTED-REF' }),
      409,
      'INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS',
    ]);
    for (const [body, status, code] of refusals) {
      const r = await c.post('/v1/sales/draft-invoices', body);
      expect([r.status, r.body.error?.code]).toEqual([status, code]);
    }
    // with the duplicate check off, as for a batch invoice
    const unchecked = await c.post(
      '/v1/sales/draft-invoices',
      invoice('C1', '1.00', { externalReference: 'DR-A', performExternalReferenceDuplicateCheck: false }),
    );
    expect(unchecked.status).toBe(201);
    // refused drafts took no number
    expect(unchecked.body.number).toBe(2);
    expect((await c.post(`/v1/sales/draft-invoices/${unchecked.body.draftId}/cancel`, undefined)).status).toBe(200);
  });

  it('changes an open draft, posts it exactly like a batch invoice, and answers the same invoice when posted again', async () => {
    const d = await c.post('/v1/sales/draft-invoices', invoice('C1', '10.00', { externalReference: 'DR-POST' }));
    const id = d.body.draftId;
    const changed = await c.put(
      `/v1/sales/draft-invoices/${id}`,
      invoice('C1', '50.00', { externalReference: 'DR-POST', description: 'Changed' }),
    );
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      number: d.body.number,
      grossAmount: '60.50',
      invoice: { description: 'Changed' },
    });

    const posted = await c.post(`/v1/sales/draft-invoices/${id}/post`, undefined);
    expect(posted.status).toBe(201);
    expect(posted.body).toMatchObject({
      draftId: id,
      draftNumber: d.body.number,
      netAmount: '50.00',
      taxAmount: '10.50',
      grossAmount: '60.50',
      dueDate: '2026-11-15',
    });
    const tx = await c.get(`/v1/transactions/${posted.body.transactionId}`);
    expect(tx.body).toMatchObject({
      type: 'SI',
      number: posted.body.number,
      externalReference: 'DR-POST',
      description: 'Changed',
      gross: '60.50',
      dueDate: '2026-11-15',
    });

    const again = await c.post(`/v1/sales/draft-invoices/${id}/post`, undefined);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(posted.body);
    expect(await invoicesWithReference('DR-POST')).toBe(1);

    const read = await c.get(`/v1/sales/draft-invoices/${id}`);
    expect(read.body).toMatchObject({
      status: 'posted',
      transactionId: posted.body.transactionId,
      transactionNumber: posted.body.number,
    });
    expect(read.body.postedAt).toEqual(expect.any(String));
    // a posted draft is final, in the API and in the database
    const put = await c.put(`/v1/sales/draft-invoices/${id}`, invoice('C1', '1.00'));
    expect([put.status, put.body.error.code]).toEqual([409, 'DRAFT_IS_POSTED']);
    const cancel = await c.post(`/v1/sales/draft-invoices/${id}/cancel`, undefined);
    expect([cancel.status, cancel.body.error.code]).toEqual([409, 'DRAFT_IS_POSTED']);
    await expect(
      t.db.query(`UPDATE draft_invoices SET status = 'draft', transaction_id = NULL WHERE id = $1`, [id]),
    ).rejects.toThrow(/can no longer change/);
    await expect(t.db.query(`DELETE FROM draft_invoices WHERE id = $1`, [id])).rejects.toThrow(/cannot be deleted/);
    await checkInvariants(t.db, c.entityId);
  });

  it('posts a draft once when two posts race', async () => {
    const d = await c.post('/v1/sales/draft-invoices', invoice('C1', '5.00', { externalReference: 'DR-RACE' }));
    const [a, b] = await Promise.all([
      c.post(`/v1/sales/draft-invoices/${d.body.draftId}/post`, undefined),
      c.post(`/v1/sales/draft-invoices/${d.body.draftId}/post`, undefined),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.transactionId).toBe(b.body.transactionId);
    expect(await invoicesWithReference('DR-RACE')).toBe(1);
  });

  it('keeps a draft open when posting fails, and a cancelled draft cannot be posted', async () => {
    const d = await c.post(
      '/v1/sales/draft-invoices',
      invoice('TIGHT', '200.00', { externalReference: 'DR-LIMIT', enforceCreditLimit: true }),
    );
    expect(d.status).toBe(201);
    const refused = await c.post(`/v1/sales/draft-invoices/${d.body.draftId}/post`, undefined);
    expect([refused.status, refused.body.error.code]).toEqual([422, 'CUSTOMER_CREDIT_LIMIT_EXCEEDED']);
    expect((await c.get(`/v1/sales/draft-invoices/${d.body.draftId}`)).body).toMatchObject({
      status: 'draft',
      transactionId: null,
    });

    const cancelled = await c.post(`/v1/sales/draft-invoices/${d.body.draftId}/cancel`, undefined);
    expect(cancelled.body).toMatchObject({ status: 'cancelled' });
    expect((await c.post(`/v1/sales/draft-invoices/${d.body.draftId}/cancel`, undefined)).status).toBe(200);
    const post = await c.post(`/v1/sales/draft-invoices/${d.body.draftId}/post`, undefined);
    expect([post.status, post.body.error.code]).toEqual([409, 'DRAFT_IS_CANCELLED']);
    const put = await c.put(`/v1/sales/draft-invoices/${d.body.draftId}`, invoice('TIGHT', '1.00'));
    expect([put.status, put.body.error.code]).toEqual([409, 'DRAFT_IS_CANCELLED']);
    expect(await invoicesWithReference('DR-LIMIT')).toBe(0);
  });

  it('lists drafts by status and hides them from other entities', async () => {
    const open = await c.get('/v1/sales/draft-invoices?status=draft');
    expect(open.status).toBe(200);
    expect(open.body.items.length).toBeGreaterThan(0);
    expect(open.body.items.every((d: any) => d.status === 'draft')).toBe(true);
    const posted = await c.get('/v1/sales/draft-invoices?status=posted&pageSize=1');
    expect(posted.body).toMatchObject({ page: 1, pageSize: 1, total: 2 });
    expect(posted.body.items).toHaveLength(1);
    const all = await c.get('/v1/sales/draft-invoices');
    expect(all.body.total).toBe(
      open.body.total + posted.body.total + (await c.get('/v1/sales/draft-invoices?status=cancelled')).body.total,
    );
    expect((await c.get('/v1/sales/draft-invoices?status=nope')).status).toBe(400);

    const id = open.body.items[0].draftId;
    for (const r of [
      await other.get(`/v1/sales/draft-invoices/${id}`),
      await other.post(`/v1/sales/draft-invoices/${id}/post`, undefined),
      await other.post(`/v1/sales/draft-invoices/${id}/cancel`, undefined),
      await c.get('/v1/sales/draft-invoices/987654321'),
    ]) {
      expect([r.status, r.body.error.code]).toEqual([404, 'NOT_FOUND']);
    }
    expect((await other.get('/v1/sales/draft-invoices')).body.total).toBe(0);
  });
});

// --- the sync engine in draft mode -------------------------------------------------------------

const customer = (id: string): SourceItem => ({ record: { kind: 'customer', sourceId: id, name: `Customer ${id}` } });
const instalment = (id: string, customerId = 'K1', net = '100.00'): SourceItem => ({
  record: {
    kind: 'invoice',
    sourceId: id,
    externalReference: id,
    customerSourceId: customerId,
    invoiceDate: '2026-11-01',
    currency: 'EUR',
    description: `Instalment ${id}`,
    lines: [{ description: 'Season ticket', netAmount: net, vatRate: '0.21' }],
  },
});

const NO_LOOKUPS = {
  customer: async () => null,
  invoiceCustomer: async () => null,
  product: async () => null,
  mappedId: async () => null,
};

/** The records source, plus a write-back that records what it was sent (or fails while `failing`). */
function recordingEngine() {
  const calls: WriteBackItem[][] = [];
  const state = { failing: false };
  const writeBack = async (items: WriteBackItem[]) => {
    if (state.failing) throw new ConnectorError('fake', 'unavailable', { status: 503, retryable: true });
    calls.push(items);
  };
  const sourceFor = (pipeline: Pipeline, params: Record<string, unknown>) => ({
    // The records source replays its params and looks nothing up in the target.
    ...createSource(pipeline, { db: t.db, log: t.sync.log, params, runId: null, target: NO_LOOKUPS }),
    writeBackKinds: ['invoice'] as const,
    writeBack,
  });
  const sync = syncService(t.db, { pdfs: true, engine: { sourceFor } });
  const run = async (p: Pipeline, items: SourceItem[]) =>
    (await getRun(t.db, (await sync.trigger(p, 'manual', 'test', { items }))!))!;
  const flush = async (p: Pipeline) => {
    const entity = (await findEntityByCode(t.db, 'DRAFTS'))!;
    return flushWriteBack(
      syncContext(sync.engine, p, entity, sourceFor(p, {}), await createTarget(sync.engine, p), null),
    );
  };
  return { calls, state, run, flush };
}

async function draftOf(p: Pipeline, sourceId: string) {
  const { rows } = await t.db.query<{ id: string; number: string }>(
    `SELECT d.id, d.number FROM sync_map m JOIN draft_invoices d ON d.id = m.target_id::bigint WHERE m.pipeline_id = $1 AND m.kind = 'draft' AND m.source_id = $2`,
    [p.id, sourceId],
  );
  return rows[0] ? { id: Number(rows[0].id), number: Number(rows[0].number) } : null;
}

describe('the sync engine in draft mode', () => {
  it('drafts once and writes back "D" + number, then the final invoice once after the draft is posted', async () => {
    const p = await definePipeline(t.db, 'DRAFTS', {
      name: 'ixpole-drafts',
      source: { type: 'records' },
      options: { invoiceMode: 'draft' },
    });
    const e = recordingEngine();
    const items = [customer('K1'), instalment('INS-1'), instalment('INS-2', 'K1', '50.00')];

    const first = await e.run(p, items);
    expect(first.status).toBe('succeeded');
    expect(first.counts).toMatchObject({ created: 3, writtenBack: 2 }); // a customer and two drafts
    expect(await invoicesWithReference('INS-1')).toBe(0);
    const d1 = (await draftOf(p, 'INS-1'))!;
    const d2 = (await draftOf(p, 'INS-2'))!;
    expect(e.calls).toHaveLength(1);
    expect(e.calls[0]).toEqual([
      {
        kind: 'invoice',
        sourceId: 'INS-1',
        externalReference: 'INS-1',
        number: `D${d1.number}`,
        dueDate: expect.stringMatching(/^2026-1[12]-\d\d$/),
      },
      {
        kind: 'invoice',
        sourceId: 'INS-2',
        externalReference: 'INS-2',
        number: `D${d2.number}`,
        dueDate: expect.stringMatching(/^2026-1[12]-\d\d$/),
      },
    ]);
    expect(e.calls[0]!.every((i) => i.kind === 'invoice' && i.pdfBase64 === undefined)).toBe(true);

    // the same records again: no second draft, nothing written back
    const second = await e.run(p, items);
    expect(second.counts).toMatchObject({ created: 0, skipped: 3, writtenBack: 0 });
    expect(await count(`SELECT count(*) AS n FROM sync_map WHERE pipeline_id = $1 AND kind = 'draft'`, [p.id])).toBe(2);
    expect(e.calls).toHaveLength(1);

    // someone posts draft 1; the next run writes back the real number, due date and PDF, once
    const posted = await c.post(`/v1/sales/draft-invoices/${d1.id}/post`, undefined);
    expect(posted.status).toBe(201);
    const third = await e.run(p, items);
    expect(third.counts).toMatchObject({ created: 0, writtenBack: 1 });
    expect(e.calls).toHaveLength(2);
    const final = e.calls[1]!;
    expect(final).toHaveLength(1);
    expect(final[0]).toMatchObject({
      kind: 'invoice',
      sourceId: 'INS-1',
      externalReference: 'INS-1',
      number: String(posted.body.number),
      dueDate: posted.body.dueDate,
    });
    const pdf = final[0]!.kind === 'invoice' ? final[0]!.pdfBase64 : undefined;
    const text = extractPdfText(Buffer.from(pdf!, 'base64')).lines;
    expect(text).toContain('INVOICE');
    expect(text).toContain(String(posted.body.number));
    expect(text).toContain('Payment reference: INS-1');

    // further runs change nothing: one invoice, two drafts, no write-back
    const fourth = await e.run(p, items);
    expect(fourth.counts).toMatchObject({ created: 0, writtenBack: 0 });
    expect(e.calls).toHaveLength(2);
    expect(await invoicesWithReference('INS-1')).toBe(1);
    expect(
      await count(
        `SELECT count(*) AS n FROM draft_invoices WHERE entity_id = $1 AND input->>'externalReference' IN ('INS-1', 'INS-2')`,
        [c.entityId],
      ),
    ).toBe(2);

    // draft 2 posted: the workers' write-back flush (no run) sends it, once
    const posted2 = await c.post(`/v1/sales/draft-invoices/${d2.id}/post`, undefined);
    expect(await e.flush(p)).toBe(1);
    expect(await e.flush(p)).toBe(0);
    expect(e.calls).toHaveLength(3);
    expect(e.calls[2]).toEqual([
      expect.objectContaining({
        sourceId: 'INS-2',
        number: String(posted2.body.number),
        pdfBase64: expect.any(String),
      }),
    ]);
    const { rows: maps } = await t.db.query<any>(
      `SELECT kind, source_id, target_id, written_back FROM sync_map WHERE pipeline_id = $1 AND kind IN ('draft', 'invoice') ORDER BY kind, source_id`,
      [p.id],
    );
    expect(maps).toEqual([
      { kind: 'draft', source_id: 'INS-1', target_id: String(d1.id), written_back: 'draft' },
      { kind: 'draft', source_id: 'INS-2', target_id: String(d2.id), written_back: 'draft' },
      { kind: 'invoice', source_id: 'INS-1', target_id: String(posted.body.transactionId), written_back: 'invoice' },
      { kind: 'invoice', source_id: 'INS-2', target_id: String(posted2.body.transactionId), written_back: 'invoice' },
    ]);
    await checkInvariants(t.db, c.entityId);
  });

  it('sends only the final number when the draft is posted before its "D" write-back got through', async () => {
    const p = await definePipeline(t.db, 'DRAFTS', {
      name: 'ixpole-late',
      source: { type: 'records' },
      options: { invoiceMode: 'draft' },
    });
    const e = recordingEngine();
    e.state.failing = true;
    await e.run(p, [customer('K2'), instalment('LATE-1', 'K2')]);
    expect(e.calls).toHaveLength(0);
    const d = (await draftOf(p, 'LATE-1'))!;
    const posted = await c.post(`/v1/sales/draft-invoices/${d.id}/post`, undefined);
    e.state.failing = false;
    expect(await e.flush(p)).toBe(1);
    expect(e.calls).toEqual([[expect.objectContaining({ sourceId: 'LATE-1', number: String(posted.body.number) })]]);
    expect(await e.flush(p)).toBe(0);
  });

  it('never books a drafted record again, not after switching to final invoices, and links an open draft made by hand', async () => {
    const p = await definePipeline(t.db, 'DRAFTS', {
      name: 'ixpole-switch',
      source: { type: 'records' },
      options: { invoiceMode: 'draft' },
    });
    const e = recordingEngine();
    await e.run(p, [customer('K3'), instalment('SWITCH-1', 'K3')]);
    const { rows } = await t.db.query<{ target_id: string }>(
      `SELECT target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'customer' AND source_id = 'K3'`,
      [p.id],
    );
    const code = rows[0]!.target_id;
    const byHand = await c.post('/v1/sales/draft-invoices', invoice(code, '100.00', { externalReference: 'SWITCH-2' }));
    expect(byHand.status).toBe(201);
    const again = await e.run(p, [customer('K3'), instalment('SWITCH-1', 'K3'), instalment('SWITCH-2', 'K3')]);
    expect(again.counts).toMatchObject({ created: 0, parked: 0 });
    expect((await draftOf(p, 'SWITCH-2'))!.id).toBe(byHand.body.draftId);
    expect(e.calls.at(-1)).toEqual([
      expect.objectContaining({ sourceId: 'SWITCH-2', number: `D${byHand.body.number}` }),
    ]);

    const final = await definePipeline(t.db, 'DRAFTS', {
      name: 'ixpole-switch',
      source: { type: 'records' },
      options: { invoiceMode: 'final' },
    });
    const third = await e.run(final, [
      customer('K3'),
      instalment('SWITCH-1', 'K3'),
      instalment('SWITCH-2', 'K3'),
      instalment('SWITCH-3', 'K3'),
    ]);
    expect(third.counts).toMatchObject({ created: 1 }); // only SWITCH-3, as a real invoice
    expect(await invoicesWithReference('SWITCH-1')).toBe(0);
    expect(await invoicesWithReference('SWITCH-2')).toBe(0);
    expect(await invoicesWithReference('SWITCH-3')).toBe(1);
  });
});
