-- Item invoices (issue #11): items with defaults, customer discount rates, invoices and credit notes
-- written as quantities × unit prices less a line discount, whose tax ledgerlink computes per line or
-- per document, and the VAT breakdown each such document was posted with.

-- Items are the products the sync engine already keeps (name = the item's description); the
-- ledger's own item API adds a default unit price. Four decimals, as quantities and unit prices on
-- lines (src/domain/money.ts UNIT_DECIMALS); the price is in the currency of the document it is used
-- on, like AccountsIQ's item price.
ALTER TABLE products
  ADD COLUMN unit_price numeric(24, 4) CHECK (unit_price >= 0);

-- A customer's default line discount, a fraction (0.05 = 5 %), used on item lines that give none.
ALTER TABLE customers
  ADD COLUMN discount_rate numeric(9, 6) NOT NULL DEFAULT 0 CHECK (discount_rate >= 0 AND discount_rate < 1);

-- How ledgerlink computes the tax of an item document (GET/PUT /v1/settings):
-- per line (each line's net × rate, rounded) or per document (each rate's total net × rate,
-- rounded once), rounding half-up or half-even (banker's). docs/ledger.md "Item invoices".
ALTER TABLE entities
  ADD COLUMN tax_calculation text NOT NULL DEFAULT 'perLine' CHECK (tax_calculation IN ('perLine', 'perDocument')),
  ADD COLUMN tax_rounding text NOT NULL DEFAULT 'halfUp' CHECK (tax_rounding IN ('halfUp', 'halfEven'));

-- Drafts hold batch invoices (kind 'batch', the draft-invoice routes) and item documents (kind
-- 'items', /v1/sales/invoices and /v1/sales/credit-notes/drafts), invoices (SI) or credit notes (SN),
-- in one table with one numbering and one finality rule.
ALTER TABLE draft_invoices
  ADD COLUMN kind text NOT NULL DEFAULT 'batch' CHECK (kind IN ('batch', 'items')),
  ADD COLUMN type text NOT NULL DEFAULT 'SI' CHECK (type IN ('SI', 'SN')),
  ADD CONSTRAINT draft_invoices_batch_is_invoice CHECK (kind = 'items' OR type = 'SI');

-- What an item line was: the item, quantity, unit price and discount its net was computed from,
-- and a note. Null on lines entered as net amounts. A line never changes once posted (the
-- statement-level trigger of 0001 still refuses every UPDATE).
ALTER TABLE transaction_items
  ADD COLUMN item_code text,
  ADD COLUMN quantity numeric(24, 4),
  ADD COLUMN unit_price numeric(24, 4),
  ADD COLUMN discount_rate numeric(9, 6) CHECK (discount_rate >= 0 AND discount_rate <= 1),
  ADD COLUMN note text CHECK (length(note) <= 2000),
  ADD CONSTRAINT transaction_items_quantity_price CHECK ((quantity IS NULL) = (unit_price IS NULL));

-- The customer's order number and the delivery date printed on an item invoice. Covered by the
-- amendment trigger of 0070 like every other column: once posted they never change.
ALTER TABLE transactions
  ADD COLUMN order_number text CHECK (length(order_number) <= 50),
  ADD COLUMN delivery_date date CHECK (delivery_date BETWEEN DATE '1900-01-01' AND DATE '2999-12-31');

-- The VAT breakdown an item document was posted with: per tax code and rate, the net and the tax.
-- Stored, not recomputed, because a per-document total rounds differently from its lines and a
-- rate or setting may change later; the PDF, UBL and VAT returns read what was charged.
CREATE TABLE transaction_tax_breakdown (
  transaction_id bigint NOT NULL REFERENCES transactions (id),
  entity_id uuid NOT NULL REFERENCES entities (id),
  tax_code text NOT NULL,
  tax_rate numeric(9, 6) NOT NULL CHECK (tax_rate >= 0 AND tax_rate <= 1),
  net bigint NOT NULL,
  tax bigint NOT NULL,
  PRIMARY KEY (transaction_id, tax_code, tax_rate)
);
CREATE TRIGGER transaction_tax_breakdown_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON transaction_tax_breakdown
  FOR EACH STATEMENT EXECUTE FUNCTION ll_refuse_change();

-- The breakdown of a document adds up to the document: checked at commit, once every row is in.
CREATE FUNCTION ll_check_tax_breakdown() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad bigint;
BEGIN
  SELECT t.id INTO bad
    FROM transactions t
    JOIN (SELECT transaction_id, sum(net) AS net, sum(tax) AS tax FROM transaction_tax_breakdown
           WHERE transaction_id = NEW.transaction_id GROUP BY transaction_id) b ON b.transaction_id = t.id
   WHERE t.id = NEW.transaction_id AND (b.net <> t.net OR b.tax <> t.tax);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'the VAT breakdown of transaction % does not add up to its net and tax', bad USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER transaction_tax_breakdown_total AFTER INSERT ON transaction_tax_breakdown
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ll_check_tax_breakdown();

-- An item draft's lines as last validated (net and tax per line, the VAT breakdown), to show it
-- without recomputing; posting computes them again from the saved lines and the settings then.
ALTER TABLE draft_invoices ADD COLUMN computed jsonb;
