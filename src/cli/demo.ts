import { createEntity, findEntityByCode } from '../ledger/entities.ts';
import { recordAudit } from '../ledger/audit.ts';
import { PipelineDefinition, savePipeline, findPipeline } from '../sync/pipelines.ts';
import { formatAmount } from '../domain/money.ts';
import { allowOutboundHost } from '../sync/http.ts';
import type { SourceItem } from '../sync/connector.ts';
import type { Runtime } from './runtime.ts';

interface Simulator {
  url: string;
  apiKey: string;
  close(): Promise<void>;
}

type SimulatorModule = { startIxpoleSimulator: (o: Record<string, unknown>) => Promise<Simulator> };

/**
 * The first minute: with nothing configured, `ledgerlink serve` starts a small built-in
 * iXpole-compatible sales system, an entity DEMO and a pipeline `demo` from one to the other that
 * runs every minute (and once right away), and pays some of the invoices every 20 seconds through
 * a second pipeline, so invoices, customers and payments can be watched flowing into the ledger.
 */
export async function startDemo(rt: Runtime, port: number): Promise<() => Promise<void>> {
  const { startIxpoleSimulator } = (await import('../connectors/ixpole/simulator.ts')) as SimulatorModule;
  const sim = await startIxpoleSimulator({ customers: 25, products: 6, instalments: 120, seed: 42 });
  // The simulator is plain http on loopback, which the outbound policy refuses to users' pipelines:
  // this process allows exactly its address, and nothing else changes (docs/security.md).
  const simUrl = new URL(sim.url);
  allowOutboundHost(simUrl.hostname, Number(simUrl.port));
  const { db, box, log } = rt;
  let keys: { entityId: string; partnerKey: string; userKey: string } | null = null;
  const entity = await db.transaction(async (tx) => {
    const found = await findEntityByCode(tx, 'DEMO');
    if (found) return found;
    const created = await createEntity(tx, {
      code: 'DEMO',
      name: 'Demo Sports Club',
      baseCurrency: 'EUR',
      standardTaxRate: '0.21',
    });
    keys = { entityId: created.entity.id, partnerKey: created.keys.partnerKey, userKey: created.keys.userKey };
    await recordAudit(tx, {
      entityId: created.entity.id,
      actor: 'demo',
      action: 'entity.created',
      objectType: 'entity',
      objectId: 'DEMO',
    });
    return created.entity;
  });
  const demo = PipelineDefinition.parse({
    name: 'demo',
    entity: 'DEMO',
    source: { type: 'ixpole', baseUrl: sim.url, apiKey: sim.apiKey },
    schedule: '* * * * *',
    options: { invoiceMode: 'final' },
  });
  const payments = PipelineDefinition.parse({ name: 'demo-payments', entity: 'DEMO', source: { type: 'records' } });
  await db.transaction(async (tx) => {
    await savePipeline(tx, box, entity.id, demo, 'api');
    await savePipeline(tx, box, entity.id, payments, 'api');
  });
  const pipeline = (await findPipeline(db, box, 'demo', entity.id))!;
  await rt.sync.trigger(pipeline, 'manual', 'demo');

  // Pay about a third of the open demo invoices now and then, as a bank feed or Stripe would.
  let paid = 0;
  const pay = async () => {
    const { rows } = await db.query<{
      code: string;
      external_reference: string;
      gross: string;
      currency: string;
      name: string;
    }>(
      `SELECT t.customer_code AS code, t.external_reference, t.gross, t.currency, c.name
         FROM sync_map m JOIN transactions t ON t.id = m.target_id::bigint JOIN customers c ON c.entity_id = t.entity_id AND c.code = t.customer_code
        WHERE m.pipeline_id = $1 AND m.kind = 'invoice'
          AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.debit_transaction_id = t.id)
        ORDER BY t.id LIMIT 200`,
      [pipeline.id],
    );
    const chosen = rows.filter((_, i) => (i + paid) % 3 === 0).slice(0, 15);
    if (chosen.length === 0) return;
    paid += chosen.length;
    const items: SourceItem[] = chosen.flatMap((r) => [
      { record: { kind: 'customer' as const, sourceId: r.code, code: r.code, name: r.name } },
      {
        record: {
          kind: 'payment' as const,
          sourceId: `PAY-${r.external_reference}`,
          externalReference: `PAY-${r.external_reference}`.slice(0, 50),
          customerSourceId: r.code,
          date: new Date().toISOString().slice(0, 10),
          amount: formatAmount(BigInt(r.gross), r.currency.trim()),
          currency: r.currency.trim(),
          invoiceExternalReference: r.external_reference,
          description: 'Demo payment',
        },
      },
    ]);
    const p = (await findPipeline(db, box, 'demo-payments', entity.id))!;
    await rt.sync.processRecords(p, 'import', 'demo', items);
  };
  const timer = setInterval(() => {
    pay().catch((err: unknown) => log.warn({ err }, 'demo payments failed'));
  }, 20_000);
  timer.unref();

  log.info(
    `Demo: a sample iXpole sales system runs at ${sim.url}; pipeline "demo" syncs it into entity DEMO every minute.`,
  );
  if (keys) {
    const k = keys as { entityId: string; partnerKey: string; userKey: string };
    log.info(
      `Demo entity keys (shown once): entityId ${k.entityId} partnerKey ${k.partnerKey} userKey ${k.userKey}. ` +
        `Log in: curl -s localhost:${port}/v1/auth/login -H 'Content-Type: application/json' -d '{"entityId":"${k.entityId}","partnerKey":"${k.partnerKey}","userKey":"${k.userKey}"}'`,
    );
  }
  log.info(
    `Watch it: GET /v1/runs?pipeline=demo, GET /v1/customers, GET /v1/transactions, GET /v1/exceptions (bearer token). Replace it with a ledgerlink.yaml (see README).`,
  );
  return async () => {
    clearInterval(timer);
    await sim.close();
  };
}
