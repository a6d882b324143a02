-- Payments booked before the invoice they name, by a version that did not note them yet, become
-- notes (migration 0106, src/sync/engine/early-payments.ts), so that the engine applies them to
-- the invoice once it is booked, as it does the payments booked since. Such a payment went to the
-- platform unapplied and stayed so beside its open invoice until a person paired them:
-- in QuickBooks before migration 0106 (which came with its `applyEarlyPayments`), in AccountsIQ,
-- NetSuite, Zoho Books, Sage Intacct, Odoo and Acumatica before migration 0107 (which came with
-- theirs). Xero's overpayments are 0107's.
--
-- What the outbox entry says: a payment that named an invoice the pipeline had not booked
-- (`invoiceTargetId` null), mapped before its target's migration was applied (payments mapped
-- since were noted when they were). A payment a person has applied by hand since is read, found to
-- have nothing left, and its note goes; one whose invoice never comes stays noted, as a new one
-- would. Outbox entries are never deleted, so every such payment is found.
INSERT INTO payments_before_invoice
  (pipeline_id, payment_source_id, payment_target_id, payment_reference, customer_target_id, invoice_reference)
SELECT m.pipeline_id, m.source_id, m.target_id,
       o.payload -> 'doc' -> 'record' ->> 'externalReference',
       o.payload -> 'doc' ->> 'customerTargetId',
       o.payload -> 'doc' -> 'record' ->> 'invoiceExternalReference'
  FROM sync_map m
  JOIN pipelines p ON p.id = m.pipeline_id
  JOIN ledgerlink_migrations since
    ON since.id = CASE WHEN p.target_type = 'quickbooks' THEN 106 ELSE 107 END
  JOIN outbox o ON o.pipeline_id = m.pipeline_id AND o.direction = 'target' AND o.kind = 'payment'
               AND o.source_id = m.source_id
 WHERE p.target_type IN ('quickbooks', 'accountsiq', 'netsuite', 'zohobooks', 'intacct', 'odoo', 'acumatica')
   AND m.kind = 'payment' AND m.created_at < since.applied_at
   AND o.payload -> 'doc' ->> 'invoiceTargetId' IS NULL
   AND coalesce(o.payload -> 'doc' -> 'record' ->> 'invoiceExternalReference', '') <> ''
   AND o.payload -> 'doc' ->> 'customerTargetId' IS NOT NULL
   AND o.payload -> 'doc' -> 'record' ->> 'externalReference' IS NOT NULL
ON CONFLICT (pipeline_id, payment_source_id) DO NOTHING;
