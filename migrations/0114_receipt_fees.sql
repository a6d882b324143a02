-- A payment provider's fee that the embedded ledger posted for a receipt
-- (src/connectors/ledger/fees.ts): the general journal that takes the fee out of the bank (bank
-- charges debited, the bank credited), kept against the receipt the payment was booked as or
-- linked to. Before this, the fee journal carried only the payment's reference, so nothing tied it
-- to its receipt. When a payment was linked to a receipt already in the ledger (keyed by hand, or
-- booked by another pipeline), its fee was never posted, and the bank stayed too high by the fee.
-- Now a linked payment looks up its receipt's fee here. It posts the fee when there is none, links
-- when the fee there is the same, and is refused when it differs. A receipt has at most one fee,
-- and a journal is the fee of at most one receipt (the two keys), so two runs linking the same
-- payment at once cannot both post its fee.
CREATE TABLE receipt_fees (
  receipt_id bigint PRIMARY KEY REFERENCES transactions (id),
  fee_transaction_id bigint NOT NULL UNIQUE REFERENCES transactions (id),
  entity_id uuid NOT NULL REFERENCES entities (id),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER receipt_fees_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON receipt_fees
  FOR EACH STATEMENT EXECUTE FUNCTION ll_refuse_change();

-- The fees posted before this, tied to their receipts. A fee journal (a GJ with no customer, marked
-- `{"fee": true}`) was posted in its payment's savepoint directly after that payment's receipt, so
-- its receipt is the one in the same database transaction (the same created_at, now() at the
-- start of the transaction), with the same reference, date and currency, posted last before it. A
-- page of the engine posts many payments in one transaction, and two customers may share a
-- reference. Taking the receipt just before the fee keeps them apart, since nothing was posted
-- between a receipt and its fee.
INSERT INTO receipt_fees (receipt_id, fee_transaction_id, entity_id, created_at)
SELECT DISTINCT ON (f.id) r.id, f.id, f.entity_id, f.created_at
  FROM transactions f
  JOIN transactions r
    ON r.entity_id = f.entity_id AND r.type = 'SR' AND r.external_reference = f.external_reference
   AND r.created_at = f.created_at AND r.id < f.id
   AND r.transaction_date = f.transaction_date AND r.currency = f.currency
 WHERE f.type = 'GJ' AND f.customer_code IS NULL AND f.details @> '{"fee": true}'
 ORDER BY f.id, r.id DESC
ON CONFLICT DO NOTHING;
