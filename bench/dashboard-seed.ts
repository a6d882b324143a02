/**
 * Books of one entity at dashboard scale, seeded set-based in SQL (`generate_series`, INSERT …
 * SELECT) into the real tables and through their triggers: the balance check on every journal, the
 * allocation limit, the credit-note bound, the date rules and the control-account check all run on
 * every row written here. Posting a million documents through the API would take hours; this takes
 * minutes, chunk by chunk, each chunk one transaction.
 *
 * What one posted document consists of (as src/ledger/posting writes it):
 * - invoice (SI): the transaction, one item line (4000, STD 21 %), a journal of control 1100 (+gross),
 *   sales 4000 (−net) and VAT 2200 (−tax);
 * - credit note (SN) raised from an invoice: the same, signs reversed, `related_transaction_id` set,
 *   allocated to its invoice;
 * - receipt (SR): the transaction, a journal of control 1100 (−gross) and bank 1200 (+gross), its
 *   bank account in `details`, allocated to the invoice it pays (some stay on account);
 * - `document_sequences` holding the last number of each type.
 *
 * The mix, per invoice g (of about transactions ÷ 2): 5 % of invoices go to one large customer,
 * the rest across 4,999 typical ones; one in 20 has a credit note for a quarter of it; invoices
 * are paid 10–59 days after their date unless that is after today (recent ones are open), one in
 * 50 is never paid and one in 50 is half paid; one in 997 brings a receipt left on account. Dates
 * run evenly over five years up to today. Amounts are exact integers (minor units of EUR).
 */
import type { Database, Queryable, SqlParam } from '../src/db/database.ts';
import { type EntityContext, createEntity } from '../src/ledger/entities.ts';
import { controlReconciliation } from '../src/ledger/reports/revaluation.ts';
import { trialBalance } from '../src/ledger/reports/trial-balance.ts';
import { PipelineDefinition, savePipeline } from '../src/sync/pipelines.ts';
import type { SecretBox } from '../src/sync/secrets.ts';
import '../src/connectors/all.ts';

export const LARGE_CUSTOMER = 'K00000';
export const TYPICAL_CUSTOMER = 'K01234';
export const CUSTOMERS = 5000;
export const PIPELINES = ['shop-orders', 'stripe-payments', 'crm-customers', 'csv-imports'] as const;
/** The run with many records (a backfill), whose detail pages the bench reads deep into. */
export const BACKFILL_SOURCE_PREFIX = 'backfill-';
const ACTOR = 'bench:dashboard';
/** Transactions per invoice on average: the invoice, its receipt (most), a credit note (one in 20). */
const PER_INVOICE = 2.02;

export interface SeedOptions {
  transactions: number;
  /** Invoices per chunk (one transaction each). */
  chunk?: number;
  /** Today's date, YYYY-MM-DD: the last invoices are dated on it. */
  today: string;
  progress?: (message: string) => void;
}

export interface SeededBooks {
  entity: EntityContext;
  invoices: number;
  transactions: number;
  journalLines: number;
  allocations: number;
  runs: number;
  runRecords: number;
  exceptions: number;
  outbox: number;
  audit: number;
  seedMs: number;
}

const DETAILS = JSON.stringify({ bankAccountCode: 'BANK', bankCurrency: 'EUR', bankExchangeRate: '1' });

async function count(db: Queryable, sql: string, params: readonly SqlParam[]): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `WITH ins AS (${sql} RETURNING 1) SELECT count(*) AS n FROM ins`,
    params,
  );
  return Number(rows[0]!.n);
}

/** One chunk of invoices g in (from, from + size], with their credit notes, receipts and allocations. */
async function seedChunk(
  tx: Queryable,
  e: string,
  p: { from: number; size: number; invoices: number; start: string; span: number; today: string },
  numbers: { sn: number; sr: number },
): Promise<void> {
  const { from, size } = p;
  // Invoice g has number g: the entity is fresh and this is its only writer.
  await tx.query(
    `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                               due_date, external_reference, description, net, tax, gross, base_gross, duplicate_checked,
                               created_by)
     SELECT $1, 'SI', 'debit', g, x.customer, 'EUR', 1, x.d, x.d + 30, 'INV-' || g, 'Goods and services, order ' || g,
            x.net, y.tax, x.net + y.tax, x.net + y.tax, true, '${ACTOR}'
       FROM generate_series($2::int + 1, $2::int + $3::int) AS g,
            LATERAL (SELECT $5::date + (g::bigint * $6::int / $4::int)::int AS d,
                            CASE WHEN g % 20 = 1 THEN '${LARGE_CUSTOMER}'
                                 ELSE 'K' || lpad((1 + (g::bigint * 7919) % ${CUSTOMERS - 1})::text, 5, '0') END AS customer,
                            (1000 + (g::bigint * 7919) % 250000)::bigint AS net) x,
            LATERAL (SELECT (x.net * 21 + 50) / 100 AS tax) y`,
    [e, from, size, p.invoices, p.start, p.span],
  );
  // The first chunk plans its joins on tables the statistics still think empty (nested loops over
  // sequential scans, a minute per chunk): statistics now, inside the transaction, which counts its own rows.
  const analyze = from === 0 ? () => tx.exec('ANALYZE transactions, allocations') : async () => undefined;
  await analyze();
  const chunkSi = `t.entity_id = $1 AND t.type = 'SI' AND t.number > $2::bigint AND t.number <= $2::bigint + $3::int`;
  await tx.query(
    `INSERT INTO transaction_items (transaction_id, line_no, entity_id, gl_account_code, tax_code, tax_rate, description, net, tax)
     SELECT t.id, 1, t.entity_id, '4000', 'STD', 0.21, 'Goods', t.net, t.tax FROM transactions t WHERE ${chunkSi}`,
    [e, from, size],
  );
  await tx.query(
    `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, tax_code, description, amount, base_amount)
     SELECT t.id, t.entity_id, l.line_no, l.role, l.gl, l.tax_code, l.descr, l.amount, l.amount
       FROM transactions t,
            LATERAL (VALUES (1, 'control', '1100', NULL, t.description, t.gross),
                            (2, 'net', '4000', 'STD', 'Goods', -t.net),
                            (3, 'tax', '2200', 'STD', 'Tax STD', -t.tax)) AS l(line_no, role, gl, tax_code, descr, amount)
      WHERE ${chunkSi}`,
    [e, from, size],
  );

  // Credit notes: a quarter of one invoice in 20, five days after it.
  const sn = await count(
    tx,
    `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                               external_reference, description, net, tax, gross, base_gross, duplicate_checked,
                               related_transaction_id, created_by)
     SELECT $1, 'SN', 'credit', $4::bigint + row_number() OVER (ORDER BY t.id), t.customer_code, 'EUR', 1,
            t.transaction_date + 5, 'CN-' || t.number, 'Credit for returned goods', c.net, c.tax, c.net + c.tax,
            c.net + c.tax, true, t.id, '${ACTOR}'
       FROM transactions t, LATERAL (SELECT t.net / 4 AS net, (t.net / 4 * 21 + 50) / 100 AS tax) c
      WHERE ${chunkSi} AND t.number % 20 = 0 AND t.transaction_date + 5 <= $5::date`,
    [e, from, size, numbers.sn, p.today],
  );
  await analyze();
  const chunkSn = `n.entity_id = $1 AND n.type = 'SN' AND n.number > $2::bigint AND n.number <= $2::bigint + $3::int`;
  await tx.query(
    `INSERT INTO transaction_items (transaction_id, line_no, entity_id, gl_account_code, tax_code, tax_rate, description, net, tax)
     SELECT n.id, 1, n.entity_id, '4000', 'STD', 0.21, 'Returned goods', n.net, n.tax FROM transactions n WHERE ${chunkSn}`,
    [e, numbers.sn, sn],
  );
  await tx.query(
    `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, tax_code, description, amount, base_amount)
     SELECT n.id, n.entity_id, l.line_no, l.role, l.gl, l.tax_code, l.descr, l.amount, l.amount
       FROM transactions n,
            LATERAL (VALUES (1, 'control', '1100', NULL, n.description, -n.gross),
                            (2, 'net', '4000', 'STD', 'Returned goods', n.net),
                            (3, 'tax', '2200', 'STD', 'Tax STD', n.tax)) AS l(line_no, role, gl, tax_code, descr, amount)
      WHERE ${chunkSn}`,
    [e, numbers.sn, sn],
  );
  await tx.query(
    `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount,
                              debit_base_amount, credit_base_amount, allocation_date, reference, created_by)
     SELECT n.entity_id, n.customer_code, n.related_transaction_id, n.id, n.gross, n.gross, n.gross, n.transaction_date,
            n.external_reference, '${ACTOR}'
       FROM transactions n WHERE ${chunkSn}`,
    [e, numbers.sn, sn],
  );

  // Receipts: what is left of the invoice, 10–59 days after it, unless that is after today; one in 50
  // never paid, one in 50 half paid. One in 997 invoices brings a receipt left on account.
  const sr = await count(
    tx,
    `INSERT INTO transactions (entity_id, type, side, number, customer_code, currency, exchange_rate, transaction_date,
                               external_reference, description, net, tax, gross, base_gross, duplicate_checked, details,
                               created_by)
     SELECT $1, 'SR', 'credit', $4::bigint + row_number() OVER (ORDER BY t.id, k.kind), t.customer_code, 'EUR', 1,
            t.transaction_date + k.delay, k.kind || t.number, 'Bank transfer', k.amount, 0, k.amount, k.amount, true,
            $6::jsonb, '${ACTOR}'
       FROM transactions t
       LEFT JOIN transactions n ON n.entity_id = $1 AND n.related_transaction_id = t.id AND n.type = 'SN'
      CROSS JOIN LATERAL (
            SELECT 'PAY-' AS kind, (10 + (t.number * 31) % 50)::int AS delay,
                   CASE WHEN t.number % 50 = 25 THEN (t.gross - coalesce(n.gross, 0)) / 2
                        ELSE t.gross - coalesce(n.gross, 0) END AS amount
             WHERE t.number % 50 <> 0
            UNION ALL
            SELECT 'OA-', 3, 5000 WHERE t.number % 997 = 0) k
      WHERE ${chunkSi} AND t.transaction_date + k.delay <= $5::date AND k.amount > 0`,
    [e, from, size, numbers.sr, p.today, DETAILS],
  );
  await analyze();
  const chunkSr = `r.entity_id = $1 AND r.type = 'SR' AND r.number > $2::bigint AND r.number <= $2::bigint + $3::int`;
  await tx.query(
    `INSERT INTO journal_lines (transaction_id, entity_id, line_no, role, gl_account_code, description, amount, base_amount)
     SELECT r.id, r.entity_id, l.line_no, l.role, l.gl, r.description, l.amount, l.amount
       FROM transactions r,
            LATERAL (VALUES (1, 'control', '1100', -r.gross), (2, 'bank', '1200', r.gross)) AS l(line_no, role, gl, amount)
      WHERE ${chunkSr}`,
    [e, numbers.sr, sr],
  );
  await tx.query(
    `INSERT INTO allocations (entity_id, customer_code, debit_transaction_id, credit_transaction_id, amount,
                              debit_base_amount, credit_base_amount, allocation_date, reference, created_by)
     SELECT r.entity_id, r.customer_code, i.id, r.id, r.gross, r.gross, r.gross, r.transaction_date, r.external_reference,
            '${ACTOR}'
       FROM transactions r
       JOIN transactions i ON i.entity_id = $1 AND i.type = 'SI' AND i.number = substr(r.external_reference, 5)::bigint
      WHERE ${chunkSr} AND r.external_reference LIKE 'PAY-%'`,
    [e, numbers.sr, sr],
  );
  numbers.sn += sn;
  numbers.sr += sr;
}

/** Customers K00000 … K04999 (K00000 the large one), EUR, the entity's default accounts. */
async function seedCustomers(db: Queryable, e: string): Promise<void> {
  await db.query(
    `INSERT INTO customers (entity_id, code, name, currency, control_gl_account_code, default_tax_code,
                            default_gl_account_code, credit_limit, email, created_at, updated_at)
     SELECT $1, 'K' || lpad(n::text, 5, '0'),
            CASE WHEN n = 0 THEN 'Large Wholesale Ltd' ELSE (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark',
                 'Wayne', 'Tyrell', 'Cyberdyne', 'Hooli', 'Vandelay'])[1 + n % 10] || ' ' ||
                 (ARRAY['Trading', 'Retail', 'Services', 'Holdings', 'Foods', 'Logistics'])[1 + (n / 10) % 6] || ' ' || n END,
            'EUR', '1100', 'STD', '4000', CASE WHEN n % 3 = 0 THEN 1000000 ELSE 0 END,
            'ap' || n || '@customer.example', now() - (n % 1500) * interval '1 day', now() - (n % 300) * interval '1 day'
       FROM generate_series(0, ${CUSTOMERS - 1}) AS n`,
    [e],
  );
}

/**
 * The sync side in proportion: four pipelines; a run every so often (one per 50 invoices, the last
 * day's included), 50 records each plus one backfill run with a record per four invoices; one
 * exception per 100 invoices (a fifth still open); an outbox row per two invoices; an audit row per
 * ten invoices.
 */
async function seedSync(
  db: Database,
  box: SecretBox,
  entity: EntityContext,
  invoices: number,
): Promise<Pick<SeededBooks, 'runs' | 'runRecords' | 'exceptions' | 'outbox' | 'audit'>> {
  const e = entity.id;
  const ids: string[] = [];
  for (const name of PIPELINES) {
    const def = PipelineDefinition.parse({ entity: entity.code, name, source: { type: 'records' } });
    ids.push(await db.transaction(async (tx) => (await savePipeline(tx, box, e, def, 'api')).pipeline.id));
  }
  const runs = Math.max(20, Math.round(invoices / 50));
  const backfillRecords = Math.max(100, Math.round(invoices / 4));
  return db.transaction(async (tx) => {
    // Runs every (two years ÷ runs), newest now; one in 40 partial, one in 97 failed.
    await tx.query(
      `INSERT INTO runs (pipeline_id, entity_id, trigger, status, counts, error, attempts, created_by, created_at,
                         started_at, finished_at, heartbeat_at)
       SELECT ($2::uuid[])[1 + g % 4], $1, CASE WHEN g % 4 = 3 THEN 'import' ELSE 'schedule' END,
              CASE WHEN g % 97 = 0 THEN 'failed' WHEN g % 40 = 0 THEN 'partial' ELSE 'succeeded' END,
              jsonb_build_object('fetched', 50, 'created', 48, 'updated', 1, 'skipped', 0, 'parked', 1, 'writtenBack', 0,
                                 'createdInvoices', 30, 'createdReceipts', 18, 'createdOther', 0),
              CASE WHEN g % 97 = 0 THEN 'source answered 503' END, 1, 'scheduler', x.at, x.at, x.at + interval '40 seconds',
              x.at + interval '40 seconds'
         FROM generate_series(1, $3::int) AS g,
              LATERAL (SELECT now() - (($3::int - g) * (interval '730 days' / $3::int)) - interval '1 minute' AS at) x`,
      [e, ids, runs],
    );
    await tx.query(
      `INSERT INTO runs (pipeline_id, entity_id, trigger, status, counts, attempts, created_by, created_at, started_at,
                         finished_at)
       VALUES ($2, $1, 'manual', 'succeeded',
               jsonb_build_object('fetched', $3::int, 'created', $3::int, 'createdInvoices', $3::int), 1, 'bench:backfill',
               now() - interval '400 days', now() - interval '400 days', now() - interval '399 days')`,
      [e, ids[0]!, backfillRecords],
    );
    const runRecords = await count(
      tx,
      `INSERT INTO run_records (run_id, kind, source_id, outcome, target_id, message, at)
       SELECT r.id, CASE WHEN k % 3 = 0 THEN 'receipt' ELSE 'invoice' END, 'src-' || r.id || '-' || k,
              CASE WHEN k = 50 THEN 'parked' ELSE 'created' END, CASE WHEN k = 50 THEN NULL ELSE (k * 7)::text END,
              CASE WHEN k = 50 THEN 'customer not synced' END, r.created_at + k * interval '10 ms'
         FROM runs r, generate_series(1, 50) AS k
        WHERE r.entity_id = $1 AND r.created_by = 'scheduler'`,
      [e],
    );
    const backfill = await count(
      tx,
      `INSERT INTO run_records (run_id, kind, source_id, outcome, target_id, at)
       SELECT r.id, 'invoice', '${BACKFILL_SOURCE_PREFIX}' || k, 'created', k::text, r.created_at + k * interval '1 ms'
         FROM runs r, generate_series(1, $2::int) AS k
        WHERE r.entity_id = $1 AND r.created_by = 'bench:backfill'`,
      [e, backfillRecords],
    );
    const exceptions = await count(
      tx,
      `INSERT INTO exceptions (pipeline_id, entity_id, kind, source_id, reason_code, message, field, payload, status,
                               attempts, resolved_by, created_at, updated_at, resolved_at)
       SELECT ($2::uuid[])[1 + g % 4], $1, 'invoice', 'ord-' || g,
              (ARRAY['SOURCE_CUSTOMER_NOT_FOUND', 'SOURCE_ITEM_INVALID', 'IMPORT_ROW_INVALID', 'SOURCE_PRODUCT_NOT_FOUND',
                     'INVOICE_ALREADY_POSTED_CHANGED'])[1 + g % 5],
              'The source record could not be posted (seeded ' || g || ')', 'lines[0].amount',
              jsonb_build_object('id', 'ord-' || g, 'total', (g * 37) % 100000),
              CASE WHEN g % 5 = 0 THEN 'open' ELSE 'resolved' END, 1 + g % 3,
              CASE WHEN g % 5 = 0 THEN NULL ELSE 'scheduler' END, x.at, x.at, CASE WHEN g % 5 = 0 THEN NULL ELSE x.at + interval '1 day' END
         FROM generate_series(1, $3::int) AS g,
              LATERAL (SELECT now() - (($3::int - g) * (interval '730 days' / $3::int)) AS at) x`,
      [e, ids, Math.max(20, Math.round(invoices / 100))],
    );
    const outbox = await count(
      tx,
      `INSERT INTO outbox (pipeline_id, kind, source_id, payload, status, attempts, next_attempt_at, created_at, done_at,
                           direction, idempotency_key)
       SELECT ($1::uuid[])[1 + g % 2], 'invoice', 'ord-' || g, jsonb_build_object('number', g),
              CASE WHEN g > $2::int - 20 THEN 'pending' ELSE 'done' END, 1, now(), now() - g * interval '1 minute',
              CASE WHEN g > $2::int - 20 THEN NULL ELSE now() - g * interval '1 minute' END, 'source', 'ob-' || g
         FROM generate_series(1, $2::int) AS g`,
      [ids, Math.max(20, Math.round(invoices / 2))],
    );
    const audit = await count(
      tx,
      `INSERT INTO audit_log (entity_id, at, actor, action, object_type, object_id, before, after)
       SELECT $1, now() - g * interval '5 minutes', CASE WHEN g % 2 = 0 THEN 'scheduler' ELSE 'credential:bench' END,
              CASE WHEN g % 3 = 0 THEN 'transaction.amend' ELSE 'customer.update' END,
              CASE WHEN g % 3 = 0 THEN 'transaction' ELSE 'customer' END,
              CASE WHEN g % 3 = 0 THEN g::text ELSE 'K' || lpad((g % ${CUSTOMERS})::text, 5, '0') END,
              jsonb_build_object('creditLimit', '0'), jsonb_build_object('creditLimit', (g % 100 * 100)::text)
         FROM generate_series(1, $2::int) AS g`,
      [e, Math.max(20, Math.round(invoices / 10))],
    );
    return { runs: runs + 1, runRecords: runRecords + backfill, exceptions, outbox, audit };
  });
}

/** Creates entity `code` and seeds its books and sync history (see the file's comment). */
export async function seedDashboard(
  db: Database,
  box: SecretBox,
  code: string,
  options: SeedOptions,
): Promise<SeededBooks> {
  const started = performance.now();
  const say = options.progress ?? (() => undefined);
  const invoices = Math.max(100, Math.round(options.transactions / PER_INVOICE));
  const chunk = options.chunk ?? 20_000;
  const { entity } = await db.transaction((tx) =>
    createEntity(tx, { code, name: `Dashboard ${code}`, baseCurrency: 'EUR', standardTaxRate: '0.21' }),
  );
  const e = entity.id;
  await seedCustomers(db, e);
  const today = options.today;
  const start = new Date(Date.parse(`${today}T00:00:00Z`) - 5 * 365 * 86_400_000).toISOString().slice(0, 10);
  const span = 5 * 365;
  const numbers = { sn: 0, sr: 0 };
  for (let from = 0; from < invoices; from += chunk) {
    const size = Math.min(chunk, invoices - from);
    await db.transaction((tx) => seedChunk(tx, e, { from, size, invoices, start, span, today }, numbers));
    // Fresh statistics after each chunk: planned as empty, the next chunk's joins nest-loop over sequential scans.
    await db.exec('ANALYZE transactions, transaction_items, journal_lines, allocations');
    const done = from + size;
    const secs = (performance.now() - started) / 1000;
    say(
      `dashboard seed: ${done}/${invoices} invoices, ${done + numbers.sn + numbers.sr} transactions, ${secs.toFixed(0)} s`,
    );
  }
  await db.query(
    `INSERT INTO document_sequences (entity_id, type, last_number)
     SELECT $1, s.type, s.n FROM (VALUES ('SI', $2::bigint), ('SN', $3::bigint), ('SR', $4::bigint)) AS s(type, n) WHERE s.n > 0`,
    [e, invoices, numbers.sn, numbers.sr],
  );
  say('dashboard seed: pipelines, runs, exceptions, outbox, audit');
  const sync = await seedSync(db, box, entity, invoices);
  // As autovacuum leaves a database in use: statistics, and the visibility map index-only scans rely on.
  say('dashboard seed: VACUUM ANALYZE');
  await db.exec('VACUUM ANALYZE');
  const totals = await db.query<{ lines: string; allocations: string }>(
    `SELECT (SELECT count(*) FROM journal_lines WHERE entity_id = $1) AS lines,
            (SELECT count(*) FROM allocations WHERE entity_id = $1) AS allocations`,
    [e],
  );
  return {
    entity,
    invoices,
    transactions: invoices + numbers.sn + numbers.sr,
    journalLines: Number(totals.rows[0]!.lines),
    allocations: Number(totals.rows[0]!.allocations),
    ...sync,
    seedMs: Math.round(performance.now() - started),
  };
}

/** What is wrong with the seeded books by the ledger's own reports: the trial balance and debtors control = open items. */
export async function booksProblems(db: Queryable, entityId: string, today: string): Promise<string[]> {
  const problems: string[] = [];
  const tb = await trialBalance(db, entityId, 'EUR', today);
  if (tb.totals.debit !== tb.totals.credit) {
    problems.push(`trial balance: debits ${tb.totals.debit} ≠ credits ${tb.totals.credit}`);
  }
  const rec = await controlReconciliation(db, entityId, today);
  if (rec.difference !== 0n) {
    problems.push(`debtors control ${rec.controlAccount} ≠ open items ${rec.openItems} (difference ${rec.difference})`);
  }
  const over = await db.query<{ id: string }>(
    `WITH allocated AS (
       SELECT id, sum(amount) AS amount
         FROM (SELECT debit_transaction_id AS id, amount FROM allocations WHERE entity_id = $1
               UNION ALL SELECT credit_transaction_id, amount FROM allocations WHERE entity_id = $1) a
        GROUP BY id)
     SELECT t.id FROM allocated x JOIN transactions t ON t.id = x.id WHERE x.amount > t.gross LIMIT 1`,
    [entityId],
  );
  if (over.rows.length > 0) problems.push(`transaction ${over.rows[0]!.id} is allocated beyond its gross`);
  return problems;
}
