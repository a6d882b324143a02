-- A replayed answer carries the `Location` header its first answer had (POST
-- /v1/pipelines/{name}/reconciliations answers 202 with where to follow the work): a client that
-- retried after a lost answer follows the same header as one that got it the first time. Null for
-- answers without one, and for answers that held secrets (their body is not stored either).
ALTER TABLE idempotency_keys ADD COLUMN response_location text;
ALTER TABLE idempotency_keys
  ADD CONSTRAINT idempotency_keys_secret_location_not_stored CHECK (NOT holds_secret OR response_location IS NULL);
