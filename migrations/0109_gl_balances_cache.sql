-- Each GL account's journal lines summed per day, kept on the read side, so that a trial balance
-- adds up a few thousand sums instead of every journal line of the entity: at a million
-- transactions (2.5 million lines) it took 378 ms at the median, and grew with the ledger
-- (docs/performance.md).
--
-- Nothing on the write path maintains it, as the open items cache (migration 0098): readers bring
-- it up to date from the change order of migration 0068. The lines of every transaction written
-- below `gl_balances_cursors.xid` are in it; the few at or above it are read from the ledger
-- (src/ledger/reports/gl-balances.ts). Journal lines are never changed or deleted and are written
-- with their transaction, so a transaction's lines are added to the sums once, when the cursor
-- passes it. It is derived data: deleting an entity's cursor and its sums rebuilds them.
CREATE TABLE gl_balances_cursors (
  entity_id uuid PRIMARY KEY,
  -- The lines of every transaction written by a database transaction below this one are summed.
  xid xid8 NOT NULL,
  refreshed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gl_daily_balances (
  entity_id uuid NOT NULL,
  gl_account_code text NOT NULL,
  -- The transactions' date: a trial balance as at a date adds up the days up to it.
  balance_date date NOT NULL,
  -- Sum of the lines' base_amount (debit positive), in minor units of the base currency.
  base_amount numeric NOT NULL,
  PRIMARY KEY (entity_id, balance_date, gl_account_code)
);
