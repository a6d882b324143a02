-- The dashboard's transaction and audit searches with keyset paging: each filter gets an index that
-- yields its rows already in the page's order, so a page reads about its own rows whatever the
-- table's size (a million transactions: docs/dashboard.md, "Transactions").
--
-- Transactions are listed newest document date first, then id: (transaction_date, id) <
-- (cursor) ORDER BY transaction_date DESC, id DESC LIMIT n. A date range is a range of the same
-- index, so an old month costs what this month does.
CREATE INDEX transactions_entity_date_id ON transactions (entity_id, transaction_date, id);
CREATE INDEX transactions_entity_type_date_id ON transactions (entity_id, type, transaction_date, id);
CREATE INDEX transactions_entity_customer_date_id ON transactions (entity_id, customer_code, transaction_date, id);
-- GET /v1/transactions?order=desc&after=…: by id within the entity.
CREATE INDEX transactions_entity_id ON transactions (entity_id, id);
-- A number matches one document per type; a reference prefix a handful: both then sorted.
CREATE INDEX transactions_entity_number ON transactions (entity_id, number);
-- "Reference starts with", ignoring case: lower(external_reference) LIKE 'abc%'.
CREATE INDEX transactions_entity_reference_prefix
  ON transactions (entity_id, lower(external_reference) text_pattern_ops);

-- The audit log, newest first by id: id < cursor ORDER BY id DESC LIMIT n, per filter.
CREATE INDEX audit_log_entity_id ON audit_log (entity_id, id);
CREATE INDEX audit_log_entity_actor_id ON audit_log (entity_id, actor, id);
CREATE INDEX audit_log_entity_action_id ON audit_log (entity_id, action, id);
CREATE INDEX audit_log_entity_object_id ON audit_log (entity_id, object_type, object_id, id);
CREATE INDEX audit_log_request ON audit_log (request_id) WHERE request_id IS NOT NULL;
