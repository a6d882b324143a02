-- Plausibility bounds on exchange rates (issue #9): a document's rate outside a band around the
-- last known rate for its currency is refused unless the request confirms it.

-- How far a rate may stray from the last known one, as a fraction (0.5 = ±50 %).
ALTER TABLE entities
  ADD COLUMN exchange_rate_tolerance numeric(20, 6) NOT NULL DEFAULT 0.5 CHECK (exchange_rate_tolerance >= 0);

-- The last known rate of a currency is one probe: the newest document keyed with a rate of its own
-- (not exchange differences, discounts or reversals, which carry 1 or a copied rate).
CREATE INDEX transactions_last_rate ON transactions (entity_id, currency, transaction_date DESC, id DESC)
  WHERE type IN ('SI', 'SR', 'SN', 'SD', 'SC');
