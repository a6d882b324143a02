import { formatAmount } from '../../src/domain/money.ts';
import type { Database } from '../../src/db/database.ts';
import type { Application, TargetHarness } from './harness.ts';
import { conformance } from './scenarios.ts';

/*
 * The embedded ledger held to the conformance suite. What it holds is read from its own tables:
 * customers by code, SI/SN/SR/SD transactions by external reference, allocations not reversed.
 */

const amount = (minor: string) => formatAmount(BigInt(minor), 'EUR');

/** Allocations in force, by the credit side (a receipt or credit note) they set against invoices. */
async function applications(db: Database, entityId: string): Promise<Map<string, Application[]>> {
  const { rows } = await db.query<{ credit: string; debit: string; amount: string }>(
    `SELECT a.credit_transaction_id::text AS credit, a.debit_transaction_id::text AS debit, a.amount::text AS amount
       FROM allocations a
      WHERE a.entity_id = $1 AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)
      ORDER BY a.id`,
    [entityId],
  );
  const out = new Map<string, Application[]>();
  for (const r of rows)
    out.set(r.credit, [...(out.get(r.credit) ?? []), { invoiceId: r.debit, amount: amount(r.amount) }]);
  return out;
}

const ledger: TargetHarness = {
  type: 'ledger',
  unsupported: {
    droppedAnswers:
      'transactional: the ledger books in the engine’s own database transaction, so there is no answer to lose',
    http: 'embedded: the ledger is reached in-process, with no HTTP between the engine and it to inject faults into',
    amountScreen:
      'transactional: the ledger refuses such an amount with its own posting errors (VALIDATION_ERROR, AMOUNT_HAS_TOO_MANY_DECIMALS) on its own fields',
  },
  async open({ t, entity }) {
    const db = t.db;
    const docs = async (type: 'SI' | 'SN' | 'SR' | 'SD') => {
      const { rows } = await db.query<{
        id: string;
        reference: string;
        number: string;
        customer: string;
        gross: string;
        due: string;
      }>(
        `SELECT t.id::text AS id, t.external_reference AS reference, t.number::text AS number,
                t.customer_code AS customer, t.gross::text AS gross,
                (t.gross - coalesce((SELECT sum(a.amount) FROM allocations a
                                      WHERE (a.debit_transaction_id = t.id OR a.credit_transaction_id = t.id)
                                        AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)), 0))::text AS due
           FROM transactions t WHERE t.entity_id = $1 AND t.type = $2 ORDER BY t.id`,
        [entity.entityId, type],
      );
      return rows.map((r) => ({
        id: r.id,
        reference: r.reference,
        number: r.number,
        customerId: r.customer,
        gross: amount(r.gross),
        due: amount(r.due),
      }));
    };
    return {
      target: { type: 'ledger' },
      // Lines name no GL account: the ledger books them to the pipeline's default.
      pipeline: { mapping: { defaultGlAccountCode: '4000' } },
      async holdings() {
        const { rows: customers } = await db.query<{ code: string; name: string }>(
          `SELECT code, name FROM customers WHERE entity_id = $1 ORDER BY code`,
          [entity.entityId],
        );
        const applied = await applications(db, entity.entityId);
        // A receipt's fee is the general journal receipt_fees ties to it (bank charges debited, the bank credited).
        const { rows: fees } = await db.query<{ id: string; reference: string; customer: string; gross: string }>(
          `SELECT f.id::text AS id, r.external_reference AS reference, r.customer_code AS customer, f.gross::text AS gross
             FROM receipt_fees x JOIN transactions r ON r.id = x.receipt_id JOIN transactions f ON f.id = x.fee_transaction_id
            WHERE r.entity_id = $1 ORDER BY f.id`,
          [entity.entityId],
        );
        return {
          customers: customers.map((c) => ({ id: c.code, name: c.name })),
          invoices: await docs('SI'),
          creditNotes: (await docs('SN')).map((d) => ({ ...d, appliedTo: applied.get(d.id) ?? [] })),
          payments: (await docs('SR')).map((d) => ({
            id: d.id,
            reference: d.reference,
            customerId: d.customerId,
            amount: d.gross,
            appliedTo: applied.get(d.id) ?? [],
          })),
          // A refund is a sales debit journal paid out of the bank, allocated against the receipt it refunds.
          refunds: (await docs('SD')).map((d) => ({
            id: d.id,
            reference: d.reference,
            customerId: d.customerId,
            amount: d.gross,
            paymentId: [...applied].find(([, list]) => list.some((a) => a.invoiceId === d.id))?.[0] ?? null,
          })),
          fees: fees.map((f) => ({
            id: f.id,
            reference: f.reference,
            customerId: f.customer,
            amount: amount(f.gross),
          })),
        };
      },
      violations: () => [],
      // A person posts an invoice in the ledger (the API, not the pipeline): one line at 21%.
      async keyInvoice({ customerTargetId, reference, date, net, vat }) {
        const res = await entity.post('/v1/sales/batch-invoices', {
          customerCode: customerTargetId,
          invoiceDate: date,
          externalReference: reference,
          lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: net, taxRate: '0.21', taxAmount: vat }],
        });
        if (res.status !== 201) throw new Error(`invoice keyed by hand refused: ${JSON.stringify(res.body)}`);
      },
      async refuse(invoice) {
        // October is closed in the books: an invoice dated in it is refused by the ledger itself.
        const locked = await entity.put('/v1/settings', { lockDate: '2026-10-31' });
        if (locked.status !== 200) throw new Error(`lock date not set: ${JSON.stringify(locked.body)}`);
        return {
          invoice: { ...invoice, invoiceDate: '2026-10-15', dueDate: '2026-11-14' },
          code: 'PERIOD_LOCKED',
          says: /the period is locked up to and including 2026-10-31/,
        };
      },
    };
  },
  close: async () => undefined,
};

conformance(ledger);
