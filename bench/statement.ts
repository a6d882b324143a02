import type { Database } from '../src/db/database.ts';
import type { EntityClient } from './harness.ts';
import { type Distribution, distribution, progress, rate, timed } from './stats.ts';

export const STATEMENT_CUSTOMER = 'BIG';
export const STATEMENT_UP_TO = '2026-12-31';
const CHUNK = 2000;

export type StatementResult =
  | {
      measured: true;
      openItems: number;
      seedMs: number;
      responseBytes: number;
      warmupRequests: number;
      ms: Distribution;
    }
  | { measured: false; openItems: number; seedMs: number; reason: string };

const RESERVE = `INSERT INTO document_sequences (entity_id, type, last_number) VALUES ($1, $2, $3)
  ON CONFLICT (entity_id, type) DO UPDATE SET last_number = document_sequences.last_number + EXCLUDED.last_number
  RETURNING last_number - $3 AS before`;

/**
 * Gives customer BIG `count` open invoices straight in SQL, set-based, `CHUNK` at a time: each
 * with its item and balanced journal, dated over two years; every tenth is half paid by a receipt
 * allocated to it (so the statement's allocation join has work), which leaves all invoices open.
 */
export async function seedStatementCustomer(db: Database, entityId: string, count: number): Promise<void> {
  await db.query(
    `INSERT INTO customers (entity_id, code, name, currency, control_gl_account_code) VALUES ($1, $2, 'Big customer', 'EUR', '1100')`,
    [entityId, STATEMENT_CUSTOMER],
  );
  const started = performance.now();
  for (let from = 0; from < count; from += CHUNK) {
    const size = Math.min(CHUNK, count - from);
    await db.transaction(async (tx) => {
      const si = await tx.query<{ before: string }>(RESERVE, [entityId, 'SI', size]);
      const { rows } = await tx.query<{ id: string }>(
        `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                                   due_date, external_reference, description, net, tax, gross, base_gross, duplicate_checked,
                                   created_by)
         SELECT $1, 'SI', 'debit', $2::bigint + g, $3, 'EUR', 1, x.d, x.d + 30, 'BIG-' || ($4::int + g),
                'Statement bench invoice', x.net, y.tax, x.net + y.tax, x.net + y.tax, true, 'bench:seed'
           FROM generate_series(1, $5::int) AS g,
                LATERAL (SELECT date '2025-01-01' + (($4::int + g) % 700) AS d,
                                (1000 + (($4::int + g) * 7919) % 50000)::bigint AS net) x,
                LATERAL (SELECT (x.net * 21 + 50) / 100 AS tax) y
         RETURNING id`,
        [entityId, si.rows[0]!.before, STATEMENT_CUSTOMER, from, size],
      );
      const ids = rows.map((r) => r.id);
      await tx.query(
        `INSERT INTO transaction_items (transaction_id, line_no, entity_id, gl_account_code, tax_code, tax_rate, description, net, tax)
         SELECT id, 1, entity_id, '4000', 'STD', 0.21, 'Goods', net, tax FROM transactions WHERE id = ANY($1::bigint[])`,
        [ids],
      );
      await tx.query(
        `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, tax_code, description, amount, base_amount)
         SELECT t.id, t.entity_id, l.line_no, l.role, l.gl, l.tax_code, l.descr, l.amount, l.amount
           FROM transactions t,
                LATERAL (VALUES (1, 'control', '1100', NULL, t.description, t.gross),
                                (2, 'net', '4000', 'STD', 'Goods', -t.net),
                                (3, 'tax', '2200', 'STD', 'Tax STD', -t.tax)) AS l(line_no, role, gl, tax_code, descr, amount)
          WHERE t.id = ANY($1::bigint[])`,
        [ids],
      );
      const paid = Math.floor(size / 10);
      const sr = await tx.query<{ before: string }>(RESERVE, [entityId, 'SR', paid]);
      const receipts = await tx.query<{ id: string }>(
        `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                                   external_reference, description, net, tax, gross, base_gross, duplicate_checked, created_by)
         SELECT $1, 'SR', 'credit', $2::bigint + row_number() OVER (ORDER BY i.id), i.customer_code, 'EUR', 1,
                i.transaction_date + 10, 'BIGPAY-' || i.id, 'Statement bench receipt', i.gross / 2, 0, i.gross / 2,
                i.gross / 2, true, 'bench:seed'
           FROM transactions i
          WHERE i.id = ANY($3::bigint[]) AND i.number % 10 = 0
         RETURNING id`,
        [entityId, sr.rows[0]!.before, ids],
      );
      if (receipts.rows.length !== paid) throw new Error(`seeded ${receipts.rows.length} receipts, expected ${paid}`);
      await tx.query(
        `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, description, amount, base_amount)
         SELECT r.id, r.entity_id, l.line_no, l.role, l.gl, r.description, l.amount, l.amount
           FROM transactions r,
                LATERAL (VALUES (1, 'control', '1100', -r.gross), (2, 'bank', '1200', r.gross)) AS l(line_no, role, gl, amount)
          WHERE r.id = ANY($1::bigint[])`,
        [receipts.rows.map((r) => r.id)],
      );
      await tx.query(
        `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount,
                                  debit_base_amount, credit_base_amount, allocation_date, reference, created_by)
         SELECT r.entity_id, r.customer_code, i.id, r.id, r.gross, r.gross, r.gross, r.transaction_date, r.external_reference,
                'bench:seed'
           FROM transactions r JOIN transactions i ON 'BIGPAY-' || i.id = r.external_reference
          WHERE r.id = ANY($1::bigint[]) AND i.id = ANY($2::bigint[])`,
        [receipts.rows.map((r) => r.id), ids],
      );
    });
    const done = from + size;
    progress(`statement seed: ${done}/${count} invoices (${rate(done, performance.now() - started)}/s)`);
  }
}

/** Seeds BIG, then times `GET /v1/customers/BIG/statement` after a few warm-up requests. */
export async function runStatement(
  db: Database,
  client: EntityClient,
  openItems: number,
  warmup: number,
  count: number,
): Promise<StatementResult> {
  const [, seedMs] = await timed(() => seedStatementCustomer(db, client.entityId, openItems));
  const url = `/v1/customers/${STATEMENT_CUSTOMER}/statement?upTo=${STATEMENT_UP_TO}`;
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < warmup + count; i++) {
    const [res, ms] = await timed(() => client.request('GET', url));
    if (res.status !== 200) {
      const reason =
        res.status === 404 && res.body.includes('ROUTE_NOT_FOUND')
          ? `GET /v1/customers/{code}/statement does not exist yet (404 ROUTE_NOT_FOUND)`
          : `GET ${url} answered ${res.status}: ${res.body.slice(0, 300)}`;
      return { measured: false, openItems, seedMs: Math.round(seedMs), reason };
    }
    if (i === 0) {
      const body = JSON.parse(res.body) as { openItems?: unknown[] };
      const n = body.openItems?.length;
      if (n !== openItems) throw new Error(`the statement lists ${n} open items, expected ${openItems}`);
      bytes = Buffer.byteLength(res.body);
    }
    if (i >= warmup) samples.push(ms);
  }
  return {
    measured: true,
    openItems,
    seedMs: Math.round(seedMs),
    responseBytes: bytes,
    warmupRequests: warmup,
    ms: distribution(samples),
  };
}
