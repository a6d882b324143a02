-- The fingerprint of the key that encrypts this database's credentials (an HMAC under the key, never
-- the key): a process started with another key is refused before it writes anything, and
-- `ledgerlink keys rotate` re-encrypts every secret and moves the fingerprint in one transaction.
CREATE TABLE encryption_key (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  fingerprint text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  rotated_at timestamptz
);
