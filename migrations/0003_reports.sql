-- Statements and balances read one customer's allocations (or a whole entity's) as at a date;
-- without this they would scan every allocation of every customer.
CREATE INDEX allocations_customer ON allocations (entity_id, customer_code, allocation_date);
