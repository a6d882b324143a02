-- Why the last refresh of an OAuth connection's access token failed, when it failed in a way that
-- keeps the grant (the platform down, a timeout, a refused address): shown on the dashboard's
-- Connections page beside the connection. A revocation is recorded in revoked_reason instead; a
-- successful refresh clears it. The message is the connector's, which never holds a token.
ALTER TABLE oauth_connections
  ADD COLUMN last_refresh_error text CHECK (length(last_refresh_error) <= 500),
  ADD COLUMN last_refresh_error_at timestamptz;
