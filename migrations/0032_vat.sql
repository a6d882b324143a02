-- VAT: how settlement discounts treat VAT, the tolerance for supplied VAT, and dated tax rates.

-- Entity settings owned by the VAT rules (GET/PUT /v1/settings).
ALTER TABLE entities
  ADD COLUMN discount_vat_treatment text NOT NULL DEFAULT 'gross'
    CHECK (discount_vat_treatment IN ('gross', 'adjustVat')),
  ADD COLUMN vat_tolerance numeric(20, 6) NOT NULL DEFAULT 1 CHECK (vat_tolerance >= 0);

-- A tax code's rates, each in force from its date until the next one. tax_codes.rate stays as the
-- rate in force when the code was last saved, for readers that want one figure.
CREATE TABLE tax_rates (
  entity_id uuid NOT NULL,
  tax_code text NOT NULL,
  from_date date NOT NULL CHECK (from_date BETWEEN DATE '1900-01-01' AND DATE '2999-12-31'),
  rate numeric(9, 6) NOT NULL CHECK (rate >= 0 AND rate <= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (entity_id, tax_code, from_date),
  FOREIGN KEY (entity_id, tax_code) REFERENCES tax_codes (entity_id, code)
);

-- Existing codes keep their one rate for every date.
INSERT INTO tax_rates (entity_id, tax_code, from_date, rate)
SELECT entity_id, code, DATE '1900-01-01', rate FROM tax_codes;

-- However a tax code is created (a new entity, the API, a direct insert), its first rate is in
-- force from the beginning, so no document date is left without a rate.
CREATE OR REPLACE FUNCTION ll_tax_code_first_rate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tax_rates (entity_id, tax_code, from_date, rate)
  VALUES (NEW.entity_id, NEW.code, DATE '1900-01-01', NEW.rate);
  RETURN NULL;
END $$;

CREATE TRIGGER tax_codes_first_rate AFTER INSERT ON tax_codes
  FOR EACH ROW EXECUTE FUNCTION ll_tax_code_first_rate();
