import { XMLBuilder } from 'fast-xml-parser';
import type { Queryable } from '../db/database.ts';
import { currencyExponent } from '../domain/currency.ts';
import {
  DEFAULT_EXEMPTION_CODES,
  EXEMPT_CATEGORIES,
  type EInvoiceLine,
  type LinePrice,
  type VatBreakdownRow,
  type VatCategory,
  categoryRateProblem,
  defaultVatCategory,
  documentTotals,
  en16931LineProblems,
  en16931TotalsProblems,
  linePrice,
  ratePercent,
  vatBreakdown,
} from '../domain/e-invoice-totals.ts';
import { DomainError, type FieldProblem, isDomainError } from '../domain/errors.ts';
import { isSepaIban } from '../domain/iban.ts';
import { Dec, formatAmount } from '../domain/money.ts';
import { splitPeppolId } from './e-invoicing.ts';
import type { EntityContext } from './entities.ts';
import { type InvoiceDocument, loadInvoiceDocument } from './pdf.ts';
import { type PartyAddress, paymentReference } from './pdf-layout.ts';

export const PEPPOL_CUSTOMIZATION_ID = 'urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0';
export const PEPPOL_PROFILE_ID = 'urn:fdc:peppol.eu:2017:poacc:billing:01:1.0';

/** Peppol ids whose scheme is an ISO 6523 ICD (0002 to 0240), usable as a legal registration id. */
const ICD_SCHEME = /^0[0-9]{3}:/;

const NS = {
  Invoice: 'urn:oasis:names:specification:ubl:schema:xsd:Invoice-2',
  CreditNote: 'urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2',
  cac: 'urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2',
  cbc: 'urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2',
};

/** A line of the document with what the e-invoice needs beyond the PDF's view of it. */
interface UblLine extends EInvoiceLine {
  lineNo: number;
  name: string;
  taxCode: string;
  exemptionReason: string | null;
  exemptionReasonCode: string | null;
  /** The quantity and (net) price the line shows: an item line's own, one unit otherwise. */
  price: LinePrice;
}

interface ExtraRow {
  seller_peppol_id: string | null;
  buyer_peppol_id: string | null;
  buyer_reference: string | null;
  lines: {
    line_no: number;
    description: string;
    account_name: string | null;
    tax_code: string;
    rate: string;
    net: string;
    tax: string;
    vat_category: VatCategory | null;
    exemption_reason: string | null;
    exemption_reason_code: string | null;
    quantity: string | null;
    unit_price: string | null;
    discount_rate: string | null;
  }[];
}

/** Everything the e-invoice is built from, checked: what `buildUbl` turns into XML. */
export interface UblDocument {
  doc: InvoiceDocument;
  sellerPeppolId: string;
  buyerPeppolId: string;
  buyerReference: string;
  lines: UblLine[];
  breakdown: (VatBreakdownRow & { exemptionReason: string | null; exemptionReasonCode: string | null })[];
}

/**
 * Reads a posted invoice (SI) or credit note (SN) with what Peppol BIS 3.0 requires besides the
 * PDF's content, and refuses with EINVOICE_INCOMPLETE, listing every missing or invalid element
 * and the setting that fills it, when a mandatory element cannot be filled: an invalid e-invoice
 * would be rejected by the buyer's access point after it had left.
 */
export async function loadUblDocument(db: Queryable, entity: EntityContext, transactionId: number) {
  let doc: InvoiceDocument;
  try {
    doc = await loadInvoiceDocument(db, entity, transactionId);
  } catch (err) {
    if (isDomainError(err) && err.code === 'TRANSACTION_IS_NOT_AN_INVOICE') {
      throw new DomainError(
        'TRANSACTION_IS_NOT_AN_INVOICE',
        err.message.replace('have a PDF', 'are e-invoices'),
        err.details,
      );
    }
    throw err;
  }
  const { rows } = await db.query<ExtraRow>(
    `SELECT e.peppol_id AS seller_peppol_id, c.peppol_id AS buyer_peppol_id, c.buyer_reference,
            coalesce((SELECT json_agg(json_build_object(
                        'line_no', i.line_no, 'description', i.description, 'account_name', g.name,
                        'tax_code', i.tax_code, 'rate', i.tax_rate::text, 'net', i.net::text, 'tax', i.tax::text,
                        'vat_category', tc.vat_category, 'exemption_reason', tc.vat_exemption_reason,
                        'exemption_reason_code', tc.vat_exemption_reason_code, 'quantity', i.quantity::text,
                        'unit_price', i.unit_price::text, 'discount_rate', i.discount_rate::text) ORDER BY i.line_no)
                        FROM transaction_items i
                        LEFT JOIN tax_codes tc ON tc.entity_id = i.entity_id AND tc.code = i.tax_code
                        LEFT JOIN gl_accounts g ON g.entity_id = i.entity_id AND g.code = i.gl_account_code
                       WHERE i.transaction_id = t.id), '[]'::json) AS lines
       FROM transactions t
       JOIN entities e ON e.id = t.entity_id
       LEFT JOIN customers c ON c.entity_id = t.entity_id AND c.code = t.customer_code
      WHERE t.id = $1 AND t.entity_id = $2`,
    [transactionId, entity.id],
  );
  const extra = rows[0]!;
  const problems: FieldProblem[] = [];
  const need = (field: string, message: string) => problems.push({ field, message });

  const decimals = currencyExponent(doc.currency);
  if (decimals > 2) {
    need('currency', `${doc.currency} has ${decimals} decimals; EN 16931 amounts have at most 2 (BR-DEC)`);
  }
  if (!extra.seller_peppol_id) {
    need(
      'settings.peppolId',
      "the entity's Peppol id (seller electronic address, BT-34): PUT /v1/settings/e-invoicing",
    );
  }
  const customer = `customer ${doc.buyer.code}`;
  if (!extra.buyer_peppol_id) {
    need(
      'customer.peppolId',
      `the Peppol id of ${customer} (buyer electronic address, BT-49): PUT /v1/customers/${doc.buyer.code}/e-invoicing`,
    );
  }
  if (!extra.buyer_reference) {
    need(
      'customer.buyerReference',
      `the buyer reference of ${customer} (BT-10, required by PEPPOL-EN16931-R003): PUT /v1/customers/${doc.buyer.code}/e-invoicing`,
    );
  }
  checkCountry(doc.seller.address, 'entity.address.country', "the entity's country (BR-09)", need);
  checkCountry(doc.buyer.address, 'customer.address.country', `the country of ${customer} (BR-11)`, need);

  const lines: UblLine[] = extra.lines.map((l) => {
    const category = l.vat_category ?? defaultVatCategory(l.rate);
    const problem = categoryRateProblem(category, l.rate);
    if (problem) need(`taxCodes.${l.tax_code}.vatCategory`, `line ${l.line_no}: ${problem}`);
    const net = BigInt(l.net);
    const price = linePrice(
      net,
      { quantity: l.quantity, unitPrice: l.unit_price, discountRate: l.discount_rate },
      decimals,
    );
    const stated = { ...price, lineExtension: formatAmount(net, doc.currency) };
    for (const p of en16931LineProblems(stated)) need('lines', `line ${l.line_no}: ${p}`);
    return {
      lineNo: l.line_no,
      // BR-25: every item has a name; a line without a description takes the document's, else its account's.
      name: firstText(l.description, doc.description, l.account_name, l.tax_code),
      taxCode: l.tax_code,
      category,
      rate: new Dec(l.rate).toFixed(),
      net,
      tax: BigInt(l.tax),
      exemptionReason: l.exemption_reason,
      exemptionReasonCode: l.exemption_reason_code ?? DEFAULT_EXEMPTION_CODES[category] ?? null,
      price,
    };
  });
  if (lines.length === 0) need('lines', 'the document has no lines (BR-16)');

  const categories = new Set(lines.map((l) => l.category));
  const needsSellerVat = [...categories].some((c) => c !== 'O');
  if (needsSellerVat) {
    checkVatNumber(doc.seller.vatNumber, 'entity.vatNumber', "the entity's VAT number (BR-S-02 etc.)", need);
  }
  if (!needsSellerVat && extra.seller_peppol_id && !ICD_SCHEME.test(extra.seller_peppol_id)) {
    // BR-CO-26: without a VAT number (BR-O-02 forbids it here) the seller needs a legal
    // registration id, which the Peppol id gives when its scheme is an ISO 6523 ICD.
    need(
      'settings.peppolId',
      'a document not subject to VAT (category O) identifies the seller by its legal registration (BR-CO-26): ' +
        'the Peppol id needs an ISO 6523 scheme (0002-0240), such as 0208',
    );
  }
  if (categories.has('AE') || categories.has('K')) {
    checkVatNumber(
      doc.buyer.vatNumber,
      'customer.vatNumber',
      `the VAT number of ${customer} (reverse charge and intra-community supplies, BR-AE-02, BR-IC-02)`,
      need,
    );
  }
  const breakdown = vatBreakdown(lines).map((row) => {
    const first = lines.find((l) => l.category === row.category && l.rate === row.rate) ?? lines[0]!;
    const sameCategory = lines.filter((l) => l.category === row.category && l.rate === row.rate);
    const reasons = new Set(sameCategory.map((l) => `${l.exemptionReason ?? ''}|${l.exemptionReasonCode ?? ''}`));
    if (EXEMPT_CATEGORIES.has(row.category)) {
      if (!first.exemptionReason && !first.exemptionReasonCode) {
        need(
          `taxCodes.${first.taxCode}.vatExemptionReason`,
          `category ${row.category} needs an exemption reason (BR-${row.category === 'K' ? 'IC' : row.category}-10): PUT /v1/tax-codes/${first.taxCode}`,
        );
      }
      if (reasons.size > 1) {
        need(
          `taxCodes.${first.taxCode}.vatExemptionReason`,
          `the tax codes of category ${row.category} give different exemption reasons; one VAT breakdown row has one`,
        );
      }
    }
    return {
      ...row,
      exemptionReason: EXEMPT_CATEGORIES.has(row.category) ? first.exemptionReason : null,
      exemptionReasonCode: EXEMPT_CATEGORIES.has(row.category) ? first.exemptionReasonCode : null,
    };
  });
  const totals = documentTotals(lines);
  // The e-invoice states the document as posted: its lines must add up to what the ledger holds.
  if (totals.lineExtension !== doc.net || totals.tax !== doc.tax || totals.taxInclusive !== doc.gross) {
    need('lines', 'the lines do not add up to the posted totals');
  }
  for (const p of en16931TotalsProblems(lines, breakdown, totals, 10n ** BigInt(decimals))) need('totals', p);

  if (problems.length > 0) {
    throw new DomainError(
      'EINVOICE_INCOMPLETE',
      `Transaction ${transactionId} cannot be sent as a Peppol BIS 3.0 e-invoice: ` +
        problems.map((p) => `${p.field}: ${p.message}`).join('; '),
      problems,
    );
  }
  return {
    doc,
    sellerPeppolId: extra.seller_peppol_id!,
    buyerPeppolId: extra.buyer_peppol_id!,
    buyerReference: extra.buyer_reference!,
    lines,
    breakdown,
  } satisfies UblDocument;
}

function firstText(...texts: (string | null | undefined)[]): string {
  for (const t of texts) if (t && t.trim() !== '') return t.trim();
  return '-';
}

function checkCountry(
  address: PartyAddress,
  field: string,
  what: string,
  need: (field: string, message: string) => void,
): void {
  const country = address.country?.trim();
  if (!country) need(field, `${what} is missing`);
  else if (!/^[A-Z]{2}$/.test(country)) need(field, `${what} must be an ISO 3166-1 alpha-2 code, not "${country}"`);
}

function checkVatNumber(
  vat: string | null,
  field: string,
  what: string,
  need: (field: string, message: string) => void,
): void {
  const v = vat?.trim();
  if (!v) need(field, `${what} is missing`);
  else if (!/^[A-Z]{2}/.test(v)) need(field, `${what} must start with its country prefix (BR-CO-09), not "${v}"`);
}

/** The e-invoice of a posted invoice or credit note as UBL 2.1 XML (Peppol BIS Billing 3.0). */
export async function renderUbl(db: Queryable, entity: EntityContext, transactionId: number): Promise<string> {
  return buildUbl(await loadUblDocument(db, entity, transactionId));
}

type Xml = Record<string, unknown>;

/** Turns a checked document into the UBL 2.1 text, elements in the order the schema prescribes. */
export function buildUbl(u: UblDocument): string {
  const { doc } = u;
  const isInvoice = doc.kind === 'invoice';
  const currency = doc.currency;
  const amount = (minor: bigint): Xml => ({ '@_currencyID': currency, '#text': formatAmount(minor, currency) });
  const onlyO = u.lines.every((l) => l.category === 'O');
  const totals = documentTotals(u.lines);
  const reference = paymentReference(doc);

  const root: Xml = {
    '@_xmlns': isInvoice ? NS.Invoice : NS.CreditNote,
    '@_xmlns:cac': NS.cac,
    '@_xmlns:cbc': NS.cbc,
    'cbc:CustomizationID': PEPPOL_CUSTOMIZATION_ID,
    'cbc:ProfileID': PEPPOL_PROFILE_ID,
    'cbc:ID': doc.number,
    'cbc:IssueDate': doc.date,
  };
  if (isInvoice) {
    if (doc.dueDate) root['cbc:DueDate'] = doc.dueDate;
    root['cbc:InvoiceTypeCode'] = '380';
  } else {
    root['cbc:CreditNoteTypeCode'] = '381';
  }
  // PEPPOL-EN16931-R002: one note at most.
  if (doc.description.trim()) root['cbc:Note'] = doc.description.trim();
  root['cbc:DocumentCurrencyCode'] = currency;
  root['cbc:BuyerReference'] = u.buyerReference;
  if (doc.relatedNumber)
    root['cac:BillingReference'] = { 'cac:InvoiceDocumentReference': { 'cbc:ID': doc.relatedNumber } };
  root['cac:AccountingSupplierParty'] = {
    'cac:Party': party(doc.seller, u.sellerPeppolId, onlyO ? null : doc.seller.vatNumber, onlyO),
  };
  root['cac:AccountingCustomerParty'] = {
    'cac:Party': party(doc.buyer, u.buyerPeppolId, onlyO ? null : doc.buyer.vatNumber, false),
  };
  if (u.lines.some((l) => l.category === 'K')) {
    // BR-IC-11/12: an intra-community supply names where and when it was delivered; the ledger
    // knows the buyer's country and the document date, which is what the supply is invoiced on.
    root['cac:Delivery'] = {
      'cbc:ActualDeliveryDate': doc.date,
      'cac:DeliveryLocation': {
        'cac:Address': { 'cac:Country': { 'cbc:IdentificationCode': doc.buyer.address.country } },
      },
    };
  }
  const paymentMeans = isInvoice ? creditTransfer(doc) : null;
  if (paymentMeans) root['cac:PaymentMeans'] = paymentMeans;
  const terms = isInvoice
    ? doc.dueDate
      ? `Payment due by ${doc.dueDate}, reference ${reference}`
      : `Payment reference ${reference}`
    : doc.relatedNumber
      ? `Credit note for invoice ${doc.relatedNumber}`
      : 'Credit note';
  root['cac:PaymentTerms'] = { 'cbc:Note': terms };
  root['cac:TaxTotal'] = {
    'cbc:TaxAmount': amount(totals.tax),
    'cac:TaxSubtotal': u.breakdown.map((b) => ({
      'cbc:TaxableAmount': amount(b.taxable),
      'cbc:TaxAmount': amount(b.tax),
      'cac:TaxCategory': taxCategory(b.category, b.rate, b.exemptionReasonCode, b.exemptionReason),
    })),
  };
  root['cac:LegalMonetaryTotal'] = {
    'cbc:LineExtensionAmount': amount(totals.lineExtension),
    'cbc:TaxExclusiveAmount': amount(totals.taxExclusive),
    'cbc:TaxInclusiveAmount': amount(totals.taxInclusive),
    ...(totals.prepaid !== 0n ? { 'cbc:PrepaidAmount': amount(totals.prepaid) } : {}),
    'cbc:PayableAmount': amount(totals.payable),
  };
  root[isInvoice ? 'cac:InvoiceLine' : 'cac:CreditNoteLine'] = u.lines.map((l) => {
    // BR-27: the price is never negative, so a discount line is a negative quantity at a positive
    // price (PEPPOL-EN16931-R120: quantity × price = line net); see linePrice.
    const p = l.price;
    const price: Xml = { 'cbc:PriceAmount': { '@_currencyID': currency, '#text': p.netPrice } };
    if (p.grossPrice !== null && p.priceDiscount !== null) {
      // BT-147 and BT-148: the line discount as a price discount, so the net price is explained.
      price['cac:AllowanceCharge'] = {
        'cbc:ChargeIndicator': 'false',
        'cbc:Amount': { '@_currencyID': currency, '#text': p.priceDiscount },
        'cbc:BaseAmount': { '@_currencyID': currency, '#text': p.grossPrice },
      };
    }
    return {
      'cbc:ID': String(l.lineNo),
      // C62 ("one"): items have no unit of measure in the ledger.
      [isInvoice ? 'cbc:InvoicedQuantity' : 'cbc:CreditedQuantity']: { '@_unitCode': 'C62', '#text': p.quantity },
      'cbc:LineExtensionAmount': amount(l.net),
      'cac:Item': {
        'cbc:Name': l.name,
        'cac:ClassifiedTaxCategory': taxCategory(l.category, l.rate, null, null),
      },
      'cac:Price': price,
    };
  });

  const builder = new XMLBuilder({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    format: true,
    tagValueProcessor: (_name, value) => (typeof value === 'string' ? xmlText(value) : value),
    attributeValueProcessor: (_name, value) => (typeof value === 'string' ? xmlText(value) : value),
  });
  return builder.build({
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    [isInvoice ? 'Invoice' : 'CreditNote']: root,
  });
}

/**
 * Text as XML 1.0 can hold it: a document synced from elsewhere may carry control characters,
 * which no XML parser accepts, even escaped. The builder escapes &, <, > and quotes itself.
 */
export function xmlText(text: string): string {
  return text.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '');
}

/**
 * BG-16 from the entity's branding bank details: a credit transfer to its IBAN (58, SEPA credit
 * transfer, for an IBAN of a SEPA country; 30 otherwise), the payment reference of the PDF and the
 * payment terms as the remittance information (BT-83). None without an IBAN: BR-61 wants the account on a credit transfer.
 */
function creditTransfer(doc: InvoiceDocument): Xml | null {
  const bank = doc.branding?.bank;
  const iban = bank?.iban?.trim();
  if (!bank || !iban) return null;
  const account: Xml = { 'cbc:ID': iban };
  const name = bank.accountName?.trim();
  if (name) account['cbc:Name'] = name;
  const bic = bank.bic?.trim();
  if (bic) account['cac:FinancialInstitutionBranch'] = { 'cbc:ID': bic };
  return {
    'cbc:PaymentMeansCode': isSepaIban(iban) ? '58' : '30',
    'cbc:PaymentID': paymentReference(doc),
    'cac:PayeeFinancialAccount': account,
  };
}

function taxCategory(category: VatCategory, rate: string, reasonCode: string | null, reason: string | null): Xml {
  const out: Xml = { 'cbc:ID': category };
  // BR-O-05: "not subject to VAT" carries no rate at all.
  if (category !== 'O') out['cbc:Percent'] = ratePercent(rate);
  if (reasonCode) out['cbc:TaxExemptionReasonCode'] = reasonCode;
  if (reason) out['cbc:TaxExemptionReason'] = reason;
  out['cac:TaxScheme'] = { 'cbc:ID': 'VAT' };
  return out;
}

/** A party: electronic address, name, postal address, VAT number and legal name, empty elements left out (PEPPOL-EN16931-R008). */
function party(p: InvoiceDocument['seller'], peppolId: string, vatNumber: string | null, registration: boolean): Xml {
  const endpoint = splitPeppolId(peppolId);
  const a = p.address;
  const address: Xml = {};
  if (a.street?.trim()) address['cbc:StreetName'] = a.street.trim();
  if (a.city?.trim()) address['cbc:CityName'] = a.city.trim();
  if (a.postalCode?.trim()) address['cbc:PostalZone'] = a.postalCode.trim();
  address['cac:Country'] = { 'cbc:IdentificationCode': a.country?.trim() };
  const out: Xml = {
    'cbc:EndpointID': { '@_schemeID': endpoint.scheme, '#text': endpoint.value },
    'cac:PartyName': { 'cbc:Name': p.name },
    'cac:PostalAddress': address,
  };
  if (vatNumber?.trim()) {
    out['cac:PartyTaxScheme'] = { 'cbc:CompanyID': vatNumber.trim(), 'cac:TaxScheme': { 'cbc:ID': 'VAT' } };
  }
  out['cac:PartyLegalEntity'] = {
    'cbc:RegistrationName': p.name,
    ...(registration ? { 'cbc:CompanyID': { '@_schemeID': endpoint.scheme, '#text': endpoint.value } } : {}),
  };
  return out;
}
