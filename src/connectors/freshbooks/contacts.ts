import { mapAtMost, retryUnknownOutcome } from '../../sync/remote/at-most.ts';
import type { ItemResult, TargetCallContext, TargetCustomer, TargetProduct } from '../../sync/target.ts';
import { failed, ok } from '../../sync/target.ts';
import { type FbObject, type FreshBooksApi, describe, entity, text } from './api.ts';
import { CODE_PREFIX, clientFields, tagOf, withTag } from './map.ts';
import { SYSTEM } from './settings.ts';

/*
 * Clients and items in FreshBooks. A client is named by its `organization` and carries our
 * customer code as a line of its `note` (FreshBooks has no field for it); an item is named by its
 * `name` and carries our product code as its `sku`. A new one is first looked for by its name
 * (`search[organization_like]`, `search[name]`, matched exactly): one carrying our code, or none,
 * is linked and updated rather than created again (a lost answer, or a client the account already
 * had); one carrying another code is refused, naming it. Because of that lookup, a write whose
 * outcome is unknown is tried again here, a few times.
 */

interface NamedSpec<T> {
  what: string;
  path: string;
  list: string;
  one: string;
  body: string;
  /** The search that narrows the list to the name (matched exactly afterwards). */
  search: (name: string) => Record<string, string>;
  name: (e: FbObject) => string;
  code: (e: FbObject) => string;
  /** The body of a create or an update (`current`: what FreshBooks holds, when it holds it). */
  fields: (item: T, current: FbObject | null) => FbObject;
}

const CLIENT: NamedSpec<TargetCustomer> = {
  what: 'client',
  path: '/users/clients',
  list: 'clients',
  one: 'client',
  body: 'client',
  search: (name) => ({ organization_like: name }),
  name: (e) => text(e.organization),
  code: (e) => tagOf(e.note, CODE_PREFIX),
  fields: (item, current) => ({
    ...clientFields(item.record),
    note: withTag(current ? text(current.note) : '', CODE_PREFIX, item.code),
  }),
};

const ITEM: NamedSpec<TargetProduct> = {
  what: 'item',
  path: '/items/items',
  list: 'items',
  one: 'item',
  body: 'item',
  search: (name) => ({ name }),
  name: (e) => text(e.name),
  code: (e) => text(e.sku),
  fields: (item) => ({ name: item.record.name, sku: item.code }),
};

/** How often a client or item whose write had an unknown outcome is tried again (found by name first). */
const NAMED_ATTEMPTS = 3;

export const upsertClients = (api: FreshBooksApi, ctx: TargetCallContext, items: TargetCustomer[]) =>
  upsertNamed(api, ctx, CLIENT, items);
export const upsertItems = (api: FreshBooksApi, ctx: TargetCallContext, items: TargetProduct[]) =>
  upsertNamed(api, ctx, ITEM, items);

async function upsertNamed<T extends { targetId: string | null; code: string; record: { name: string } }>(
  api: FreshBooksApi,
  ctx: TargetCallContext,
  spec: NamedSpec<T>,
  items: T[],
): Promise<ItemResult[]> {
  // One request a record: one that fails leaves those before it done (mapAtMost says which).
  return mapAtMost(items, 1, (item) =>
    retryUnknownOutcome(() => upsertOne(api, ctx, spec, item), {
      attempts: NAMED_ATTEMPTS,
      signal: ctx.signal,
      log: ctx.log,
      system: SYSTEM,
      what: spec.what,
      by: 'name',
    }),
  );
}

async function upsertOne<T extends { targetId: string | null; code: string; record: { name: string } }>(
  api: FreshBooksApi,
  ctx: TargetCallContext,
  spec: NamedSpec<T>,
  item: T,
): Promise<ItemResult> {
  let targetId = item.targetId;
  let current: FbObject | null = null;
  let outcome: 'created' | 'updated' | 'linked' = 'updated';
  const name = item.record.name.trim().toLowerCase();
  if (targetId) {
    current = await api.byId(`${spec.path}/${encodeURIComponent(targetId)}`, spec.one, ctx.signal);
  } else {
    const rows = await api.listAll(spec.path, spec.list, spec.search(item.record.name), ctx.signal);
    const same = rows.find((r) => spec.name(r).trim().toLowerCase() === name);
    if (same) {
      const theirs = spec.code(same);
      if (theirs && theirs !== item.code)
        return failed({
          code: 'TARGET_REFUSED',
          message: `${SYSTEM} already has a ${spec.what} named "${item.record.name}" with code ${theirs} (ours: ${item.code}); rename one of them`,
          retryable: false,
          field: 'name',
        });
      targetId = text(same.id);
      current = same;
      outcome = 'linked';
    }
  }
  const body = { [spec.body]: spec.fields(item, current) };
  const a = await api.call(
    targetId
      ? { method: 'PUT', path: `${spec.path}/${encodeURIComponent(targetId)}`, json: body }
      : { method: 'POST', path: spec.path, json: body },
    ctx.signal,
  );
  if (!a.ok)
    return failed({
      code: 'TARGET_REFUSED',
      message: `${SYSTEM} refused ${spec.what} "${item.record.name}" (${describe(a)})`,
      retryable: false,
    });
  const e = entity(a.result, spec.one, `${targetId ? 'PUT' : 'POST'} ${spec.path}`);
  return ok(text(e.id), { number: spec.code(e) || item.code, outcome: targetId ? outcome : 'created' });
}
