-- E-invoices (UBL 2.1, Peppol BIS Billing 3.0): the electronic addresses of seller and buyer, the
-- buyer's reference, and the VAT category of each tax code. Kept in columns of their own, apart
-- from the branding settings, so each feature migrates and merges on its own.

-- A Peppol participant identifier written "scheme:identifier", the scheme an EAS code ("0208"
-- Belgian enterprise number, "0088" GLN, "9930" German VAT, "EM" e-mail...). NULL when not set:
-- an e-invoice then is refused with the missing element named, never sent without an address.
ALTER TABLE entities
  ADD COLUMN peppol_id text CHECK (peppol_id ~ '^[0-9A-Z]{2,4}:[^[:space:]:]+$' AND length(peppol_id) <= 120);

ALTER TABLE customers
  ADD COLUMN peppol_id text CHECK (peppol_id ~ '^[0-9A-Z]{2,4}:[^[:space:]:]+$' AND length(peppol_id) <= 120),
  -- BT-10: the reference the buyer asked to find on its invoices (a cost centre, a contact code).
  ADD COLUMN buyer_reference text CHECK (length(btrim(buyer_reference)) BETWEEN 1 AND 200);

-- The EN 16931 VAT category (UNCL 5305 subset Peppol allows). NULL derives it from the rate of each
-- line: S (standard) for a positive rate, Z (zero rated) for zero. An exempt category needs a
-- reason on the document (BR-E-10 etc.): the text, or a VATEX code, or both.
ALTER TABLE tax_codes
  ADD COLUMN vat_category text CHECK (vat_category IN ('S', 'Z', 'E', 'AE', 'K', 'G', 'O')),
  ADD COLUMN vat_exemption_reason text CHECK (length(btrim(vat_exemption_reason)) BETWEEN 1 AND 300),
  ADD COLUMN vat_exemption_reason_code text CHECK (vat_exemption_reason_code ~ '^VATEX-[A-Z0-9-]{1,40}$');

-- The default EXEMPT code of every entity is exempt, not zero rated, on e-invoices too (while its
-- rate has always been 0): its documents then need an exemption reason, as BR-E-10 requires.
UPDATE tax_codes tc SET vat_category = 'E'
 WHERE tc.code = 'EXEMPT' AND tc.vat_category IS NULL
   AND NOT EXISTS (SELECT 1 FROM tax_rates r WHERE r.entity_id = tc.entity_id AND r.tax_code = tc.code AND r.rate <> 0);
