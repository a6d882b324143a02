-- The rate planner's budget (src/sync/remote/rate-planner.ts), shared by every process using this
-- database: one row per scope (a tenant, a company, an app), locked while a call is granted so
-- that two workers cannot both take the last slot; the calls of the longest window in use; and
-- the concurrency slots in flight, as leases that expire by themselves when a worker dies.
CREATE TABLE rate_scopes (
  scope text PRIMARY KEY,
  -- The platform said to come back later (429, Retry-After): no call to this scope before then.
  blocked_until timestamptz
);

CREATE TABLE rate_calls (
  id bigserial PRIMARY KEY,
  scope text NOT NULL REFERENCES rate_scopes (scope) ON DELETE CASCADE,
  at timestamptz NOT NULL,
  -- 'phantom': calls the platform counted that we did not make (another app), from its rate headers.
  kind text NOT NULL CHECK (kind IN ('read', 'write', 'phantom'))
);
CREATE INDEX rate_calls_scope_at ON rate_calls (scope, at);

CREATE TABLE rate_leases (
  id bigserial PRIMARY KEY,
  scope text NOT NULL REFERENCES rate_scopes (scope) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL
);
CREATE INDEX rate_leases_scope ON rate_leases (scope, expires_at);
