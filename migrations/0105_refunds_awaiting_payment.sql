-- Refunds the embedded ledger booked unallocated because the payment they refund was not in it
-- yet: a payment provider's refund webhook that overtook its payment's, refunds another pipeline
-- brings before the payments, a payout file read in another order. src/connectors/ledger/payments.ts
-- notes each refund here with the payment reference it names; when a pipeline books (or links) a
-- receipt of that customer and reference, in the same transaction and after the receipt is
-- allocated to its own invoice, what both still have open is allocated, dated the later of the
-- two documents, and the note removed: the same books as when the payment came first. The mirror
-- of payments_awaiting_invoice (0104); references compare by their key.
CREATE TABLE refunds_awaiting_payment (
  refund_id bigint PRIMARY KEY REFERENCES transactions (id),
  entity_id uuid NOT NULL REFERENCES entities (id),
  customer_code text NOT NULL,
  payment_reference text NOT NULL CHECK (ll_reference_key(payment_reference) <> ''),
  noted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_awaiting_payment_key
  ON refunds_awaiting_payment (entity_id, ll_reference_key(payment_reference), customer_code);
