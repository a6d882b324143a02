import { createEntity, findEntityByCode, issueKeys } from '../ledger/entities.ts';
import { recordAudit } from '../ledger/audit.ts';
import { PipelineDefinition, savePipeline, findPipeline } from '../sync/pipelines.ts';
import { formatAmount } from '../domain/money.ts';
import { allowOutboundHost } from '../sync/http.ts';
import type { SourceItem } from '../sync/connector.ts';
import type { Runtime } from './runtime.ts';
import type { Queryable } from '../db/database.ts';

interface Simulator {
  url: string;
  apiKey: string;
  close(): Promise<void>;
}

type SimulatorModule = { startIxpoleSimulator: (o: Record<string, unknown>) => Promise<Simulator> };

/** The shell command that logs in with a key pair, quoted so that it can be pasted as it is. */
export function loginCommand(port: number, k: { entityId: string; partnerKey: string; userKey: string }): string {
  const body = JSON.stringify({ entityId: k.entityId, partnerKey: k.partnerKey, userKey: k.userKey });
  // Keys are base64url and ids UUIDs: no single quote can occur, so single quotes keep the JSON as it is.
  return `curl -s localhost:${port}/v1/auth/login -H 'Content-Type: application/json' -d '${body}'`;
}

/** Whether the demo should start: no configuration file and no pipelines but the demo's own. */
export function demoWanted(configPath: string | null, pipelines: { entityCode: string }[]): boolean {
  return configPath === null && pipelines.every((p) => p.entityCode === DEMO_ENTITY);
}

const DEMO_ENTITY = 'DEMO';

/**
 * The sample system keeps what was written back to it in memory only: on a later start, tell it
 * again which instalments the ledger invoiced (as write-back did the first time), so that it lists
 * only the open ones and accepts their payments.
 */
async function restoreSampleSystem(db: Queryable, pipelineId: string, sim: Simulator): Promise<void> {
  const { rows } = await db.query<{ source_id: string; target_number: string }>(
    `SELECT source_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' AND target_number IS NOT NULL ORDER BY source_id`,
    [pipelineId],
  );
  for (let i = 0; i < rows.length; i += 500) {
    const res = await fetch(`${sim.url}api/instalments`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${sim.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(
        rows.slice(i, i + 500).map((r) => ({ InstalmentCode: r.source_id, InvoiceNumber: r.target_number })),
      ),
    });
    if (!res.ok)
      throw new Error(`The demo's sample system refused the restored invoices: ${res.status} ${await res.text()}`);
  }
}

/**
 * The first minute: with nothing configured, `ledgerlink serve` starts a small built-in
 * iXpole-compatible sales system, an entity DEMO and a pipeline `demo` from one to the other that
 * runs every minute (and once right away), and pays some of the invoices every 20 seconds, booked
 * through the same pipeline, so that `ledgerlink reconcile demo` sees them as the source's.
 *
 * Every start is like the first: the sample system gets a new port and the pipeline is pointed at
 * it, and a fresh key pair is issued and printed (only hashes of keys are stored, so earlier ones
 * cannot be shown again).
 */
export async function startDemo(rt: Runtime, port: number): Promise<() => Promise<void>> {
  const { startIxpoleSimulator } = (await import('../connectors/ixpole/simulator.ts')) as SimulatorModule;
  const sim = await startIxpoleSimulator({ customers: 25, products: 6, instalments: 120, seed: 42 });
  // The simulator is plain http on loopback, which the outbound policy refuses to users' pipelines:
  // this process allows exactly its address, and nothing else changes (docs/security.md).
  const simUrl = new URL(sim.url);
  allowOutboundHost(simUrl.hostname, Number(simUrl.port));
  const { db, box, log } = rt;
  const { entity, keys, created } = await db.transaction(async (tx) => {
    const found = await findEntityByCode(tx, DEMO_ENTITY);
    if (found) {
      const issued = await issueKeys(tx, found.id, 'demo start');
      await recordAudit(tx, {
        entityId: found.id,
        actor: 'demo',
        action: 'entity.keys-issued',
        objectType: 'credential',
        objectId: issued.credentialId,
      });
      return { entity: found, keys: issued, created: false };
    }
    const made = await createEntity(tx, {
      code: DEMO_ENTITY,
      name: 'Demo Sports Club',
      baseCurrency: 'EUR',
      standardTaxRate: '0.21',
    });
    await recordAudit(tx, {
      entityId: made.entity.id,
      actor: 'demo',
      action: 'entity.created',
      objectType: 'entity',
      objectId: DEMO_ENTITY,
    });
    return { entity: made.entity, keys: made.keys, created: true };
  });
  const demo = PipelineDefinition.parse({
    name: 'demo',
    entity: DEMO_ENTITY,
    // The sample system's port is new at every start: saving the pipeline points it there.
    source: { type: 'ixpole', baseUrl: sim.url, apiKey: sim.apiKey },
    schedule: '* * * * *',
    options: { invoiceMode: 'final' },
  });
  await db.transaction(async (tx) => {
    await savePipeline(tx, box, entity.id, demo, 'api');
  });
  const pipeline = (await findPipeline(db, box, 'demo', entity.id))!;
  if (!created) await restoreSampleSystem(db, pipeline.id, sim);
  await rt.sync.trigger(pipeline, 'manual', 'demo');

  // Pay about a third of the open demo invoices now and then, as a bank feed would, through the
  // demo pipeline itself: the payments are the source's, so reconciling the pipeline agrees.
  let paid = 0;
  const pay = async () => {
    const { rows } = await db.query<{
      customer_source_id: string | null;
      external_reference: string;
      gross: string;
      currency: string;
    }>(
      `SELECT (SELECT cm.source_id FROM sync_map cm
                WHERE cm.pipeline_id = m.pipeline_id AND cm.kind = 'customer' AND cm.target_id = t.customer_code
                LIMIT 1) AS customer_source_id,
              t.external_reference, t.gross, t.currency
         FROM sync_map m JOIN transactions t ON t.id = m.target_id::bigint
        WHERE m.pipeline_id = $1 AND m.kind = 'invoice'
          AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.debit_transaction_id = t.id)
        ORDER BY t.id LIMIT 200`,
      [pipeline.id],
    );
    const chosen = rows.filter((r, i) => r.customer_source_id !== null && (i + paid) % 3 === 0).slice(0, 15);
    if (chosen.length === 0) return;
    paid += chosen.length;
    const items: SourceItem[] = chosen.map((r) => ({
      record: {
        kind: 'payment' as const,
        sourceId: `PAY-${r.external_reference}`,
        externalReference: `PAY-${r.external_reference}`.slice(0, 50),
        customerSourceId: r.customer_source_id!,
        date: new Date().toISOString().slice(0, 10),
        amount: formatAmount(BigInt(r.gross), r.currency.trim()),
        currency: r.currency.trim(),
        invoiceExternalReference: r.external_reference,
        description: 'Demo payment',
      },
    }));
    const p = (await findPipeline(db, box, 'demo', entity.id))!;
    await rt.sync.processRecords(p, 'import', 'demo-payments', items);
  };
  const timer = setInterval(() => {
    pay().catch((err: unknown) => log.warn({ err }, 'demo payments failed'));
  }, 20_000);
  timer.unref();

  log.info(
    `Demo${created ? '' : ' (again, with what earlier starts stored)'}: a sample iXpole sales system runs at ${sim.url}. ` +
      `Pipelines of entity DEMO: "demo" syncs its customers and invoices every minute (and now); ` +
      `every 20 s some invoices are paid, booked through "demo" too (runs of trigger import by demo-payments).`,
  );
  log.info(
    `Demo entity ${DEMO_ENTITY} keys (a new pair at every start; only hashes are stored): entityId ${keys.entityId} partnerKey ${keys.partnerKey} userKey ${keys.userKey}`,
  );
  // A message of its own that is the whole command, and the same in a field for JSON logs
  // (jq -r 'select(.loginCommand).loginCommand'), so that it can be pasted as it is either way.
  const command = loginCommand(port, keys);
  log.info({ loginCommand: command }, command);
  log.info(
    'Watch it: GET /v1/runs?pipeline=demo, GET /v1/customers, GET /v1/transactions, GET /v1/exceptions (bearer token), ' +
      'or stop the server and run `npx ledgerlink runs list --pipeline demo`, `npx ledgerlink reconcile demo`. ' +
      'Start again from nothing: stop the server and delete the data folder (LEDGERLINK_DATA_DIR, default ./data). Replace the demo with a ledgerlink.yaml (see README).',
  );
  return async () => {
    clearInterval(timer);
    await sim.close();
  };
}
