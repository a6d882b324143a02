-- The API layer's hardening (issue #9): stored idempotent responses expire and never hold keys,
-- and failed logins are counted in the database so every process shares the throttle.

ALTER TABLE idempotency_keys ADD COLUMN expires_at timestamptz;
UPDATE idempotency_keys SET expires_at = created_at + interval '24 hours';
ALTER TABLE idempotency_keys ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

-- An answer that held secrets (an entity's first key pair, a fresh key pair) is recorded as having
-- happened, never stored: a replay is refused instead of handing the keys out again.
ALTER TABLE idempotency_keys ADD COLUMN holds_secret boolean NOT NULL DEFAULT false;
UPDATE idempotency_keys
   SET holds_secret = true, response_body = 'null'
 WHERE path IN ('/v1/admin/entities', '/v1/admin/entities/{code}/keys', '/v1/auth/login');
ALTER TABLE idempotency_keys
  ADD CONSTRAINT idempotency_keys_secret_not_stored CHECK (NOT holds_secret OR response_body = 'null'::jsonb);

-- One row per failed login, under two subjects: the entity id tried and the client address.
CREATE TABLE login_failures (
  id bigserial PRIMARY KEY,
  subject text NOT NULL CHECK (length(subject) <= 200),
  failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_subject ON login_failures (subject, failed_at);
CREATE INDEX login_failures_failed_at ON login_failures (failed_at);
