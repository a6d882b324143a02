-- Payments a remote target booked before the invoice they name, for targets that apply such a
-- payment later (`applyEarlyPayments`, src/sync/target.ts; QuickBooks books it unapplied on the
-- customer). A payment webhook that overtook its invoice's, a payout file imported before the
-- invoices: the engine notes the payment here in the transaction that maps it, with the invoice
-- reference it named; once an invoice of that customer and reference is booked (by this pipeline
-- or another of the entity into that platform), at the end of a run or on the workers' timer, the
-- target applies what both still have open and the note goes (src/sync/engine/early-payments.ts). Before, such a payment stayed unapplied beside
-- the open invoice until a person paired them. The embedded ledger keeps its own notes
-- (migration 0104); Xero applies its overpayments itself.
CREATE TABLE payments_before_invoice (
  pipeline_id uuid NOT NULL REFERENCES pipelines (id),
  payment_source_id text NOT NULL,
  payment_target_id text NOT NULL,
  payment_reference text NOT NULL,
  customer_target_id text NOT NULL,
  invoice_reference text NOT NULL,
  -- Failed calls so far (a note is given up, with an exception, after ten), and until
  -- when a run or worker applying it holds it (one that died lets go when this passes).
  attempts integer NOT NULL DEFAULT 0,
  claimed_until timestamptz,
  noted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline_id, payment_source_id)
);
-- A refund asks whether the payment it names still waits (by the payment's id in the target).
CREATE INDEX payments_before_invoice_payment ON payments_before_invoice (pipeline_id, payment_target_id);
