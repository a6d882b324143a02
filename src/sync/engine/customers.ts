import type { Queryable } from '../../db/database.ts';
import type { CanonicalCustomer, CanonicalProduct } from '../canonical.ts';
import { codeFromSourceId } from '../mapping.ts';
import { type PageOutcome, type SyncContext, fingerprint, mappedIds, queueWriteBack, saveMapping } from './context.ts';

const VALID_CODE = /^[A-Z0-9][A-Z0-9_.-]{0,49}$/;

export interface CustomerResolution {
  /** Ledger customer code by source customer id. */
  codes: Map<string, string>;
  /** Why a referenced customer could not be had, by source id. */
  missing: Map<string, { reasonCode: string; message: string }>;
}

async function upsertCustomer(
  db: Queryable,
  ctx: SyncContext,
  code: string,
  c: CanonicalCustomer,
): Promise<'created' | 'updated'> {
  const d = ctx.entity.customerDefaults;
  const address = Object.fromEntries(
    Object.entries({ street: c.street, city: c.city, postalCode: c.postalCode, country: c.country }).filter(
      ([, v]) => v !== null && v !== undefined,
    ),
  );
  const { rows } = await db.query<{ created: boolean }>(
    `INSERT INTO customers (entity_id, code, name, currency, credit_limit, credit_days, credit_end_of_month, email, phone, address,
                            vat_number, default_tax_code, default_gl_account_code, control_gl_account_code)
     VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (entity_id, code) DO UPDATE
       SET name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone, address = EXCLUDED.address,
           vat_number = EXCLUDED.vat_number, row_version = customers.row_version + 1, updated_at = now()
     RETURNING (xmax = 0) AS created`,
    [
      ctx.entity.id,
      code,
      c.name,
      c.currency ?? d.currency,
      d.creditTerms.days,
      d.creditTerms.endOfMonth,
      c.email ?? null,
      c.phone ?? null,
      JSON.stringify(address),
      c.vatNumber ?? null,
      d.defaultTaxCode,
      d.defaultGlAccountCode,
      d.controlGlAccountCode,
    ],
  );
  return rows[0]!.created ? 'created' : 'updated';
}

/**
 * Makes sure every customer a page names or refers to is in the ledger: new ones are created from
 * the entity's customer defaults, changed ones updated, unchanged ones skipped. Customers a
 * document refers to but the page does not carry are fetched from the source once per run. A
 * code the ledger assigned is written back to sources that keep one.
 */
export async function syncCustomers(
  ctx: SyncContext,
  explicit: CanonicalCustomer[],
  referenced: string[],
  out: PageOutcome,
): Promise<CustomerResolution> {
  const p = ctx.pipeline;
  const all = [...new Set([...explicit.map((c) => c.sourceId), ...referenced])];
  const mapped = await mappedIds(ctx.db, p.id, 'customer', all);
  const toSync = new Map(explicit.map((c) => [c.sourceId, c]));
  const missing = new Map<string, { reasonCode: string; message: string }>();
  for (const id of referenced) {
    if (toSync.has(id) || mapped.has(id)) continue;
    if (!ctx.source.customer) {
      missing.set(id, {
        reasonCode: 'CUSTOMER_NOT_SYNCED',
        message: `Customer ${id} has not been sent to this pipeline yet`,
      });
      continue;
    }
    let found = ctx.customerLookups.get(id);
    if (!found) {
      found = await ctx.source.customer(id);
      ctx.customerLookups.set(id, found);
    }
    if ('found' in found) toSync.set(id, found.found);
    else missing.set(id, { reasonCode: 'SOURCE_CUSTOMER_NOT_FOUND', message: found.missing });
  }
  const codes = new Map([...mapped].map(([id, m]) => [id, m.targetId]));
  if (toSync.size === 0) return { codes, missing };
  const prefix = p.mapping.customerCodePrefix ?? '';
  await ctx.db.transaction(async (tx) => {
    const saved: { sourceId: string; targetId: string; fingerprint: string }[] = [];
    const writeBack: { kind: string; sourceId: string; payload: Record<string, unknown> }[] = [];
    for (const c of toSync.values()) {
      const fp = fingerprint(c);
      const existing = mapped.get(c.sourceId);
      const given = c.code ? c.code.toUpperCase() : null;
      const code =
        existing?.targetId ?? (given && VALID_CODE.test(given) ? given : codeFromSourceId(prefix, c.sourceId));
      codes.set(c.sourceId, code);
      if (existing && existing.fingerprint === fp) {
        if (explicit.some((e) => e.sourceId === c.sourceId))
          out.record({
            kind: 'customer',
            sourceId: c.sourceId,
            outcome: 'skipped',
            targetId: code,
            message: 'unchanged',
          });
        continue;
      }
      const outcome = await upsertCustomer(tx, ctx, code, c);
      out.record({ kind: 'customer', sourceId: c.sourceId, outcome, targetId: code });
      saved.push({ sourceId: c.sourceId, targetId: code, fingerprint: fp });
      if (!c.code && ctx.source.writeBackKinds?.includes('customer-code')) {
        writeBack.push({ kind: 'customer-code', sourceId: c.sourceId, payload: { code } });
      }
    }
    await saveMapping(tx, p.id, 'customer', saved);
    await queueWriteBack(tx, p.id, writeBack);
  });
  return { codes, missing };
}

/** Products in the ledger (AccountsIQ non-stock items) carry default GL, tax and department for lines. */
export async function syncProducts(
  ctx: SyncContext,
  explicit: CanonicalProduct[],
  referenced: string[],
  out: PageOutcome,
) {
  const p = ctx.pipeline;
  const all = [...new Set([...explicit.map((c) => c.sourceId), ...referenced])];
  const mapped = await mappedIds(ctx.db, p.id, 'product', all);
  const toSync = new Map(explicit.map((c) => [c.sourceId, c]));
  const missing = new Map<string, { reasonCode: string; message: string }>();
  for (const id of referenced) {
    if (toSync.has(id) || mapped.has(id)) continue;
    if (!ctx.source.product) {
      missing.set(id, {
        reasonCode: 'PRODUCT_NOT_SYNCED',
        message: `Product ${id} has not been sent to this pipeline yet`,
      });
      continue;
    }
    let found = ctx.productLookups.get(id);
    if (!found) {
      found = await ctx.source.product(id);
      ctx.productLookups.set(id, found);
    }
    if ('found' in found) toSync.set(id, found.found);
    else missing.set(id, { reasonCode: 'SOURCE_PRODUCT_NOT_FOUND', message: found.missing });
  }
  const codes = new Map([...mapped].map(([id, m]) => [id, m.targetId]));
  if (toSync.size > 0) {
    await ctx.db.transaction(async (tx) => {
      const saved: { sourceId: string; targetId: string; fingerprint: string }[] = [];
      for (const prod of toSync.values()) {
        const fp = fingerprint(prod);
        const existing = mapped.get(prod.sourceId);
        const code = existing?.targetId ?? codeFromSourceId('', prod.code);
        codes.set(prod.sourceId, code);
        if (existing && existing.fingerprint === fp) continue;
        const { rows } = await tx.query<{ created: boolean }>(
          `INSERT INTO products (entity_id, code, name, gl_account_code, tax_code, department_id, vat_rate)
           VALUES ($1, $2, $3, $4, $5, $6, $7::numeric)
           ON CONFLICT (entity_id, code) DO UPDATE SET name = EXCLUDED.name,
             gl_account_code = coalesce(EXCLUDED.gl_account_code, products.gl_account_code),
             tax_code = coalesce(EXCLUDED.tax_code, products.tax_code),
             department_id = coalesce(EXCLUDED.department_id, products.department_id),
             vat_rate = EXCLUDED.vat_rate, updated_at = now()
           RETURNING (xmax = 0) AS created`,
          [
            ctx.entity.id,
            code,
            prod.name,
            prod.glAccountCode ?? null,
            prod.taxCode ?? null,
            prod.departmentId ?? null,
            prod.vatRate ?? null,
          ],
        );
        out.record({
          kind: 'product',
          sourceId: prod.sourceId,
          outcome: rows[0]!.created ? 'created' : 'updated',
          targetId: code,
        });
        saved.push({ sourceId: prod.sourceId, targetId: code, fingerprint: fp });
      }
      await saveMapping(tx, p.id, 'product', saved);
    });
  }
  return { codes, missing };
}
