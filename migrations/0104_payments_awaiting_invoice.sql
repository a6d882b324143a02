-- Payments the embedded ledger booked unallocated because the invoice they name was not in it yet:
-- a shop's payment webhook that overtook its invoice's, a payout file imported before the invoices,
-- invoices another pipeline brings later. src/connectors/ledger/payments.ts notes each receipt here
-- with the invoice it names; when a pipeline books (or links) a sales invoice of that customer and
-- reference (src/connectors/ledger/invoices.ts), in the same transaction, what both still have open
-- is allocated, dated the later of the two documents, and the note removed. Before, such a receipt
-- stayed unallocated beside an open invoice until a person paired them. References compare by
-- their key, as every lookup by reference does (docs/ledger.md).
CREATE TABLE payments_awaiting_invoice (
  receipt_id bigint PRIMARY KEY REFERENCES transactions (id),
  entity_id uuid NOT NULL REFERENCES entities (id),
  customer_code text NOT NULL,
  invoice_reference text NOT NULL CHECK (ll_reference_key(invoice_reference) <> ''),
  noted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_awaiting_invoice_key
  ON payments_awaiting_invoice (entity_id, ll_reference_key(invoice_reference), customer_code);
