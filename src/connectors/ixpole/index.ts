import { z } from 'zod';
import type { Logger } from 'pino';
import { registerSource } from '../../sync/registry.ts';
import type { CanonicalCustomer, CanonicalProduct } from '../../sync/canonical.ts';
import {
  ConnectorError,
  type Lookup,
  type SourceConnector,
  type SourceContext,
  type SourceItem,
  type SourcePage,
  type WriteBackItem,
} from '../../sync/connector.ts';
import type { Pipeline } from '../../sync/pipelines.ts';
import { IxpoleClient, SYSTEM } from './client.ts';
import { IxpolePage, instalmentItem, mapCustomer, mapProduct } from './map.ts';

/** The `source` block of an iXpole pipeline. The retry knobs exist so tests and odd servers can tune them. */
export const IxpoleSourceConfig = z.strictObject({
  baseUrl: z.url({ protocol: /^https?$/ }).max(2000),
  apiKey: z.string().min(1),
  timeoutMs: z.number().int().positive().optional(),
  maxAttempts: z.number().int().min(1).max(20).optional(),
  backoffBaseMs: z.number().int().nonnegative().optional(),
  backoffMaxMs: z.number().int().nonnegative().optional(),
  retryAfterMaxMs: z.number().int().nonnegative().optional(),
});
export type IxpoleSourceConfig = z.output<typeof IxpoleSourceConfig>;

/**
 * A run reads the list again from page 1 after reaching its end, when it has handed anything to
 * the engine on the way (see pages()); this bounds how often, should new instalments keep coming.
 */
const MAX_PASSES = 4;

/** The PUT api/instalments element for a write-back item (null for kinds that go elsewhere). */
export function instalmentUpdate(item: WriteBackItem): Record<string, string | null> | null {
  if (item.kind === 'invoice') {
    return {
      InstalmentCode: item.sourceId,
      InvoiceNumber: item.number,
      InvoiceDueDate: item.dueDate || null,
      ...(item.pdfBase64 ? { Pdf: item.pdfBase64 } : {}),
    };
  }
  if (item.kind === 'payment') return { InstalmentCode: item.sourceId, PaymentNo: item.paymentReference };
  return null;
}

export interface IxpoleSourceOptions {
  config: Record<string, unknown>;
  pageSize?: number | undefined;
  log: Logger;
}

/**
 * The iXpole source: instalments not yet invoiced become invoices; customers and products are
 * fetched when an instalment names one the ledger does not know; invoice numbers, due dates,
 * PDFs, payments and assigned customer codes are written back.
 */
export function createIxpoleSource(o: IxpoleSourceOptions): SourceConnector {
  const parsed = IxpoleSourceConfig.safeParse(o.config);
  let client: IxpoleClient | null = null;
  // A bad config fails the run that uses it, not the factory: the worker builds every pipeline's
  // source to flush write-back, and one misconfigured pipeline must not stop the others.
  const http = (): IxpoleClient => {
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConnectorError(
        SYSTEM,
        `the pipeline's source config is not valid: ${issue.path.join('.')}: ${issue.message}`,
        { retryable: false },
      );
    }
    client ??= new IxpoleClient({ ...parsed.data, log: o.log });
    return client;
  };
  const sizeParam = o.pageSize ? `&pageSize=${o.pageSize}` : '';

  async function lookup<T>(
    what: 'customer' | 'product',
    path: string,
    id: string,
    map: (raw: unknown) => { ok: true; value: T } | { ok: false; message: string },
  ): Promise<Lookup<T>> {
    const res = await http().request('GET', path);
    if (res.status === 404) return { missing: `iXpole has no ${what} ${id} (404)` };
    if (res.status >= 300) throw http().refusal('GET', path, res);
    const m = map(res.body);
    if (!m.ok) return { missing: `iXpole ${what} ${id} is not valid: ${m.message}` };
    return { found: m.value };
  }

  return {
    type: 'ixpole',
    writeBackKinds: ['invoice', 'payment', 'customer-code'],

    /**
     * Pages through GET api/instalments. iXpole drops an instalment from the list once it is
     * invoiced, and the engine writes back after every page, so the list shrinks under the
     * reader: page 2 after page 1 was invoiced holds what was page 3. So after handing over a page
     * this reads the same page again, and moves on only when a page holds nothing new (items
     * parked, or not yet written back, stay listed). Removals before the reader's position can
     * still shift an item past it, so a pass that handed anything over is followed by one more
     * from page 1; a pass from page 1 that finds nothing new ends the run. The set of codes seen
     * in this run (strings only) is what keeps a parked or repeated item from going round again.
     */
    async *pages(ctx: SourceContext, cursor: string | null): AsyncIterable<SourcePage> {
      const api = http();
      const start = cursor && /^[1-9]\d{0,8}$/.test(cursor) ? Number(cursor) : 1;
      const seen = new Set<string>();
      let page = start;
      let fromFirst = start === 1;
      let handedOver = false;
      let passes = 1;
      for (;;) {
        const path = `api/instalments?page=${page}${sizeParam}`;
        const body = await api.expectOk('GET', path, undefined, ctx.signal);
        const p = IxpolePage.safeParse(body);
        if (!p.success) {
          // A body that is not a page at all (an HTML error page behind a 200) may be a passing fault.
          throw new ConnectorError(
            SYSTEM,
            `GET ${path} answered something that is not a page of instalments (${p.error.issues[0]?.message ?? 'invalid'})`,
            {
              status: 200,
              retryable: true,
            },
          );
        }
        const items: SourceItem[] = [];
        p.data.items.forEach((raw, index) => {
          const item = instalmentItem(raw, { page, index });
          const id = 'record' in item ? item.record.sourceId : item.invalid.sourceId;
          if (seen.has(id)) return;
          seen.add(id);
          items.push(item);
        });
        if (items.length > 0) {
          handedOver = true;
          yield { items, cursor: String(page) };
          continue;
        }
        const next = p.data.nextPage ?? null;
        if (next !== null && next > page) {
          page = next;
          continue;
        }
        if (next !== null)
          ctx.log.warn(
            { page, nextPage: next },
            'iXpole named a next page that does not follow; treating the list as ended',
          );
        if ((fromFirst && !handedOver) || passes >= MAX_PASSES) return;
        passes++;
        page = 1;
        fromFirst = true;
        handedOver = false;
      }
    },

    // One instalment of the first page: the smallest read the API key must be good for.
    async checkConnection(ctx: SourceContext): Promise<string> {
      await http().expectOk('GET', 'api/instalments?page=1&pageSize=1', undefined, ctx.signal);
      return 'the instalments list (one record)';
    },

    customer(id: string): Promise<Lookup<CanonicalCustomer>> {
      return lookup('customer', `api/customer/${encodeURIComponent(id)}`, id, (raw) => {
        const m = mapCustomer(raw);
        // The engine files the customer under the id the instalment named, whatever the body says.
        return m.ok ? { ok: true, value: { ...m.value, sourceId: id } } : m;
      });
    },

    product(id: string): Promise<Lookup<CanonicalProduct>> {
      return lookup('product', `api/products/${encodeURIComponent(id)}`, id, (raw) => {
        const m = mapProduct(raw);
        return m.ok ? { ok: true, value: { ...m.value, sourceId: id } } : m;
      });
    },

    /**
     * One PUT api/instalments for the group's invoice and payment items (iXpole matches each on
     * its InstalmentCode and updates only the fields given), then a PATCH per customer code. Both
     * are idempotent, so the engine may send a group again after a failure.
     */
    async writeBack(items: WriteBackItem[]): Promise<void> {
      const api = http();
      const updates = items.map(instalmentUpdate).filter((u): u is Record<string, string | null> => u !== null);
      if (updates.length > 0) await api.expectOk('PUT', 'api/instalments', updates);
      for (const item of items) {
        if (item.kind !== 'customer-code') continue;
        const path = `api/customers/${encodeURIComponent(item.sourceId)}`;
        const res = await api.request('PATCH', path, { CustomerCode: item.code });
        if (res.status === 404) {
          // The engine reports a group as a whole: failing it here would mark the instalments
          // just written as failed too. A customer iXpole no longer has needs no code.
          o.log.warn(
            { customerId: item.sourceId, code: item.code },
            'iXpole no longer has this customer; its ledger code was not written back',
          );
          continue;
        }
        if (res.status >= 300) throw api.refusal('PATCH', path, res);
      }
    },
  };
}

registerSource(
  'ixpole',
  (pipeline: Pipeline, deps) =>
    createIxpoleSource({
      config: pipeline.sourceConfig,
      pageSize: pipeline.options.pageSize,
      log: deps.log.child({ source: 'ixpole' }),
    }),
  {
    settings: IxpoleSourceConfig,
    secrets: ['apiKey'],
    outbound: (s) => [{ field: 'baseUrl', url: String(s.baseUrl) }],
  },
);
