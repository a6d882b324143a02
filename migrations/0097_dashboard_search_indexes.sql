-- The dashboard's transaction and audit searches, newest first with keyset paging (id < cursor
-- ORDER BY id DESC LIMIT n): each filter gets an index that yields its rows already in id order,
-- so a page reads about n index entries whatever the table's size. The date range is served by
-- transactions_entity_date (0001), the exact external reference by transactions_external_reference.
CREATE INDEX transactions_entity_id ON transactions (entity_id, id);
CREATE INDEX transactions_entity_type_id ON transactions (entity_id, type, id);
CREATE INDEX transactions_entity_customer_id ON transactions (entity_id, customer_code, id);
CREATE INDEX transactions_entity_number ON transactions (entity_id, number);
-- "Reference starts with", ignoring case: lower(external_reference) LIKE 'abc%'.
CREATE INDEX transactions_entity_reference_prefix
  ON transactions (entity_id, lower(external_reference) text_pattern_ops);

CREATE INDEX audit_log_entity_id ON audit_log (entity_id, id);
CREATE INDEX audit_log_entity_actor_id ON audit_log (entity_id, actor, id);
CREATE INDEX audit_log_entity_action_id ON audit_log (entity_id, action, id);
CREATE INDEX audit_log_entity_object_id ON audit_log (entity_id, object_type, object_id, id);
CREATE INDEX audit_log_request ON audit_log (request_id) WHERE request_id IS NOT NULL;
