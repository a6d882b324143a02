-- Named users (issue #12): global identities with a role in each entity they belong to, their
-- browser sessions (a cookie), their API keys for scripts, and one-time sign-in links. Every
-- secret is stored as a hash: passwords with scrypt (the algorithm and its parameters written into
-- the hash, so they can be raised later), random tokens with one SHA-256.

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND email = lower(email)),
  password_hash text CHECK (length(password_hash) <= 500),
  password_changed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE user_memberships (
  user_id uuid NOT NULL REFERENCES users (id),
  entity_id uuid NOT NULL REFERENCES entities (id),
  role text NOT NULL CHECK (role IN ('owner', 'accountant', 'viewer')),
  disabled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, entity_id)
);
CREATE INDEX user_memberships_entity ON user_memberships (entity_id, role);

-- A browser session: idle until last_seen_at + the idle timeout, and never past expires_at.
CREATE TABLE user_sessions (
  token_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id),
  entity_id uuid NOT NULL REFERENCES entities (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expires ON user_sessions (expires_at);

CREATE TABLE user_api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id),
  entity_id uuid NOT NULL REFERENCES entities (id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  role text NOT NULL CHECK (role IN ('owner', 'accountant', 'viewer')),
  key_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX user_api_keys_user ON user_api_keys (user_id, entity_id);

-- One-time links to set a password (a new user, or a reset): valid 24 hours, used once.
CREATE TABLE user_sign_in_tokens (
  token_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id),
  entity_id uuid REFERENCES entities (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX user_sign_in_tokens_user ON user_sign_in_tokens (user_id);
