-- General journals (type GJ): postings that involve no customer, such as a payment provider's
-- fees (bank charges against the bank) or deferred revenue releases. They balance like any other
-- journal and are never open items.
ALTER TABLE transactions ALTER COLUMN customer_code DROP NOT NULL;
ALTER TABLE transactions DROP CONSTRAINT transactions_type_check;
ALTER TABLE transactions ADD CONSTRAINT transactions_type_check
  CHECK (type IN ('SI', 'SN', 'SR', 'SD', 'SC', 'DS', 'DX', 'FX', 'GJ'));
ALTER TABLE transactions ADD CONSTRAINT transactions_customer_required
  CHECK (customer_code IS NOT NULL OR type = 'GJ');
