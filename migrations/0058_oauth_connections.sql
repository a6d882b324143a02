-- OAuth 2.0 connections of pipelines whose target is an accounting platform (Xero, QuickBooks
-- Online, ...), and the single-use `state` values of the consent flow (src/sync/remote/oauth.ts,
-- src/api/routes/connections.ts).

-- One connection per pipeline. The tokens are sealed with the server's encryption key (`enc:v1:`,
-- re-encrypted by `ledgerlink keys rotate`); a value in clear is refused by the checks below.
CREATE TABLE oauth_connections (
  pipeline_id uuid PRIMARY KEY REFERENCES pipelines (id),
  access_token text CHECK (access_token LIKE 'enc:v1:%'),
  refresh_token text CHECK (refresh_token LIKE 'enc:v1:%'),
  -- When the access token expires (null: none yet, refresh before the first call).
  expires_at timestamptz,
  tenant_id text CHECK (length(tenant_id) BETWEEN 1 AND 200),
  tenant_name text CHECK (length(tenant_name) <= 500),
  scopes text CHECK (length(scopes) <= 2000),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  revoked_reason text CHECK (length(revoked_reason) <= 500),
  revoked_at timestamptz,
  -- How it was connected: the consent flow, or the `refreshToken` of the pipeline's target settings.
  origin text NOT NULL CHECK (origin IN ('oauth', 'settings')),
  -- SHA-256 of the settings' refresh token this connection was seeded from or replaced: a new value
  -- in the settings reconnects, the same (already used) value never seeds again.
  settings_token_digest text CHECK (settings_token_digest ~ '^[0-9a-f]{64}$'),
  connected_at timestamptz NOT NULL DEFAULT now(),
  refreshed_at timestamptz,
  -- One refresh at a time across workers: a worker claims the row until then, calls the token
  -- endpoint outside any transaction, and stores the answer in one statement.
  refresh_claimed_until timestamptz,
  CHECK (status = 'revoked' OR refresh_token IS NOT NULL),
  CHECK (status = 'active' OR (access_token IS NULL AND refresh_token IS NULL AND revoked_at IS NOT NULL))
);

-- The `state` of a consent that was started: stored hashed (the value itself travels only in the
-- redirect), bound to the entity and pipeline that started it, used once, valid for 10 minutes.
CREATE TABLE oauth_states (
  state_hash text PRIMARY KEY CHECK (state_hash ~ '^[0-9a-f]{64}$'),
  entity_id uuid NOT NULL REFERENCES entities (id),
  pipeline_id uuid NOT NULL REFERENCES pipelines (id),
  -- The PKCE verifier, sealed; null when the platform does not take PKCE.
  code_verifier text CHECK (code_verifier LIKE 'enc:v1:%'),
  redirect_uri text NOT NULL CHECK (length(redirect_uri) <= 2000),
  actor text NOT NULL CHECK (length(actor) <= 200),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
CREATE INDEX oauth_states_pipeline ON oauth_states (pipeline_id);

-- A deleted pipeline keeps its history, never its credentials: its tokens and pending consents go.
CREATE FUNCTION ll_forget_oauth_of_deleted_pipeline() RETURNS trigger AS $$
BEGIN
  DELETE FROM oauth_connections WHERE pipeline_id = NEW.id;
  DELETE FROM oauth_states WHERE pipeline_id = NEW.id;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER pipelines_forget_oauth
  AFTER UPDATE OF deleted_at ON pipelines
  FOR EACH ROW WHEN (NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL)
  EXECUTE FUNCTION ll_forget_oauth_of_deleted_pipeline();
