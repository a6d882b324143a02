import { findUnstorable } from '../../domain/storable.ts';
import { showsText } from '../../domain/schemas.ts';
import { CODE_PATTERN, type CanonicalCustomer, type CanonicalProduct, customerChanges } from '../canonical.ts';
import { authoritativeFields } from '../pipelines.ts';
import type { Lookup } from '../connector.ts';
import { codeFromSourceId } from '../mapping.ts';
import type { TargetCustomer, TargetProduct } from '../target.ts';
import { type PageOutcome, type SyncContext, fingerprint, mappedIds, queueWriteBack } from './context.ts';
import { type Delivery, deliver, saveDelivered } from './deliver.ts';
import { type Unavailable, markPending } from './waiting.ts';

export interface Resolution {
  /** The target's id by source id. */
  codes: Map<string, string>;
  /** Why a referenced customer or product could not be had, by source id (what it waits for, when it only waits). */
  missing: Unavailable;
}

interface Syncable {
  sourceId: string;
}

/**
 * What a page needs of one kind of master data (customers or products): those it carries, and
 * those its documents refer to that are not mapped yet, fetched from the source once per run.
 */
async function gather<T extends Syncable>(
  ctx: SyncContext,
  kind: 'customer' | 'product',
  explicit: T[],
  referenced: string[],
  lookup: ((id: string) => Promise<Lookup<T>>) | undefined,
  cache: Map<string, Lookup<T>>,
) {
  const all = [...new Set([...explicit.map((c) => c.sourceId), ...referenced])];
  const mapped = await mappedIds(ctx.db, ctx.pipeline.id, kind, all);
  const toSync = new Map(explicit.map((c) => [c.sourceId, c]));
  const missing: Unavailable = new Map();
  const label = kind === 'customer' ? 'Customer' : 'Product';
  const notSynced = kind === 'customer' ? 'CUSTOMER_NOT_SYNCED' : 'PRODUCT_NOT_SYNCED';
  const notFound = kind === 'customer' ? 'SOURCE_CUSTOMER_NOT_FOUND' : 'SOURCE_PRODUCT_NOT_FOUND';
  for (const id of referenced) {
    if (toSync.has(id) || mapped.has(id)) continue;
    if (!lookup) {
      missing.set(id, {
        reasonCode: notSynced,
        message: `${label} ${id} has not been sent to this pipeline yet`,
      });
      continue;
    }
    let found = cache.get(id);
    if (!found) {
      found = await lookup(id);
      cache.set(id, found);
    }
    // What the source answered may hold text no column can keep (a NUL, a lone surrogate): the
    // documents that refer to it are parked for it, rather than the page failing at the write.
    const unstorable = 'found' in found ? findUnstorable(found.found, []) : null;
    if (unstorable)
      missing.set(id, {
        reasonCode: 'SOURCE_ITEM_INVALID',
        message: `${label} ${id} from the source is not valid: ${unstorable.field}: ${unstorable.message}`,
      });
    else if ('found' in found) toSync.set(id, found.found);
    else missing.set(id, { reasonCode: notFound, message: found.missing });
  }
  return { mapped, toSync, missing, codes: new Map([...mapped].map(([id, m]) => [id, m.targetId])) };
}

type CustomerDoc = TargetCustomer & { fingerprint: string; explicit: boolean };

const customerDelivery: Delivery<CustomerDoc> = {
  kind: 'customer',
  targetKind: 'customer',
  send: (target, ctx, batch) => target.upsertCustomers(ctx, batch),
  resendSafe: true,
  reference: (doc) => doc.code,
  customerTargetId: () => null,
  async commit(ctx, tx, done, out) {
    const writeBack = ctx.source.writeBackKinds?.includes('customer-code') ?? false;
    await saveDelivered(ctx, tx, 'customer', done, out, {
      record: ({ item, result }) =>
        // The target already held what was sent (a field another pipeline or a user set the same way).
        result.outcome === 'unchanged'
          ? { outcome: 'skipped', message: 'unchanged in the target', targetId: result.targetId }
          : {
              outcome: item.doc.targetId || result.outcome === 'updated' ? 'updated' : 'created',
              targetId: result.targetId,
            },
      map: ({ item }) => ({ fingerprint: item.doc.fingerprint }),
    });
    if (writeBack)
      await queueWriteBack(
        tx,
        ctx.pipeline.id,
        done
          .filter(({ item }) => !item.doc.record.code)
          .map(({ item, result }) => ({
            kind: 'customer-code',
            sourceId: item.sourceId,
            payload: { code: result.number ?? result.targetId },
          })),
      );
  },
};

/**
 * Makes sure every customer a page names or refers to is in the target: new ones created, changed
 * ones updated, unchanged ones skipped. Customers a document refers to but the page does not carry
 * are fetched from the source once per run. A code the target assigned is written back to sources
 * that keep one.
 */
export async function syncCustomers(
  ctx: SyncContext,
  explicit: CanonicalCustomer[],
  referenced: string[],
  out: PageOutcome,
): Promise<Resolution> {
  const source = ctx.source;
  const g = await gather(ctx, 'customer', explicit, referenced, source.customer?.bind(source), ctx.customerLookups);
  const explicitIds = new Set(explicit.map((e) => e.sourceId));
  refuseBlankNames(g, explicitIds, out);
  if (g.toSync.size === 0) {
    await markPending(ctx, 'customer', g.missing, 'CUSTOMER_NOT_SYNCED');
    return { codes: g.codes, missing: g.missing };
  }
  const prefix = ctx.pipeline.mapping.customerCodePrefix ?? '';
  const docs: CustomerDoc[] = [];
  const authoritative = authoritativeFields(ctx.pipeline);
  for (const given of g.toSync.values()) {
    // Only what the source carries goes to the target, and only that counts as a change.
    const c = customerChanges(given, authoritative);
    const fp = fingerprint(c);
    const existing = g.mapped.get(c.sourceId);
    const own = c.code ? c.code.toUpperCase() : null;
    const code = existing?.targetId ?? (own && CODE_PATTERN.test(own) ? own : codeFromSourceId(prefix, c.sourceId));
    if (existing && existing.fingerprint === fp) {
      if (explicitIds.has(c.sourceId))
        out.record({
          kind: 'customer',
          sourceId: c.sourceId,
          outcome: 'skipped',
          targetId: code,
          message: 'unchanged',
        });
      continue;
    }
    docs.push({
      sourceId: c.sourceId,
      code,
      targetId: existing?.targetId ?? null,
      record: c,
      fingerprint: fp,
      explicit: explicitIds.has(c.sourceId),
    });
  }
  await deliver(
    ctx,
    customerDelivery,
    docs.map((d) => ({ sourceId: d.sourceId, doc: d, raw: null, operation: `upsert:${d.fingerprint}` })),
    out,
  );
  const saved = await mappedIds(
    ctx.db,
    ctx.pipeline.id,
    'customer',
    docs.map((d) => d.sourceId),
  );
  for (const d of docs) {
    const m = saved.get(d.sourceId);
    if (m) g.codes.set(d.sourceId, m.targetId);
    else if (!g.missing.has(d.sourceId))
      g.missing.set(d.sourceId, {
        reasonCode: 'CUSTOMER_NOT_SYNCED',
        message: `Customer ${d.sourceId} is not in the ${ctx.target.type} target: its own delivery was refused (see its record in this run)`,
      });
  }
  await markPending(ctx, 'customer', g.missing, 'CUSTOMER_NOT_SYNCED');
  return { codes: g.codes, missing: g.missing };
}

/**
 * A name of only blanks or invisible characters shows nothing (the API refuses one as empty,
 * src/api/routes/setup-shared.ts): such a customer is not sent, whatever the source. One the page
 * carries is parked on its `name`; one not in the target yet is unavailable, so the documents
 * that name it are parked for it and run again by themselves once it comes with a name. One
 * already there keeps the name it has, and its documents go on.
 */
function refuseBlankNames(
  g: { toSync: Map<string, CanonicalCustomer>; mapped: Map<string, unknown>; missing: Unavailable },
  explicitIds: Set<string>,
  out: PageOutcome,
): void {
  for (const [id, c] of g.toSync) {
    if (showsText(c.name)) continue;
    g.toSync.delete(id);
    const why = `its name shows nothing (only blanks or invisible characters): give it a name in the source`;
    if (explicitIds.has(id))
      out.park({
        kind: 'customer',
        sourceId: id,
        reasonCode: 'CUSTOMER_NAME_BLANK',
        message: `Customer ${id}: ${why}`,
        field: 'name',
        payload: { record: c },
      });
    if (!g.mapped.has(id))
      g.missing.set(id, { reasonCode: 'CUSTOMER_NAME_BLANK', message: `Customer ${id} is not booked: ${why}` });
  }
}

type ProductDoc = TargetProduct & { fingerprint: string };

const productDelivery: Delivery<ProductDoc> = {
  kind: 'product',
  targetKind: 'product',
  resendSafe: true,
  async send(target, ctx, batch) {
    return target.upsertProducts!(ctx, batch);
  },
  reference: (doc) => doc.code,
  customerTargetId: () => null,
  async commit(ctx, tx, done, out) {
    await saveDelivered(ctx, tx, 'product', done, out, {
      record: ({ item, result }) => ({
        outcome: result.outcome === 'updated' || item.doc.targetId ? 'updated' : 'created',
        targetId: result.targetId,
      }),
      map: ({ item }) => ({ fingerprint: item.doc.fingerprint }),
    });
  },
};

/** Products (items) in the target, carrying default GL, tax and department for lines. */
export async function syncProducts(
  ctx: SyncContext,
  explicit: CanonicalProduct[],
  referenced: string[],
  out: PageOutcome,
): Promise<Resolution> {
  const source = ctx.source;
  const g = await gather(ctx, 'product', explicit, referenced, source.product?.bind(source), ctx.productLookups);
  const docs: ProductDoc[] = [];
  for (const prod of g.toSync.values()) {
    const fp = fingerprint(prod);
    const existing = g.mapped.get(prod.sourceId);
    const code = existing?.targetId ?? codeFromSourceId('', prod.code);
    g.codes.set(prod.sourceId, code);
    if (existing && existing.fingerprint === fp) continue;
    docs.push({ sourceId: prod.sourceId, code, targetId: existing?.targetId ?? null, record: prod, fingerprint: fp });
  }
  if (docs.length === 0) {
    await markPending(ctx, 'product', g.missing, 'PRODUCT_NOT_SYNCED');
    return { codes: g.codes, missing: g.missing };
  }
  await deliver(
    ctx,
    productDelivery,
    docs.map((d) => ({ sourceId: d.sourceId, doc: d, raw: null, operation: `upsert:${d.fingerprint}` })),
    out,
  );
  const saved = await mappedIds(
    ctx.db,
    ctx.pipeline.id,
    'product',
    docs.map((d) => d.sourceId),
  );
  for (const d of docs) {
    const m = saved.get(d.sourceId);
    if (m) g.codes.set(d.sourceId, m.targetId);
    else {
      g.codes.delete(d.sourceId);
      g.missing.set(d.sourceId, {
        reasonCode: 'PRODUCT_NOT_SYNCED',
        message: `Product ${d.sourceId} is not in the ${ctx.target.type} target: its own delivery was refused (see its record in this run)`,
      });
    }
  }
  await markPending(ctx, 'product', g.missing, 'PRODUCT_NOT_SYNCED');
  return { codes: g.codes, missing: g.missing };
}

export const masterDataDeliveries = [customerDelivery, productDelivery];
