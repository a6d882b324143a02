-- When each user last signed in (shown to owners in Settings), and sign-in through an OpenID
-- Connect provider named in the configuration file (docs/security.md "Sign-in with OIDC").

ALTER TABLE users ADD COLUMN last_sign_in_at timestamptz;

-- A user's identity at a provider: after the first sign-in matched by verified e-mail, the same
-- (issuer, subject) finds the user even when the e-mail at the provider changes.
CREATE TABLE user_oidc_links (
  issuer text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 500),
  subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
  user_id uuid NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_oidc_links_user ON user_oidc_links (user_id);

-- One sign-in attempt between the redirect to the provider and its return: the state is kept as a
-- hash and taken once (a replayed state finds it used); the browser that started it holds a
-- cookie whose hash must match, so a link from someone else's attempt signs no one in.
CREATE TABLE oidc_sign_in_requests (
  state_hash text PRIMARY KEY,
  browser_hash text NOT NULL,
  nonce text NOT NULL,
  code_verifier text NOT NULL,
  next_path text NOT NULL CHECK (length(next_path) <= 2000),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX oidc_sign_in_requests_expires ON oidc_sign_in_requests (expires_at);
