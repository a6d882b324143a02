import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardProbes } from '../bench/dashboard.ts';
import { STATEMENT_PROBE_PREFIX, reportProbes } from '../bench/dashboard-reports.ts';
import { LARGE_CUSTOMER, type SeededBooks, booksProblems, seedDashboard } from '../bench/dashboard-seed.ts';
import type { Database } from '../src/db/database.ts';
import { today } from '../src/domain/dates.ts';
import { listOpenItems } from '../src/ledger/reports/open-items.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import { createTestDatabase } from './helpers/db.ts';

/*
 * Keeps `npm run bench`'s dashboard section from rotting: its bulk seed, at a tiny size, must leave
 * books the ledger's own reports call coherent, with the mix the bench claims, and every probe must
 * run. Nothing here is timed: the figures are the bench's business.
 */

let db: Database;
let books: SeededBooks;
const box = SecretBox.generate();
const now = new Date();

beforeAll(async () => {
  db = await createTestDatabase();
  books = await seedDashboard(db, box, 'DASHT', { transactions: 2000, chunk: 400, today: today(now) });
}, 60_000);
afterAll(async () => db?.close());

describe('the dashboard bench seed', () => {
  it('leaves coherent books: trial balance, debtors control = open items, no allocation beyond a document', async () => {
    expect(await booksProblems(db, books.entity.id, today(now))).toEqual([]);
  });

  it('writes the mix it claims: about N transactions, most invoices paid, a few open, credit notes allocated', async () => {
    expect(books.transactions).toBeGreaterThan(1900);
    expect(books.transactions).toBeLessThan(2100);
    const { rows } = await db.query<{ type: string; n: string }>(
      `SELECT type, count(*) AS n FROM transactions WHERE entity_id = $1 GROUP BY type ORDER BY type`,
      [books.entity.id],
    );
    const n = Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
    expect(n.SI).toBe(books.invoices);
    expect(n.SN).toBeGreaterThan(books.invoices / 25);
    expect(n.SR).toBeGreaterThan(books.invoices * 0.9);
    const open = (await listOpenItems(db, books.entity.id, today(now))).filter((i) => i.type === 'SI');
    expect(open.length / books.invoices).toBeGreaterThan(0.02);
    expect(open.length / books.invoices).toBeLessThan(0.08);
    const large = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM transactions WHERE entity_id = $1 AND customer_code = $2`,
      [books.entity.id, LARGE_CUSTOMER],
    );
    expect(Number(large.rows[0]!.n)).toBeGreaterThan(books.transactions / 30);
    expect(books.runs).toBeGreaterThan(0);
    expect(books.exceptions).toBeGreaterThan(0);
  });

  it('runs every probe against the seeded entity', async () => {
    const probes = await dashboardProbes(db, box, books.entity.id, now);
    expect(probes.length).toBeGreaterThan(20);
    for (const p of probes) await expect(p.run(), p.name).resolves.toBeDefined();
  });

  it('times the reports through the real API routes, each answering 200 with a body', async () => {
    const api = await reportProbes(db, books.entity.id);
    try {
      expect(api.probes.map((p) => p.name).filter((n) => n.startsWith(STATEMENT_PROBE_PREFIX))).toHaveLength(2);
      // A probe resolves to the answer's length and throws on anything but 200.
      for (const p of api.probes) expect(await p.run(), p.name).toBeGreaterThan(10);
    } finally {
      await api.close();
    }
  });
});
