import type { Queryable } from '../../db/database.ts';
import type { VatShare } from '../../domain/discount-vat.ts';

/**
 * What is left of an invoice per tax code, net and VAT, in its currency, for splitting a settlement
 * discount with `adjustVat` (docs/ledger.md "VAT on settlement discounts"): the invoice's own
 * journal (so a tax code changed since does not matter), less what was given back per code by
 * - the credit notes raised from it (`related_transaction_id`), in full, allocated to it or not:
 *   they credited its supplies, wherever their money goes (left open to refund, unallocated,
 *   allocated in part); counting only what was allocated took their VAT back a second time;
 * - the credit notes raised from no invoice, and the settlement discounts (DS), allocated to it and
 *   not reversed, for the part allocated (allocated ÷ their gross, half-up). A credit note raised
 *   from another invoice counts there, not here.
 * A receipt carries no tax code: it pays every code in proportion, so it leaves the mix as it is.
 *
 * Splitting by the original mix instead took VAT back twice: after a credit note for the 20 % line
 * of a mixed invoice, a discount on the zero-rated rest still took VAT off output VAT.
 *
 * A code is never left below zero (nor below what the invoice itself had, for a negative line): a
 * credit note that gave back more than the invoice charged on a code, or a code the invoice does
 * not have, takes nothing more back. Codes with nothing left are dropped, so no rounding cent lands
 * on them. `gross` is what the shares add up to: the divisor of the split.
 */
export async function remainingVatShares(
  db: Queryable,
  entityId: string,
  invoiceId: number,
): Promise<{ shares: VatShare[]; gross: bigint }> {
  const { rows } = await db.query<{
    source: 'invoice' | 'credit';
    tax_code: string;
    gl_account_code: string | null;
    net: string;
    tax: string;
    allocated: string | null;
    doc_gross: string | null;
  }>(
    `WITH credits AS (
       SELECT c.id, c.gross, c.gross AS allocated
         FROM transactions c
        WHERE c.entity_id = $1 AND c.type = 'SN' AND c.related_transaction_id = $2
       UNION ALL
       SELECT a.credit_transaction_id, c.gross, sum(a.amount)
         FROM allocations a
         JOIN transactions c ON c.id = a.credit_transaction_id
        WHERE a.entity_id = $1 AND a.debit_transaction_id = $2
          AND (c.type = 'DS' OR (c.type = 'SN' AND c.related_transaction_id IS NULL))
          AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)
        GROUP BY a.credit_transaction_id, c.gross
     )
     SELECT 'invoice' AS source, tax_code,
            max(gl_account_code) FILTER (WHERE role = 'tax') AS gl_account_code,
            -coalesce(sum(amount) FILTER (WHERE role = 'net'), 0) AS net,
            -coalesce(sum(amount) FILTER (WHERE role = 'tax'), 0) AS tax,
            NULL AS allocated, NULL AS doc_gross
       FROM journal_lines
      WHERE transaction_id = $2 AND entity_id = $1 AND tax_code IS NOT NULL
      GROUP BY tax_code
     UNION ALL
     SELECT 'credit', j.tax_code, NULL,
            coalesce(sum(j.amount) FILTER (WHERE j.role IN ('net', 'discount')), 0),
            coalesce(sum(j.amount) FILTER (WHERE j.role = 'tax'), 0),
            cr.allocated, cr.gross
       FROM credits cr
       JOIN journal_lines j ON j.transaction_id = cr.id AND j.entity_id = $1 AND j.tax_code IS NOT NULL
      GROUP BY cr.id, cr.allocated, cr.gross, j.tax_code
     ORDER BY 1 DESC, 2`,
    [entityId, invoiceId],
  );
  const left = new Map<string, { share: VatShare; floorNet: bigint; floorTax: bigint }>();
  for (const r of rows) {
    const net = BigInt(r.net);
    const tax = BigInt(r.tax);
    if (r.source === 'invoice') {
      left.set(r.tax_code, {
        share: { taxCode: r.tax_code, glAccountCode: r.gl_account_code ?? '', net, tax },
        floorNet: net < 0n ? net : 0n,
        floorTax: tax < 0n ? tax : 0n,
      });
      continue;
    }
    const code = left.get(r.tax_code);
    if (!code) continue;
    const allocated = BigInt(r.allocated!);
    const gross = BigInt(r.doc_gross!);
    code.share.net -= part(net, allocated, gross);
    code.share.tax -= part(tax, allocated, gross);
  }
  const shares: VatShare[] = [];
  for (const { share, floorNet, floorTax } of left.values()) {
    const s = { ...share, net: max(share.net, floorNet), tax: max(share.tax, floorTax) };
    if (s.net !== 0n || s.tax !== 0n) shares.push(s);
  }
  return { shares, gross: shares.reduce((sum, s) => sum + s.net + s.tax, 0n) };
}

const max = (a: bigint, b: bigint) => (a > b ? a : b);

/** value × allocated ÷ gross, rounded half away from zero; the whole value when fully allocated. */
function part(value: bigint, allocated: bigint, gross: bigint): bigint {
  if (allocated >= gross || gross <= 0n) return value;
  const sign = value < 0n ? -1n : 1n;
  const v = value * sign;
  return sign * ((2n * v * allocated + gross) / (2n * gross));
}
