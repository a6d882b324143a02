-- Documents that wait, instead of being parked, for what they depend on while that waits for a
-- retry in a remote target: an invoice for its customer or product, a payment, a credit note or an
-- allocation for its invoice (src/sync/engine/waiting.ts). Each waits for one item: an outbox
-- item of the target (`waits_for_kind`, `waits_for` = its kind and source id), or another held
-- record. Once that is no longer pending the engine runs the record again, at the end of a run or
-- on the workers' timer: it is then booked, waits again for something else, or is parked with the
-- reason of the moment. `reason_code` and `message` say what it waits for.
CREATE TABLE held_records (
  pipeline_id uuid NOT NULL REFERENCES pipelines (id),
  kind text NOT NULL,
  source_id text NOT NULL,
  waits_for_kind text NOT NULL,
  waits_for text NOT NULL,
  reason_code text NOT NULL,
  message text NOT NULL,
  field text,
  payload jsonb NOT NULL,
  held_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline_id, kind, source_id)
);
CREATE INDEX held_records_waits_for ON held_records (pipeline_id, waits_for_kind, waits_for);
