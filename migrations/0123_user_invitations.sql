-- Accounts are global (one e-mail across entities), so an owner who adds an e-mail that already has
-- an account must not get that account into the entity by themselves: the password may have been
-- set through a link another entity's owner held, and the account's person has not agreed. Such an
-- addition is an invitation, which grants nothing until the person accepts it with the invitation's
-- one-time link and their own password (POST /v1/auth/accept-invitation, /sign-in/accept). One
-- invitation per entity and account; only its token's SHA-256 is kept.
CREATE TABLE user_invitations (
  entity_id uuid NOT NULL REFERENCES entities (id),
  user_id uuid NOT NULL REFERENCES users (id),
  role text NOT NULL CHECK (role IN ('owner', 'accountant', 'viewer')),
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (entity_id, user_id)
);
CREATE INDEX user_invitations_user ON user_invitations (user_id);

-- A set-password link an entity's owner was given works only while the account belongs to that
-- entity alone (checked when it is used as when it was issued); the operator's links
-- (`ledgerlink user create`, `ledgerlink user link`) work for any account.
ALTER TABLE user_sign_in_tokens ADD COLUMN by_operator boolean NOT NULL DEFAULT false;

-- When the user last signed in to this entity (or switched to it): what the entity's owner sees,
-- never the user's sign-ins elsewhere. Filled from the audit trail for sign-ins before this.
ALTER TABLE user_memberships ADD COLUMN last_sign_in_at timestamptz;
UPDATE user_memberships m
   SET last_sign_in_at = a.at
  FROM (SELECT entity_id, object_id, max(at) AS at
          FROM audit_log
         WHERE action IN ('auth.sign-in', 'auth.entity-switched') AND object_type = 'user'
         GROUP BY entity_id, object_id) a
 WHERE a.entity_id = m.entity_id AND a.object_id = m.user_id::text;
