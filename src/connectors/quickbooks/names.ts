import { ConnectorError } from '../../sync/connector.ts';
import { failed, ok, type ItemResult, type TargetCallContext } from '../../sync/target.ts';
import { SYSTEM } from './settings.ts';
import {
  type BatchAnswer,
  type BatchOperation,
  type QboEntity,
  type QuickBooksApi,
  describeFault,
  faultCode,
  quote,
  requestIdFor,
} from './api.ts';

/*
 * Customers and items: named entities whose name QuickBooks keeps unique (a customer's
 * DisplayName across customers, vendors and employees; an item's Name). Ours carry our code
 * (Customer.AcctNum, Item.Sku), which is how a name already taken is told apart:
 * - taken by ours (a create whose answer was lost): linked, nothing written;
 * - taken by someone else: created as "<name> (<code>)", stable, so it resolves the same way again.
 * Updates are sparse (only the fields a record carries) with the SyncToken just read; a stale token
 * (5010: someone edited it meanwhile) is read again and the update retried once.
 */

export interface NamedSpec {
  entity: 'Customer' | 'Item';
  nameField: 'DisplayName' | 'Name';
  codeField: 'AcctNum' | 'Sku';
}

export interface NamedItem {
  code: string;
  name: string;
  targetId: string | null;
  /** The fields to write besides name and code, given the current entity on an update. */
  fields(current: QboEntity | null): Record<string, unknown>;
  /** A key that changes when what is written changes (the requestid is derived from it). */
  key: string;
}

const DUPLICATE_NAME = '6240';
const STALE = '5010';

/**
 * The code ledgerlink knows an entity by: ours carry it (AcctNum, Sku); one a person created in
 * QuickBooks is known as "QBO-<Id>" (what `customer()` answers for it, so that linking to it works).
 */
export const codeOf = (e: QboEntity, spec: NamedSpec) =>
  typeof e[spec.codeField] === 'string' && e[spec.codeField] !== '' ? (e[spec.codeField] as string) : `QBO-${e.Id}`;

const isOurs = (e: QboEntity, spec: NamedSpec, code: string) => codeOf(e, spec) === code || `QBO-${e.Id}` === code;

/** The name used when another entity holds `name`. */
export const disambiguated = (name: string, code: string) => `${name.slice(0, 95 - code.length)} (${code})`;

export async function upsertNamed(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  spec: NamedSpec,
  items: NamedItem[],
): Promise<ItemResult[]> {
  const results: (ItemResult | null)[] = items.map(() => null);
  const current = await readByIds(
    api,
    ctx,
    spec.entity,
    items.flatMap((i) => (i.targetId ? [i.targetId] : [])),
  );

  const body = (i: NamedItem, name: string, cur: QboEntity | null) => ({
    ...i.fields(cur),
    [spec.nameField]: name,
    [spec.codeField]: i.code,
    ...(cur ? { Id: cur.Id, SyncToken: cur.SyncToken, sparse: true } : {}),
  });
  const op = (i: NamedItem, name: string, cur: QboEntity | null): BatchOperation => ({
    entity: spec.entity,
    operation: cur ? 'update' : 'create',
    body: body(i, name, cur),
  });

  // Round 1: every item as given.
  let pending = items.map((item, n) => ({
    n,
    item,
    name: item.name,
    cur: item.targetId ? (current.get(item.targetId) ?? null) : null,
    retried: false,
  }));
  for (const p of pending) {
    if (p.item.targetId && !p.cur) {
      results[p.n] = failed({
        code: 'TARGET_REFUSED',
        message: `${spec.entity} ${p.item.targetId} is no longer in QuickBooks (deleted or made inactive)`,
        retryable: false,
      });
    }
  }
  pending = pending.filter((p) => results[p.n] === null);
  for (let round = 0; round < 3 && pending.length > 0; round++) {
    const answers = await api.batch(
      pending.map((p) => op(p.item, p.name, p.cur)),
      requestIdFor(
        pending.map((p) => `${p.item.key}\u0000${p.name}\u0000${p.cur?.SyncToken ?? ''}`),
        `${spec.entity}:${round}`,
      ),
      ctx.signal,
    );
    const next: typeof pending = [];
    const stale: typeof pending = [];
    const taken: (typeof pending)[number][] = [];
    answers.forEach((a: BatchAnswer, k) => {
      const p = pending[k]!;
      if (a.ok) {
        results[p.n] = ok(a.entity!.Id, { number: p.item.code, outcome: p.cur ? 'updated' : 'created' });
        return;
      }
      const code = faultCode(a.fault);
      if (code === STALE && p.cur && !p.retried) stale.push(p);
      else if (code === DUPLICATE_NAME) taken.push(p);
      else results[p.n] = refused(spec.entity, describeFault(a.fault));
    });
    // A stale SyncToken: read the entity again and retry once.
    if (stale.length > 0) {
      const fresh = await readByIds(
        api,
        ctx,
        spec.entity,
        stale.map((p) => p.cur!.Id),
      );
      for (const p of stale) {
        const cur = fresh.get(p.cur!.Id);
        if (cur) next.push({ ...p, cur, retried: true });
        else results[p.n] = refused(spec.entity, `${spec.entity} ${p.cur!.Id} disappeared while being updated`);
      }
    }
    // A name taken: ours (linked) or someone else's (our disambiguated name next).
    if (taken.length > 0) {
      const holders = await readByNames(
        api,
        ctx,
        spec,
        taken.map((p) => p.name),
      );
      for (const p of taken) {
        const holder = holders.get(p.name.toLowerCase());
        if (holder && isOurs(holder, spec, p.item.code) && (!p.cur || holder.Id === p.cur.Id)) {
          results[p.n] = p.cur
            ? refused(spec.entity, `the name "${p.name}" is taken`)
            : ok(holder.Id, {
                number: p.item.code,
                outcome: 'linked',
                message: `found in QuickBooks by name and code; linked`,
              });
        } else if (p.name !== disambiguated(p.item.name, p.item.code)) {
          next.push({ ...p, name: disambiguated(p.item.name, p.item.code) });
        } else {
          results[p.n] = refused(
            spec.entity,
            `both "${p.item.name}" and "${p.name}" are taken by other QuickBooks names`,
          );
        }
      }
    }
    pending = next;
  }
  return results.map((r) => r ?? refused(spec.entity, 'could not be written after three rounds'));
}

function refused(entity: string, why: string): ItemResult {
  return failed({
    code: 'TARGET_REFUSED',
    message: `QuickBooks refused the ${entity.toLowerCase()}: ${why}`,
    retryable: false,
  });
}

/**
 * The entities whose `field` is one of `values`: a query of 100 values, 30 queries a batch call
 * (one call per 3,000 values). A refused query throws `${what}: …`, retryable as `retryable` says.
 */
export async function queryIn(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  entity: string,
  field: string,
  values: readonly string[],
  refusal: { what: string; retryable: boolean },
): Promise<QboEntity[]> {
  const unique = [...new Set(values)];
  const rows: QboEntity[] = [];
  for (let i = 0; i < unique.length; i += 3000) {
    const ops: BatchOperation[] = [];
    for (let j = i; j < Math.min(unique.length, i + 3000); j += 100)
      ops.push({
        query: `SELECT * FROM ${entity} WHERE ${field} IN (${unique
          .slice(j, j + 100)
          .map(quote)
          .join(', ')}) MAXRESULTS 1000`,
      });
    for (const a of await api.batch(ops, null, ctx.signal)) {
      if (!a.ok)
        throw new ConnectorError(SYSTEM, `${refusal.what}: ${describeFault(a.fault)}`, {
          retryable: refusal.retryable,
        });
      rows.push(...((a.query?.[entity] as QboEntity[] | undefined) ?? []));
    }
  }
  return rows;
}

/** Entities by id, 30 queries of 100 ids in one batch call at most. */
export async function readByIds(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  entity: string,
  ids: string[],
): Promise<Map<string, QboEntity>> {
  const rows = await queryIn(api, ctx, entity, 'Id', ids, { what: `refused a read of ${entity}`, retryable: false });
  return new Map(rows.map((e) => [e.Id, e]));
}

async function readByNames(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  spec: NamedSpec,
  names: string[],
): Promise<Map<string, QboEntity>> {
  const out = new Map<string, QboEntity>();
  const rows = await api.query(
    spec.entity,
    `SELECT * FROM ${spec.entity} WHERE ${spec.nameField} IN (${[...new Set(names)].map(quote).join(', ')}) MAXRESULTS 1000`,
    ctx.signal,
  );
  for (const e of rows) out.set(String(e[spec.nameField]).toLowerCase(), e);
  return out;
}
