import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { type EntityContext, findEntityById } from '../../ledger/entities.ts';
import { ConnectorError } from '../../sync/connector.ts';
import { registerSource, registerTarget } from '../../sync/registry.ts';
import type { ItemError, MappedLine, TargetCallContext, TargetConnector, TargetDeps } from '../../sync/target.ts';
import { createAllocations, createCreditNotes } from './credit-notes.ts';
import { upsertCustomers, upsertProducts } from './customers.ts';
import { createDraftInvoices, createInvoices } from './invoices.ts';
import { ledgerLines, loadLineData, loadProducts } from './lines.ts';
import { createPayments, createRefunds } from './payments.ts';
import { feeRemedy } from './fees.ts';
import * as read from './reads.ts';
import { LedgerSourceConfig, createLedgerSource } from './source.ts';

/**
 * The embedded ledger as a target. It is transactional: every write runs in the engine's own
 * transaction (`ctx.db`), so a posting, its source map, its write-back and the closing of its
 * exceptions commit together, and a crash leaves either all of them or none.
 */
export function ledgerTarget(entity: EntityContext, deps: Pick<TargetDeps, 'mapping'>): TargetConnector {
  const e = entity.id;
  const db = (ctx: TargetCallContext): Queryable => ctx.db;
  return {
    type: 'ledger',
    transactional: true,
    capabilities: {
      customers: true,
      items: true,
      invoices: true,
      creditNotes: true,
      payments: true,
      allocations: true,
      refunds: true,
      fees: true,
      paymentStatus: true,
      pdf: true,
      drafts: true,
      reconciliation: true,
    },
    // Local writes: no calls to pace; the engine's pages are the batches.
    limits: { concurrency: 1, batchSize: 500 },
    upsertCustomers: (ctx, items) => upsertCustomers(db(ctx), entity, ctx.actor, items),
    upsertProducts: (ctx, items) => upsertProducts(db(ctx), entity, items),
    createInvoices: (ctx, items) => createInvoices(db(ctx), entity, ctx.actor, deps.mapping, items),
    createDraftInvoices: (ctx, items) => createDraftInvoices(db(ctx), entity, ctx.actor, deps.mapping, items),
    createCreditNotes: (ctx, items) => createCreditNotes(db(ctx), entity, ctx.actor, deps.mapping, items),
    createPayments: (ctx, items) => createPayments(db(ctx), entity, ctx.actor, items),
    createRefunds: (ctx, items) => createRefunds(db(ctx), entity, ctx.actor, items),
    createAllocations: (ctx, items) => createAllocations(db(ctx), entity, ctx.actor, items),
    findByReference: (ctx, kind, reference, customer) => read.findByReference(db(ctx), e, kind, reference, customer),
    customer: (ctx, code, asSourceId) => read.customerRecord(db(ctx), e, code, asSourceId),
    async product(ctx, code, asSourceId) {
      const p = (await loadProducts(db(ctx), e, [code])).get(code);
      if (!p?.isActive) return null;
      return {
        kind: 'product',
        sourceId: asSourceId,
        code: p.code,
        name: p.name,
        vatRate: p.vatRate,
        glAccountCode: p.glAccountCode,
        taxCode: p.taxCode,
        departmentId: p.departmentId,
      };
    },
    async lineAccounts(ctx, items) {
      const data = await loadLineData(
        db(ctx),
        e,
        items.flatMap((i) => Object.values(i.productTargetIds)),
        items.map((i) => i.customerTargetId),
      );
      return items.map((i): MappedLine[] | ItemError => {
        const lines = ledgerLines(data, deps.mapping, i.record, i.customerTargetId, i.productTargetIds);
        return Array.isArray(lines)
          ? lines.map((l) => ({ ...l, glAccountCode: l.glAccountCode, taxCode: l.taxCode }))
          : { code: lines.reasonCode, message: lines.message, retryable: false, field: lines.field };
      });
    },
    documents: (ctx, ids, options) => read.documents(db(ctx), e, ids, options),
    feeRemedy: (difference, payment) => feeRemedy(entity, difference, payment),
    async pdf(ctx, invoiceId) {
      const { renderInvoicePdf } = await import('../../ledger/pdf.ts');
      return renderInvoicePdf(db(ctx), entity, Number(invoiceId));
    },
    paidInvoices: (ctx, ids) => read.paidInvoices(db(ctx), e, ids),
    postedDrafts: (ctx, ids) => read.postedDrafts(db(ctx), e, ids),
    describeDrafts: (ctx, ids) => read.describeDrafts(db(ctx), e, ids),
    unlinkedDocuments: (ctx, scope, from, to) => read.documentsInWindow(db(ctx), e, scope, from, to),
    openBalances: (ctx, codes, asAt) => read.openBalances(db(ctx), e, codes, asAt),
    // Local: the connection is the database itself; what can be missing is the entity.
    async checkConnection(ctx) {
      const found = await findEntityById(db(ctx), e);
      if (!found) throw new ConnectorError('ledger', `entity ${entity.code} no longer exists`, { retryable: false });
      return `the embedded ledger of ${found.code}`;
    },
  };
}

registerTarget({
  type: 'ledger',
  description: 'The embedded accounts-receivable ledger (the default).',
  settings: z.strictObject({ type: z.literal('ledger').optional() }),
  async create(deps) {
    const entity = await findEntityById(deps.db, deps.entityId);
    if (!entity) throw new Error(`Entity ${deps.entityId} no longer exists`);
    return ledgerTarget(entity, deps);
  },
});

registerSource('ledger', (pipeline, deps) => createLedgerSource(pipeline, deps.db), {
  settings: LedgerSourceConfig,
  secrets: [],
  refuseTarget: (type) =>
    type === 'ledger'
      ? 'The ledger source mirrors the embedded ledger into an accounting platform; into the embedded ledger itself it would book every document twice. Choose a platform target (xero, quickbooks, webhook).'
      : null,
});
