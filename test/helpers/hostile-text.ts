import { expect } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { SyncService } from '../../src/sync/service.ts';
import { definePipeline } from './sync.ts';

/*
 * Hostile text in every field a user (or a source) can set that the API, the PDFs and the dashboard
 * show (issue #14), stored through the API and the sync engine: test/hostile-text.test.ts checks the
 * API, the PDFs and the pages' HTML, test/browser/hostile-text.test.ts the pages in Chromium.
 */

/** What a payload does when it runs: sets this flag (the tests read it, it must stay undefined). */
export const PWN = 'window.__pwned=1';

export const HOSTILE = {
  script: `<script>${PWN}</script>`,
  img: `"><img src=x onerror="${PWN}">`,
  svg: `'><svg onload=${PWN}>`,
  jsUrl: `javascript:${PWN}`,
  rtl: 'Zoë \u202egnp.exe\u202c Łódź',
  sql: "Robert'); DROP TABLE customers; --",
  /** Only where the schema lets them in (descriptions, references): names and addresses refuse them. */
  control: 'bell\u0007 esc\u001b[31m del\u007f',
};

/** The customer whose every text field is hostile, and the one whose are as long as allowed, without spaces. */
export const HOSTILE_CUSTOMER = {
  code: 'HOSTILE',
  body: {
    name: `Acme ${HOSTILE.img} ${HOSTILE.rtl}`,
    email: `"><script>${PWN}</script>@example.org`,
    phone: HOSTILE.svg,
    vatNumber: '<i>BE0123</i>',
    notes: `${HOSTILE.script}\n${HOSTILE.sql}\n${HOSTILE.img}`,
    address: { street: HOSTILE.script, city: HOSTILE.sql, postalCode: '<b>9000</b>', country: HOSTILE.jsUrl },
    creditTerms: { days: 30 },
  },
};
export const LONG_CUSTOMER = {
  code: 'LONGNAME',
  body: {
    name: 'W'.repeat(200),
    address: { street: 'S'.repeat(200), city: 'C'.repeat(100), postalCode: 'P'.repeat(20), country: 'K'.repeat(100) },
    notes: 'N'.repeat(2000),
    creditTerms: { days: 30 },
  },
};

export const HOSTILE_INVOICE = {
  customerCode: HOSTILE_CUSTOMER.code,
  invoiceDate: '2026-11-01',
  externalReference: HOSTILE.img,
  description: `${HOSTILE.script} ${HOSTILE.control} ${HOSTILE.rtl}`,
  lines: [
    {
      glAccountCode: '4000',
      taxCode: 'STD',
      description: `${HOSTILE.sql} ${HOSTILE.jsUrl}`,
      netAmount: '100.00',
      taxRate: '0.21',
    },
  ],
};
export const LONG_INVOICE = {
  customerCode: LONG_CUSTOMER.code,
  invoiceDate: '2026-11-02',
  externalReference: 'R'.repeat(50),
  description: 'D'.repeat(500),
  lines: [{ glAccountCode: '4000', taxCode: 'STD', description: 'L'.repeat(500), netAmount: '10.00', taxRate: '0.21' }],
};

export const HOSTILE_ITEM = { code: 'HOSTILEITEM', description: `${HOSTILE.svg} ${HOSTILE.script}` };

/** The records a source sent that were parked: one the engine refused, one the connector could not read. */
export const HOSTILE_SOURCE_IDS = { unknownCustomer: HOSTILE.img, unreadable: `<b>${HOSTILE.sql}</b>` };

export type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

export interface HostileData {
  invoiceId: number;
  longInvoiceId: number;
  itemInvoiceId: number;
  exceptionIds: number[];
  runId: string;
}

/** Stores all of it for the entity `entityCode` through `api` (its owner's session) and the sync engine. */
export async function storeHostileText(
  api: Api,
  db: Database,
  sync: SyncService,
  entityCode: string,
): Promise<HostileData> {
  const ok = (r: { status: number; body: any }, what: string) => {
    expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    return r.body;
  };
  for (const c of [HOSTILE_CUSTOMER, LONG_CUSTOMER]) ok(await api('PUT', `/v1/customers/${c.code}`, c.body), c.code);
  const invoice = ok(await api('POST', '/v1/sales/batch-invoices', HOSTILE_INVOICE), 'hostile invoice');
  const long = ok(await api('POST', '/v1/sales/batch-invoices', LONG_INVOICE), 'long invoice');
  ok(
    await api('PUT', `/v1/items/${HOSTILE_ITEM.code}`, {
      description: HOSTILE_ITEM.description,
      glAccountCode: '4000',
      taxCode: 'STD',
    }),
    'item',
  );
  const draft = ok(
    await api('POST', '/v1/sales/invoices', {
      customerCode: HOSTILE_CUSTOMER.code,
      date: '2026-11-03',
      orderNumber: HOSTILE.svg.slice(0, 50),
      lines: [{ itemCode: HOSTILE_ITEM.code, quantity: '2', unitPrice: '12.50', note: HOSTILE.script }],
    }),
    'item invoice',
  );
  const posted = ok(await api('POST', `/v1/sales/invoices/${draft.draftId}/post`, {}), 'item invoice post');

  const pipeline = await definePipeline(db, entityCode, { name: 'hostile', source: { type: 'records' } });
  const runId = await sync.processRecords(pipeline, 'manual', 'test', [
    {
      record: {
        kind: 'invoice',
        sourceId: HOSTILE_SOURCE_IDS.unknownCustomer,
        externalReference: HOSTILE_SOURCE_IDS.unknownCustomer,
        customerSourceId: HOSTILE.script,
        invoiceDate: '2026-11-04',
        dueDate: null,
        currency: 'EUR',
        description: HOSTILE.svg,
        lines: [{ description: HOSTILE.jsUrl, netAmount: '5.00', vatRate: '0.21', vatAmount: null }],
      },
    },
    {
      invalid: {
        kind: 'invoice',
        sourceId: HOSTILE_SOURCE_IDS.unreadable,
        reasonCode: 'SOURCE_ITEM_INVALID',
        message: `Row ${HOSTILE.rtl} is not valid: amount ${HOSTILE.img}`,
        field: HOSTILE.svg,
        payload: { amount: HOSTILE.script },
      },
    },
  ]);
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM exceptions WHERE run_id = $1 ORDER BY id`, [runId]);
  expect(rows, 'both records are parked').toHaveLength(2);
  return {
    invoiceId: invoice.transactionId,
    longInvoiceId: long.transactionId,
    itemInvoiceId: posted.transactionId,
    exceptionIds: rows.map((r) => Number(r.id)),
    runId,
  };
}
