-- Xero allocated a receipt it booked as an overpayment before its invoice inside the booking of
-- that invoice, where a lost answer, a refusal or an outage lost the allocation for good (a log
-- line was all that said so). Such receipts are now the engine's notes (migration 0106,
-- src/sync/engine/early-payments.ts), as every remote target's that books a payment without its
-- invoice: allocated once the invoice is booked, retried, and an exception when it cannot be.
-- The overpayments booked before this, naming an invoice, become notes too (what their outbox
-- entry says they named): one whose invoice is booked already is read and allocated if it was
-- not, left as it is if it was.
INSERT INTO payments_before_invoice
  (pipeline_id, payment_source_id, payment_target_id, payment_reference, customer_target_id, invoice_reference)
SELECT m.pipeline_id, m.source_id, m.target_id,
       o.payload -> 'doc' -> 'record' ->> 'externalReference',
       o.payload -> 'doc' ->> 'customerTargetId',
       o.payload -> 'doc' -> 'record' ->> 'invoiceExternalReference'
  FROM sync_map m
  JOIN pipelines p ON p.id = m.pipeline_id AND p.target_type = 'xero'
  JOIN outbox o ON o.pipeline_id = m.pipeline_id AND o.direction = 'target' AND o.kind = 'payment'
               AND o.source_id = m.source_id
 WHERE m.kind = 'payment' AND m.target_id LIKE 'OP:%'
   AND coalesce(o.payload -> 'doc' -> 'record' ->> 'invoiceExternalReference', '') <> ''
   AND o.payload -> 'doc' ->> 'customerTargetId' IS NOT NULL
   AND o.payload -> 'doc' -> 'record' ->> 'externalReference' IS NOT NULL
ON CONFLICT (pipeline_id, payment_source_id) DO NOTHING;
