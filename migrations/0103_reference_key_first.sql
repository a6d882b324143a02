-- Looking a document up by its reference read every document of its customer. The reference index
-- was (entity, customer, type, reference key), and the lookups named all four; so did the
-- customer's own index on (entity, customer, date, id) name two of them, and the planner, finding
-- both about as dear, often chose that one and filtered the customer's documents one by one: on
-- PostgreSQL a bulk post-pay-allocate of 100 queries for a customer with 40,000 documents spent
-- 5.8 s in its duplicate check (0.8 ms for a small customer), a single posting 58 ms. A point of
-- sale posting to one cash customer gets slower with every sale.
--
-- The reference key now comes second, and the lookups (src/ledger/reference-lookup.ts) ask for
-- the entity and the key alone, behind a fence the customer's condition cannot cross: only this
-- index can answer that, whatever the statistics say, and it finds the few documents with that
-- reference in any customer, supplier or type, which the lookup then filters. Same rows, same
-- index size; the unique indexes that enforce the duplicate checks are unchanged.
DROP INDEX transactions_reference_key;
CREATE INDEX transactions_reference_key
  ON transactions (entity_id, ll_reference_key(external_reference), customer_code, type);
