/** Bank identifiers as printed on invoices: IBAN (ISO 13616) and BIC (ISO 9362). Pure logic. */

/** The IBAN without spaces, in capitals: "be71 0961 2345 6769" → "BE71096123456769". */
export function normalizeIban(text: string): string {
  return text.replace(/\s+/g, '').toUpperCase();
}

/** Why a normalized IBAN is not one (shape or mod-97 check digits), or null. */
export function ibanProblem(iban: string): string | null {
  if (!/^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/.test(iban)) {
    return 'must be an IBAN: two letters, two check digits and 11 to 30 letters or digits';
  }
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = /[A-Z]/.test(ch) ? ch.charCodeAt(0) - 55 : Number(ch);
    remainder = Number(`${remainder}${value}`) % 97;
  }
  return remainder === 1 ? null : 'has wrong check digits';
}

/** Why a BIC (8 or 11 characters, capitals) is not one, or null. */
export function bicProblem(bic: string): string | null {
  return /^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$/.test(bic) ? null : 'must be a BIC of 8 or 11 letters and digits';
}

/** An IBAN in groups of four, as it is printed: "BE71 0961 2345 6769". */
export function formatIban(iban: string): string {
  return iban.replace(/(.{4})(?=.)/g, '$1 ');
}

/**
 * The countries and territories of the SEPA scheme (EPC list), by the IBAN's country prefix: a
 * transfer to such an IBAN is a SEPA credit transfer.
 */
const SEPA_COUNTRIES = new Set(
  (
    'AD AT AX BE BG BL CH CY CZ DE DK EE ES FI FR GB GF GG GI GP GR HR HU IE IM IS IT JE LI LT LU LV MC MF MQ ' +
    'MT NL NO PL PM PT RE RO SE SI SK SM VA YT'
  ).split(' '),
);

/** Whether a normalized IBAN belongs to a SEPA country. */
export function isSepaIban(iban: string): boolean {
  return SEPA_COUNTRIES.has(iban.slice(0, 2));
}
