-- Pipeline names are unique per entity, not across entities: one entity's names neither reveal nor
-- block another's. (Webhook URLs name a pipeline; a name several entities use is told apart by the
-- delivery's signature, see src/api/routes/webhooks.ts.)
ALTER TABLE pipelines DROP CONSTRAINT pipelines_name_key;
ALTER TABLE pipelines ADD CONSTRAINT pipelines_entity_name_key UNIQUE (entity_id, name);
-- The unique index on (entity_id, name) serves lookups by entity; this one serves lookups by name alone.
DROP INDEX pipelines_entity;
CREATE INDEX pipelines_name ON pipelines (name);
