/**
 * The documents of an entity whose reference has the key of `reference`, as a subquery for the
 * caller to filter by customer, supplier or type: `SELECT … FROM ${withReference('$1', '$4', 'id,
 * customer_code, type')} d WHERE d.customer_code = $2 …`. `reference` is a parameter or a column
 * of a LATERAL caller.
 *
 * `OFFSET 0` keeps the caller's conditions out of the subquery, so the only index that answers is
 * `transactions_reference_key` (entity, reference key, …): with the customer's condition inside,
 * the planner may choose the customer's own index and read every document that customer has
 * (migration 0103). A reference names a handful of documents at most, so filtering them after is
 * cheap. A blank reference (empty once trimmed) names no document: duplicate checks never compare
 * blank references, and many documents of an entity may have one, so it reads none.
 */
export function withReference(entityParam: string, reference: string, columns: string): string {
  return `(SELECT ${columns} FROM transactions
            WHERE entity_id = ${entityParam} AND ll_reference_key(external_reference) = ll_reference_key(${reference})
              AND ll_reference_key(${reference}) <> ''
           OFFSET 0)`;
}
