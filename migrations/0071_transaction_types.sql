-- Transaction types as rows, not as a CHECK list: each feature that adds a document type (purchase
-- invoices, revaluations, ...) inserts its row in its own migration, and no migration has to
-- restate (and so risk dropping) the types another one added.
CREATE TABLE transaction_types (
  type text PRIMARY KEY CHECK (type ~ '^[A-Z]{2}$'),
  description text NOT NULL
);
INSERT INTO transaction_types (type, description) VALUES
  ('SI', 'sales invoice'),
  ('SN', 'sales credit note'),
  ('SR', 'sales receipt'),
  ('SD', 'sales debit journal'),
  ('SC', 'sales credit journal'),
  ('DS', 'settlement discount'),
  ('DX', 'exchange difference on an allocation'),
  ('FX', 'exchange difference'),
  ('GJ', 'general journal');

ALTER TABLE transactions DROP CONSTRAINT transactions_type_check;
ALTER TABLE transactions ADD CONSTRAINT transactions_type_fkey FOREIGN KEY (type) REFERENCES transaction_types (type);

-- The sales documents name their customer; types added later say for themselves whom they name.
ALTER TABLE transactions DROP CONSTRAINT transactions_customer_required;
ALTER TABLE transactions ADD CONSTRAINT transactions_customer_required
  CHECK (customer_code IS NOT NULL OR type NOT IN ('SI', 'SN', 'SR', 'SD', 'SC', 'DS', 'DX', 'FX'));
