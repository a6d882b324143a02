import type { Queryable } from '../../db/database.ts';
import { DomainError, fieldError, isDomainError } from '../../domain/errors.ts';
import { formatAmount } from '../../domain/money.ts';
import { type EntityContext, ENTITY_CODE, findEntityByCode } from '../entities.ts';
import { requirePeriodOpen } from '../periods.ts';
import { buildInvoice, checkInvoiceReference, lineReferences } from '../posting/invoices.ts';
import { rateWanted } from '../posting/common.ts';
import { refuseDeferrals } from '../posting/deferrals.ts';
import { loadReferences, lockCustomer } from '../posting/references.ts';
import type { InvoiceLineInput, PostingContext } from '../posting/types.ts';
import { insertTransaction } from '../posting/write.ts';
import type { PostedSales } from './back-to-back.ts';
import { type PostedPurchase, postPurchaseInvoice } from './invoices.ts';
import { linkDocuments } from './reads.ts';
import { lockSupplier } from './suppliers.ts';

/**
 * Intercompany connections. Each entity records its own half with its own credentials: "entity X
 * is my customer C and my supplier S". A pair posts only when both halves exist, so no single
 * credential can post into an entity that did not agree to trade with the poster. The customer's
 * control account is the due-from account, the supplier's the due-to account.
 */
export interface ConnectionView {
  entityCode: string;
  customerCode: string;
  supplierCode: string;
  dueFromGlAccountCode: string;
  dueToGlAccountCode: string;
  /** `active` once the other entity has connected to this one too; `pending` until then. */
  status: 'active' | 'pending';
}

const CONNECTION_SQL = `
  SELECT c.other_entity_code, c.customer_code, c.supplier_code,
         cu.control_gl_account_code AS due_from, su.control_gl_account_code AS due_to,
         EXISTS (SELECT 1 FROM intercompany_connections o JOIN entities oe ON oe.id = o.entity_id
                  WHERE oe.code = c.other_entity_code AND o.other_entity_code = me.code) AS active
    FROM intercompany_connections c
    JOIN entities me ON me.id = c.entity_id
    JOIN customers cu ON cu.entity_id = c.entity_id AND cu.code = c.customer_code
    JOIN suppliers su ON su.entity_id = c.entity_id AND su.code = c.supplier_code
   WHERE c.entity_id = $1`;

interface ConnectionRow {
  other_entity_code: string;
  customer_code: string;
  supplier_code: string;
  due_from: string;
  due_to: string;
  active: boolean;
}

function toView(r: ConnectionRow): ConnectionView {
  return {
    entityCode: r.other_entity_code,
    customerCode: r.customer_code,
    supplierCode: r.supplier_code,
    dueFromGlAccountCode: r.due_from,
    dueToGlAccountCode: r.due_to,
    status: r.active ? 'active' : 'pending',
  };
}

export async function listConnections(db: Queryable, entityId: string): Promise<ConnectionView[]> {
  const { rows } = await db.query<ConnectionRow>(`${CONNECTION_SQL} ORDER BY c.other_entity_code`, [entityId]);
  return rows.map(toView);
}

export async function findConnection(
  db: Queryable,
  entityId: string,
  otherCode: string,
): Promise<ConnectionView | null> {
  const { rows } = await db.query<ConnectionRow>(`${CONNECTION_SQL} AND c.other_entity_code = $2`, [
    entityId,
    otherCode,
  ]);
  return rows[0] ? toView(rows[0]) : null;
}

/**
 * Records (or changes) this entity's half of a connection to `otherCode`. Whether that entity
 * exists is not checked, and so not told: the half stays pending until that entity connects back.
 */
export async function saveConnection(
  db: Queryable,
  entity: EntityContext,
  otherCode: string,
  input: { customerCode: string; supplierCode: string },
  actor: string,
): Promise<{ created: boolean; before: ConnectionView | null; after: ConnectionView }> {
  if (!ENTITY_CODE.test(otherCode)) throw fieldError('params.entityCode', 'not an entity code');
  if (otherCode === entity.code) throw fieldError('params.entityCode', 'an entity cannot connect to itself');
  await lockCustomer(db, entity.id, input.customerCode, 'customerCode');
  await lockSupplier(db, entity.id, input.supplierCode, 'supplierCode');
  const before = await findConnection(db, entity.id, otherCode);
  await db.query(
    `INSERT INTO intercompany_connections (entity_id, other_entity_code, customer_code, supplier_code, created_by)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (entity_id, other_entity_code) DO UPDATE
        SET customer_code = EXCLUDED.customer_code, supplier_code = EXCLUDED.supplier_code, updated_at = now()`,
    [entity.id, otherCode, input.customerCode, input.supplierCode, actor],
  );
  return { created: before === null, before, after: (await findConnection(db, entity.id, otherCode))! };
}

/** Withdraws this entity's half: from then on no intercompany invoice posts between the two. */
export async function deleteConnection(db: Queryable, entityId: string, otherCode: string): Promise<ConnectionView> {
  const before = await findConnection(db, entityId, otherCode);
  if (!before) throw new DomainError('NOT_FOUND', `No connection to ${otherCode} in this entity`);
  await db.query('DELETE FROM intercompany_connections WHERE entity_id = $1 AND other_entity_code = $2', [
    entityId,
    otherCode,
  ]);
  return before;
}

export interface IntercompanyInvoiceInput {
  buyerEntityCode: string;
  invoiceDate: string;
  dueDate?: string | undefined;
  externalReference?: string | undefined;
  description?: string | undefined;
  exchangeRate?: string | undefined;
  /** The purchase invoice's rate in the buyer, when the currency is not the buyer's base currency. */
  buyerExchangeRate?: string | undefined;
  confirmExchangeRate?: boolean | undefined;
  lines: InvoiceLineInput[];
}

export interface IntercompanyResult {
  buyer: EntityContext;
  sales: PostedSales;
  purchase: PostedPurchase;
}

function notConnected(code: string): DomainError {
  // One answer whether the entity is missing, has not connected back, or was never named here.
  return new DomainError(
    'INTERCOMPANY_NOT_CONNECTED',
    `buyerEntityCode: this entity and ${code} are not connected both ways`,
    [{ field: 'buyerEntityCode', message: 'not connected' }],
  );
}

/** The two halves of a connection, share-locked so neither can be withdrawn while the pair posts. */
async function requireConnection(db: Queryable, seller: EntityContext, buyerCode: string) {
  if (buyerCode === seller.code) throw notConnected(buyerCode);
  const buyer = await findEntityByCode(db, buyerCode);
  if (!buyer) throw notConnected(buyerCode);
  const { rows } = await db.query<{ entity_id: string; customer_code: string; supplier_code: string }>(
    `SELECT entity_id, customer_code, supplier_code FROM intercompany_connections
      WHERE (entity_id = $1 AND other_entity_code = $2) OR (entity_id = $3 AND other_entity_code = $4)
      ORDER BY entity_id FOR SHARE`,
    [seller.id, buyer.code, buyer.id, seller.code],
  );
  const mine = rows.find((r) => r.entity_id === seller.id);
  const theirs = rows.find((r) => r.entity_id === buyer.id);
  if (!mine || !theirs) throw notConnected(buyerCode);
  return { buyer, customerCode: mine.customer_code, supplierCode: theirs.supplier_code };
}

/** A refusal in the buyer's books, told by its code only: nothing else of the other entity is readable. */
function counterpartRefused(err: unknown): unknown {
  if (!isDomainError(err)) return err;
  const rate = Array.isArray(err.details) && err.details.some((d) => d.field.endsWith('exchangeRate'));
  return new DomainError(
    'INTERCOMPANY_COUNTERPART_REFUSED',
    `The buyer's purchase invoice was refused with ${err.code}; nothing was posted in either entity`,
    { field: rate ? 'buyerExchangeRate' : 'buyerEntityCode', reason: err.code },
  );
}

/**
 * Posts the sales invoice in this (the selling) entity, to the customer that stands for the
 * buyer, and the mirror purchase invoice in the buyer, from the supplier that stands for the
 * seller, with the same net and VAT per line, so the seller's due-from equals the buyer's due-to.
 * One database transaction (the caller's): a refusal on either side posts nothing in either.
 */
export async function postIntercompanyInvoice(
  ctx: PostingContext,
  input: IntercompanyInvoiceInput,
): Promise<IntercompanyResult> {
  const link = await requireConnection(ctx.db, ctx.entity, input.buyerEntityCode);
  const { buyer } = link;
  const customer = await lockCustomer(ctx.db, ctx.entity.id, link.customerCode, 'buyerEntityCode');
  // The schedule of a deferred line is saved by postInvoice only: an intercompany invoice takes none.
  refuseDeferrals(input.lines, '', 'an intercompany invoice');
  const refs = await loadReferences(ctx.db, ctx.entity.id, {
    ...lineReferences(input.lines),
    rates: rateWanted(ctx, customer.currency, input.exchangeRate, input.invoiceDate),
  });
  const t = buildInvoice(ctx, customer, { ...input, customerCode: customer.code }, refs, {
    performExternalReferenceDuplicateCheck: true,
    enforceCreditLimit: false,
  });
  t.details = { intercompany: { buyerEntityCode: buyer.code } };
  await requirePeriodOpen(ctx.db, ctx.entity.id, input.invoiceDate, 'invoiceDate', 'post an invoice');
  await checkInvoiceReference(ctx, t, 'externalReference');
  const sales = await insertTransaction(ctx.db, t);

  const buyerCtx: PostingContext = { db: ctx.db, entity: buyer, actor: `intercompany:${ctx.entity.code}:${ctx.actor}` };
  let purchase: PostedPurchase;
  try {
    const supplier = await lockSupplier(ctx.db, buyer.id, link.supplierCode, 'supplierCode');
    if (supplier.currency !== customer.currency) {
      throw new DomainError(
        'INTERCOMPANY_CURRENCY_MISMATCH',
        `buyerEntityCode: the invoice is in ${customer.currency}, the buyer's supplier for this entity in another currency`,
        [{ field: 'buyerEntityCode', message: 'currencies differ' }],
      );
    }
    const fmt = (v: bigint) => formatAmount(v, customer.currency);
    purchase = await postPurchaseInvoice(
      buyerCtx,
      {
        supplierCode: supplier.code,
        invoiceDate: input.invoiceDate,
        dueDate: t.dueDate!,
        supplierReference: `SI-${sales.number}`,
        description: t.description,
        exchangeRate: input.buyerExchangeRate,
        confirmExchangeRate: input.confirmExchangeRate,
        lines: t.items.map((i) => ({
          glAccountCode: supplier.defaultGlAccountCode ?? buyer.roles.purchases,
          taxCode: supplier.defaultTaxCode ?? i.taxCode,
          description: i.description,
          netAmount: fmt(i.net),
          taxRate: i.taxRate,
          taxAmount: fmt(i.tax),
        })),
      },
      '',
      { intercompany: { sellerEntityCode: ctx.entity.code, salesTransactionId: sales.id } },
    );
  } catch (err) {
    if (isDomainError(err) && err.code === 'INTERCOMPANY_CURRENCY_MISMATCH') throw err;
    throw counterpartRefused(err);
  }
  await linkDocuments(ctx.db, {
    kind: 'intercompany',
    salesTransactionId: sales.id,
    salesEntityId: ctx.entity.id,
    purchaseTransactionId: purchase.id,
    purchaseEntityId: buyer.id,
    createdBy: ctx.actor,
  });
  return {
    buyer,
    sales: {
      id: sales.id,
      number: sales.number,
      currency: t.currency,
      net: t.net,
      tax: t.tax,
      gross: t.gross,
      dueDate: t.dueDate!,
    },
    purchase,
  };
}
