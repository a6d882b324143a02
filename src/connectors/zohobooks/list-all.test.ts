import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../../sync/connector.ts';
import type { ZohoApi } from './api.ts';
import { listAll } from './documents.ts';

/*
 * listAll reads a Zoho list to its end (`page_context.has_more_page`), or refuses it: a lookup that
 * saw only part of a list would book again, a sum would be short.
 */

/** A list of `rows` rows as Zoho pages it, 200 a page; the pages asked for, in order. */
function zoho(rows: number) {
  const asked: string[] = [];
  const api = {
    read: (_path: string, query: Record<string, string | undefined>) => {
      const page = Number(query.page);
      asked.push(String(page));
      const from = (page - 1) * 200;
      const invoices = Array.from({ length: Math.max(0, Math.min(200, rows - from)) }, (_, i) => ({
        invoice_id: String(from + i + 1),
      }));
      return Promise.resolve({ invoices, page_context: { page, per_page: 200, has_more_page: from + 200 < rows } });
    },
  } as unknown as ZohoApi;
  return { api, asked };
}

describe('listAll', () => {
  it('reads every page up to the last', async () => {
    const { api, asked } = zoho(401);
    const rows = await listAll(api, '/invoices', 'invoices', {}, undefined, 3);
    expect(rows.map((r) => r.invoice_id)).toEqual(Array.from({ length: 401 }, (_, i) => String(i + 1)));
    expect(asked).toEqual(['1', '2', '3']);
  });

  it('refuses a list longer than it reads instead of answering part of it', async () => {
    const { api, asked } = zoho(601);
    const failed = await listAll(api, '/invoices', 'invoices', {}, undefined, 3).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect(failed).toMatchObject({ retryable: false, message: expect.stringMatching(/more than 600 rows/) });
    expect(asked).toEqual(['1', '2', '3']);
  });
});
