import type { Queryable } from '../../db/database.ts';
import { type Side, type TransactionType, documentLabel } from '../../domain/documents.ts';

/** A posted transaction with what is still open on it, in its own and in base currency. */
export interface OpenTransaction {
  id: number;
  type: TransactionType;
  side: Side;
  /** How messages name it: number and external reference (`documentLabel`), never the id. */
  label: string;
  customerCode: string;
  currency: string;
  exchangeRate: string;
  gross: bigint;
  baseGross: bigint;
  transactionDate: string;
  outstanding: bigint;
  baseOutstanding: bigint;
}

interface Row {
  id: string;
  type: TransactionType;
  side: Side;
  number: string;
  external_reference: string;
  customer_code: string;
  currency: string;
  exchange_rate: string;
  gross: string;
  base_gross: string;
  transaction_date: string;
  allocated: string;
  allocated_base: string;
}

/** Loads transactions of the entity with their outstanding amounts (active allocations only). */
export async function loadOpenTransactions(
  db: Queryable,
  entityId: string,
  ids: number[],
): Promise<Map<number, OpenTransaction>> {
  const { rows } = await db.query<Row>(
    `SELECT t.id, t.type, t.side, t.number, t.external_reference, t.customer_code, t.currency, t.exchange_rate::text AS exchange_rate, t.gross, t.base_gross,
            t.transaction_date, coalesce(a.allocated, 0) AS allocated, coalesce(a.allocated_base, 0) AS allocated_base
       FROM transactions t
       LEFT JOIN LATERAL (
         SELECT sum(x.amount) AS allocated,
                sum(CASE WHEN x.debit_transaction_id = t.id THEN x.debit_base_amount ELSE x.credit_base_amount END) AS allocated_base
           FROM allocations x
          WHERE (x.debit_transaction_id = t.id OR x.credit_transaction_id = t.id)
            AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = x.id)
       ) a ON true
      WHERE t.entity_id = $1 AND t.id = ANY($2::bigint[])`,
    [entityId, ids],
  );
  return new Map(
    rows.map((r) => {
      const gross = BigInt(r.gross);
      const baseGross = BigInt(r.base_gross);
      return [
        Number(r.id),
        {
          id: Number(r.id),
          type: r.type,
          side: r.side,
          label: documentLabel({ type: r.type, number: r.number, externalReference: r.external_reference }),
          customerCode: r.customer_code,
          currency: r.currency.trim(),
          exchangeRate: r.exchange_rate,
          gross,
          baseGross,
          transactionDate: r.transaction_date,
          outstanding: gross - BigInt(r.allocated),
          baseOutstanding: baseGross - BigInt(r.allocated_base),
        },
      ];
    }),
  );
}
