-- Indexes for the AccountsIQ-style queries: allocations between two dates (GetAllocationsBetween)
-- and customers by e-mail (GetCustomersByEmail, whole address, any case).
CREATE INDEX allocations_entity_date ON allocations (entity_id, allocation_date, id);
CREATE INDEX customers_email ON customers (entity_id, lower(email));
