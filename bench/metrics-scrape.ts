/**
 * The cost of one `GET /metrics` scrape on a big ledger (docs/deploy.md, "Metrics"): 10 entities,
 * 200,000 runs, 1,000,000 sync_map rows, 200,000 exceptions and 200,000 outbox items, then six
 * scrapes timed. On PostgreSQL (a fresh schema, dropped after) when DATABASE_URL is set, else PGlite:
 *
 *   DATABASE_URL=postgres://… LEDGERLINK_ENCRYPTION_KEY=… node bin/run-ts.js bench/metrics-scrape.ts
 */
import pino from 'pino';
import { createTestDatabase } from '../test/helpers/db.ts';
import { definePipeline } from '../test/helpers/sync.ts';
import { createEntity } from '../src/ledger/entities.ts';
import { AppMetrics } from '../src/api/metrics.ts';

const db = await createTestDatabase();
try {
  const pipelines: string[] = [];
  for (let e = 0; e < 10; e++) {
    const code = `COST${e}`;
    await db.transaction((tx) => createEntity(tx, { code, name: code, baseCurrency: 'EUR' }));
    pipelines.push(
      (
        await definePipeline(db, code, {
          name: `cost-${e}`,
          source: { type: 'webhook' },
          webhookSecret: 'x'.repeat(32),
        })
      ).id,
    );
  }
  const t0 = Date.now();
  await db.query(`INSERT INTO runs (pipeline_id, entity_id, trigger, status, created_by)
    SELECT p.id, p.entity_id, 'manual', (ARRAY['succeeded','succeeded','succeeded','partial','failed'])[1 + g % 5], 'bench'
      FROM pipelines p, generate_series(1, 20000) g`);
  await db.query(`INSERT INTO sync_map (pipeline_id, kind, source_id, target_id)
    SELECT p.id, (ARRAY['invoice','credit-note','payment'])[1 + g % 3], 's' || g, 't' || g FROM pipelines p, generate_series(1, 100000) g`);
  await db.query(`INSERT INTO exceptions (pipeline_id, entity_id, kind, source_id, reason_code, message, status)
    SELECT p.id, p.entity_id, 'invoice', 'x' || g, (ARRAY['AMOUNT_OUT_OF_RANGE','UNKNOWN_TAX_RATE','CUSTOMER_MISSING'])[1 + g % 3], 'm',
           CASE WHEN g % 4 = 0 THEN 'open' ELSE 'resolved' END FROM pipelines p, generate_series(1, 20000) g`);
  await db.query(`INSERT INTO outbox (pipeline_id, kind, source_id, payload, direction, idempotency_key, status)
    SELECT p.id, 'invoice', 'o' || g, '{}', (ARRAY['source','target'])[1 + g % 2], 'k' || g,
           CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'done' END FROM pipelines p, generate_series(1, 20000) g`);
  await db.query('ANALYZE');
  console.log(`seeded in ${Date.now() - t0} ms`);
  const counts = await db.query(`SELECT (SELECT count(*) FROM runs) runs, (SELECT count(*) FROM sync_map) sync_map,
    (SELECT count(*) FROM exceptions) exceptions, (SELECT count(*) FROM outbox) outbox`);
  console.log(counts.rows[0]);
  const m = new AppMetrics();
  const log = pino({ level: 'warn' });
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const s = performance.now();
    const text = await m.scrape(db, log);
    times.push(performance.now() - s);
    if (i === 0)
      console.log(`${text.length} bytes, ${text.split('\n').filter((l) => l && !l.startsWith('#')).length} samples`);
  }
  console.log(
    'scrape ms:',
    times.map((t) => Math.round(t)),
  );
} finally {
  await db.close();
}
