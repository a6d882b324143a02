import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { type OdooSimulator, startOdooSimulator } from '../../src/connectors/odoo/simulator.ts';
import { createOdooTarget } from '../../src/connectors/odoo/target.ts';
import { createRatePlanner } from '../../src/sync/remote/rate-planner.ts';
import { createTestDatabase } from './db.ts';
import { ONE_ATTEMPT, callContext, directTargetDeps } from './direct-target.ts';

/*
 * The Odoo target called directly, without the engine, against the simulated Odoo: a test database
 * for the file, a company in EUR with a 21 % tax, an API key of its own, the database's rate
 * planner with limits no test waits out, a single attempt a call.
 */

/**
 * For a test file: its test database made before all and closed after all, with every simulator
 * started; `ctx()` a call context over that database; `setup(version)` starts a simulated Odoo of
 * that version and gives it, the API key issued and the target of a pipeline named `pipelineName`.
 */
export function useOdooTarget(pipelineName: string) {
  let db: Database;
  const sims: OdooSimulator[] = [];
  const ctx = () => callContext(db);

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const s of sims) await s.close();
    await db.close();
  });

  async function setup(version: '16' | '17' | '18' = '17') {
    const sim = await startOdooSimulator({ version, company: { currency: 'EUR', taxes: { '21% S': '21' } } });
    sims.push(sim);
    const apiKey = sim.issueApiKey();
    const target = createOdooTarget(
      directTargetDeps(
        db,
        {
          type: 'odoo',
          url: sim.url,
          database: sim.database,
          login: sim.login,
          apiKey,
          version,
          limits: { callsPerMinute: 100_000 },
        },
        pipelineName,
      ),
      { planner: createRatePlanner(db), client: ONE_ATTEMPT },
    );
    return { sim, apiKey, target, book: keyedByHand(sim, version) };
  }

  return { ctx, setup };
}

/**
 * What a person keys into the simulated Odoo: customers, invoices and credit notes (one line, net
 * plus the company's 21 % VAT; posted unless `post` is false) and posted payments (`payment:{id}`,
 * the target id the target gives a payment).
 */
function keyedByHand(sim: OdooSimulator, version: '16' | '17' | '18') {
  const d = sim.db;
  const tax = d.taxes[0]!.id;
  const refField = version === '18' ? 'memo' : 'ref';
  const book = {
    customer: (name: string) => String(d.upsert('res.partner', null, { name })),
    move: (
      type: 'out_invoice' | 'out_refund',
      ref: string,
      customer: string,
      net: string,
      date: string,
      post = true,
    ) => {
      const id = d.createMove({
        move_type: type,
        partner_id: Number(customer),
        ref,
        invoice_date: date,
        invoice_line_ids: [[0, 0, { name: 'Sales', quantity: '1', price_unit: net, tax_ids: [[6, 0, [tax]]] }]],
      });
      if (post) d.postMove(id);
      return String(id);
    },
    invoice: (ref: string, customer: string, net: string, date: string, post = true) =>
      book.move('out_invoice', ref, customer, net, date, post),
    payment: (type: 'inbound' | 'outbound', ref: string, customer: string, amount: string, date: string) => {
      const id = d.createPayment(
        { payment_type: type, partner_type: 'customer', partner_id: Number(customer), amount, date, [refField]: ref },
        refField,
      );
      d.postPayment(id);
      return `payment:${id}`;
    },
  };
  return book;
}
