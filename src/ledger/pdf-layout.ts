import { pdfkit } from './pdfkit.ts';
import { Dec, formatAmount } from '../domain/money.ts';
import { formatIban } from '../domain/iban.ts';
import type { Logo } from './logo.ts';

export interface PartyAddress {
  street?: string | null | undefined;
  city?: string | null | undefined;
  postalCode?: string | null | undefined;
  country?: string | null | undefined;
}

export interface Party {
  name: string;
  code: string | null;
  address: PartyAddress;
  vatNumber: string | null;
}

/**
 * The reference a payer quotes: the document's external reference (the customer's order or PO
 * number), else its number. The PDF, the UBL payment terms and its remittance id (BT-83) all use it,
 * so a payer sees one reference wherever they read it.
 */
export function paymentReference(d: Pick<InvoiceDocument, 'externalReference' | 'number'>): string {
  return d.externalReference.trim() || d.number;
}

/** What an invoice or credit note PDF shows; amounts are minor units of `currency`. */
export interface InvoiceDocument {
  kind: 'invoice' | 'creditNote';
  transactionId: number;
  number: string;
  date: string;
  dueDate: string | null;
  externalReference: string;
  description: string;
  currency: string;
  /** The invoice a credit note credits, by number. */
  relatedNumber: string | null;
  /** When it was posted: the PDF's creation date, so the same document renders the same bytes. */
  createdAt: Date;
  seller: Party;
  buyer: Party;
  lines: { description: string; rate: string; net: bigint; tax: bigint }[];
  /**
   * The VAT breakdown the document was posted with (item documents, transaction_tax_breakdown),
   * per tax code and rate; absent or null when it has none and its lines are summed.
   */
  vatBreakdown?: { rate: string; net: bigint; tax: bigint }[] | null;
  net: bigint;
  tax: bigint;
  gross: bigint;
  /** The entity's logo, bank details and footer line (PUT /v1/settings `branding`). */
  branding?: PdfBranding;
}

/** What the branding adds to every document beyond the seller's name, address and VAT number. */
export interface PdfBranding {
  logo: Logo | null;
  bank: { bankName: string | null; accountName: string | null; iban: string | null; bic: string | null } | null;
  footer: string | null;
}

export const PAGE = { width: 595.28, height: 841.89, margin: 50 };
export const RIGHT = PAGE.width - PAGE.margin;
export const BOTTOM = PAGE.height - PAGE.margin - 32; // room for the footer lines
export const REGULAR = 'Helvetica';
export const BOLD = 'Helvetica-Bold';
// The lines table: description wraps, the amounts are right-aligned to each column's right edge.
const COLS = { description: PAGE.margin, descriptionWidth: 210, net: 340, rate: 395, vat: 465, gross: RIGHT };
// The document's number, dates and reference (and the totals) sit right; the seller's block left of them.
export const META = { label: 320, labelWidth: 90 };
export const SELLER_WIDTH = META.label - PAGE.margin - 10;

// Characters WinAnsiEncoding has beyond Latin-1 (the built-in fonts' encoding).
const WIN_ANSI_EXTRA = new Set('€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ');
// Letters that do not decompose into a base letter and an accent.
const TRANSLITERATE: Record<string, string> = {
  Ł: 'L',
  ł: 'l',
  Đ: 'D',
  đ: 'd',
  Ħ: 'H',
  ħ: 'h',
  ı: 'i',
  Ŧ: 'T',
  ŧ: 't',
};

/**
 * The built-in Helvetica only has WinAnsi glyphs: accents outside it are dropped (ő → o) and
 * anything else becomes "?", rather than a broken glyph; control characters become spaces.
 */
export function toWinAnsi(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  let out = '';
  for (const ch of text.normalize('NFC')) {
    const c = ch.codePointAt(0)!;
    if ((c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xff) || WIN_ANSI_EXTRA.has(ch)) out += ch;
    else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) out += ' ';
    else if (TRANSLITERATE[ch]) out += TRANSLITERATE[ch];
    else {
      const base = ch.normalize('NFD').replace(/\p{M}/gu, '');
      out += base.length > 0 && [...base].every((b) => b.codePointAt(0)! <= 0xff) ? base : '?';
    }
  }
  return out;
}

/** "0.21" → "21%", "0.055" → "5.5%". */
export function formatRate(rate: string): string {
  return new Dec(rate).mul(100).toFixed() + '%';
}

export function addressLines(a: PartyAddress): string[] {
  const cityLine = [a.postalCode, a.city].filter((v) => v).join(' ');
  return [a.street, cityLine, a.country].filter((v): v is string => !!v);
}

/** VAT grouped by rate, lowest rate first. */
export function vatByRate(
  lines: readonly { rate: string; net: bigint; tax: bigint }[],
): { rate: string; net: bigint; tax: bigint }[] {
  const groups = new Map<string, { rate: string; net: bigint; tax: bigint }>();
  for (const l of lines) {
    const key = new Dec(l.rate).toFixed();
    const g = groups.get(key) ?? { rate: key, net: 0n, tax: 0n };
    g.net += l.net;
    g.tax += l.tax;
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => new Dec(a.rate).comparedTo(b.rate));
}

export type Doc = PDFKit.PDFDocument;

export class Writer {
  y = PAGE.margin;
  constructor(readonly doc: Doc) {}

  /**
   * Sets the font and returns `text` as it fits `maxWidth` on one line: smaller type (down to 6
   * points), and only then cut short with "…", so a long name never runs into the next column.
   */
  private fit(text: string, font: string, size: number, maxWidth: number): string {
    let t = toWinAnsi(text);
    this.doc.font(font).fontSize(size);
    const width = this.doc.widthOfString(t);
    if (width <= maxWidth) return t;
    this.doc.fontSize(Math.max(6, (size * maxWidth) / width));
    while (t.length > 1 && this.doc.widthOfString(t) > maxWidth) t = t.slice(0, -2) + '…';
    return t;
  }

  /** Text at (x, y) on one line, no wrapping (the fast path of pdfkit). */
  at(text: string, x: number, y: number, font = REGULAR, size = 9, maxWidth = RIGHT - x): void {
    this.doc.text(this.fit(text, font, size, maxWidth), x, y, { lineBreak: false });
  }

  /** Text ending at `right`. */
  right(text: string, right: number, y: number, font = REGULAR, size = 9, maxWidth = right - PAGE.margin): void {
    const t = this.fit(text, font, size, maxWidth);
    this.doc.text(t, right - this.doc.widthOfString(t), y, { lineBreak: false });
  }

  /** The height of `text` wrapped to `width`. */
  height(text: string, width: number, font = REGULAR, size = 9): number {
    return this.doc.font(font).fontSize(size).heightOfString(toWinAnsi(text), { width });
  }

  /** Wrapped text in a column. */
  wrapped(text: string, x: number, y: number, width: number, font = REGULAR, size = 9): void {
    this.doc.font(font).fontSize(size).text(toWinAnsi(text), x, y, { width });
  }

  rule(y: number, weight = 0.5): void {
    this.doc.moveTo(PAGE.margin, y).lineTo(RIGHT, y).lineWidth(weight).strokeColor('#888888').stroke();
  }

  /** Starts a new page when `height` more does not fit; returns whether it did. */
  ensure(height: number): boolean {
    if (this.y + height <= BOTTOM) return false;
    this.doc.addPage();
    this.y = PAGE.margin;
    return true;
  }
}

/** The logo's box, top left: it is scaled to fit, keeping its proportions. */
const LOGO_BOX = { width: 160, height: 50 };

/**
 * The seller's block, top left: the logo (when there is one), the name, the address and the VAT
 * number. Returns where it ends.
 */
export function letterhead(w: Writer, seller: Party, logo: Logo | null | undefined): number {
  let y = PAGE.margin;
  if (logo) {
    w.doc.image(logo.bytes, PAGE.margin, y, { fit: [LOGO_BOX.width, LOGO_BOX.height] });
    y += LOGO_BOX.height + 8;
  }
  w.at(seller.name, PAGE.margin, y, BOLD, 16, SELLER_WIDTH);
  y += 22;
  for (const line of addressLines(seller.address)) {
    w.at(line, PAGE.margin, y, REGULAR, 9, SELLER_WIDTH);
    y += 12;
  }
  if (seller.vatNumber) {
    w.at(`VAT number: ${seller.vatNumber}`, PAGE.margin, y, REGULAR, 9, SELLER_WIDTH);
    y += 12;
  }
  return y;
}

/** The buyer's block ("Bill to"): name, customer code, address, VAT number; returns where it ends. */
export function buyerBlock(w: Writer, title: string, buyer: Party, top: number): number {
  let by = top;
  w.at(title, PAGE.margin, by, BOLD, 10);
  by += 14;
  w.at(buyer.name, PAGE.margin, by, BOLD, 10);
  by += 13;
  w.at(`Customer code: ${buyer.code ?? ''}`, PAGE.margin, by);
  by += 12;
  for (const line of addressLines(buyer.address)) {
    w.at(line, PAGE.margin, by);
    by += 12;
  }
  if (buyer.vatNumber) {
    w.at(`VAT number: ${buyer.vatNumber}`, PAGE.margin, by);
    by += 12;
  }
  return by;
}

/** The document's title and its label/value pairs, top right; returns where they end. */
export function metaBlock(w: Writer, title: string, meta: [string, string][]): number {
  const top = PAGE.margin;
  w.right(title, RIGHT, top, BOLD, 18);
  let my = top + 28;
  for (const [label, value] of meta) {
    w.at(label, META.label, my, REGULAR, 9, META.labelWidth);
    w.right(value, RIGHT, my, BOLD, 9, RIGHT - META.label - META.labelWidth - 4);
    my += 13;
  }
  return my;
}

/** Where to pay: the bank details of the branding, one per line; nothing when there are none. */
export function bankDetails(w: Writer, bank: PdfBranding['bank'] | undefined): void {
  if (!bank) return;
  const rows: [string, string | null][] = [
    ['Bank', bank.bankName],
    ['Account name', bank.accountName],
    ['IBAN', bank.iban && formatIban(bank.iban)],
    ['BIC', bank.bic],
  ];
  for (const [label, value] of rows) {
    if (!value) continue;
    w.ensure(14);
    w.at(`${label}: ${value}`, PAGE.margin, w.y, REGULAR, 10);
    w.y += 13;
  }
}

function header(w: Writer, d: InvoiceDocument): void {
  const credit = d.kind === 'creditNote';
  const y = letterhead(w, d.seller, d.branding?.logo);

  const meta: [string, string][] = [
    [credit ? 'Credit note number' : 'Invoice number', d.number],
    [credit ? 'Credit note date' : 'Invoice date', d.date],
  ];
  if (d.dueDate && !credit) meta.push(['Due date', d.dueDate]);
  if (d.relatedNumber) meta.push(['Credits invoice', d.relatedNumber]);
  if (d.externalReference) meta.push(['Reference', d.externalReference]);
  meta.push(['Currency', d.currency]);
  const my = metaBlock(w, credit ? 'CREDIT NOTE' : 'INVOICE', meta);
  w.y = buyerBlock(w, credit ? 'Credit to' : 'Bill to', d.buyer, Math.max(y, my) + 18) + 14;
  if (d.description) {
    const width = RIGHT - PAGE.margin;
    w.wrapped(d.description, PAGE.margin, w.y, width, REGULAR, 10);
    w.y += w.height(d.description, width, REGULAR, 10) + 10;
  }
}

function tableHeader(w: Writer): void {
  const y = w.y;
  w.at('Description', COLS.description, y, BOLD);
  w.right('Net', COLS.net, y, BOLD);
  w.right('VAT rate', COLS.rate, y, BOLD);
  w.right('VAT', COLS.vat, y, BOLD);
  w.right('Gross', COLS.gross, y, BOLD);
  w.rule(y + 13);
  w.y = y + 18;
}

function lines(w: Writer, d: InvoiceDocument): void {
  tableHeader(w);
  const c = d.currency;
  for (const l of d.lines) {
    const text = l.description || '-';
    const h = Math.max(12, w.height(text, COLS.descriptionWidth));
    if (w.ensure(h + 4)) tableHeader(w);
    const y = w.y;
    w.wrapped(text, COLS.description, y, COLS.descriptionWidth);
    w.right(formatAmount(l.net, c), COLS.net, y, REGULAR, 9, 75);
    w.right(formatRate(l.rate), COLS.rate, y, REGULAR, 9, 50);
    w.right(formatAmount(l.tax, c), COLS.vat, y, REGULAR, 9, 65);
    w.right(formatAmount(l.net + l.tax, c), COLS.gross, y, REGULAR, 9, 75);
    w.y = y + h + 4;
  }
  w.rule(w.y);
  w.y += 10;
}

function vatSummary(w: Writer, d: InvoiceDocument, groups: ReturnType<typeof vatByRate>): void {
  const c = d.currency;
  w.at('VAT summary', PAGE.margin, w.y, BOLD, 10);
  w.y += 15;
  w.at('VAT rate', PAGE.margin, w.y, BOLD);
  w.right('Net', 200, w.y, BOLD);
  w.right('VAT', 270, w.y, BOLD);
  w.y += 13;
  for (const g of groups) {
    w.at(formatRate(g.rate), PAGE.margin, w.y);
    w.right(formatAmount(g.net, c), 200, w.y, REGULAR, 9, 95);
    w.right(formatAmount(g.tax, c), 270, w.y, REGULAR, 9, 65);
    w.y += 13;
  }
}

function totals(w: Writer, d: InvoiceDocument, top: number): void {
  const c = d.currency;
  let y = top;
  const row = (label: string, value: string, font = REGULAR, size = 9) => {
    w.at(label, META.label, y, font, size, META.labelWidth);
    w.right(value, RIGHT, y, font, size, RIGHT - META.label - META.labelWidth - 4);
    y += size + 5;
  };
  row('Net total', formatAmount(d.net, c));
  row('VAT total', formatAmount(d.tax, c));
  row(`Total ${c}`, formatAmount(d.gross, c), BOLD, 11);
  w.y = Math.max(w.y, y);
}

function payment(w: Writer, d: InvoiceDocument): void {
  w.ensure(60);
  w.y += 16;
  const reference = paymentReference(d);
  const amount = `${formatAmount(d.gross, d.currency)} ${d.currency}`;
  if (d.kind === 'invoice') {
    w.at('Payment', PAGE.margin, w.y, BOLD, 10);
    w.y += 14;
    w.at(`Please pay ${amount} by ${d.dueDate ?? d.date}.`, PAGE.margin, w.y, REGULAR, 10);
    w.y += 13;
    w.at(`Payment reference: ${reference}`, PAGE.margin, w.y, REGULAR, 10);
    w.y += 13;
    bankDetails(w, d.branding?.bank);
  } else {
    w.at('Credit', PAGE.margin, w.y, BOLD, 10);
    w.y += 14;
    w.at(`This credit note reduces your balance by ${amount}.`, PAGE.margin, w.y, REGULAR, 10);
    w.y += 13;
    w.at(`Reference: ${reference}`, PAGE.margin, w.y, REGULAR, 10);
    w.y += 13;
  }
}

/**
 * The foot of every page: the branding's footer line (when set) above "<seller> - <title>" and
 * "Page n of m".
 */
export function footers(doc: Doc, left: string, footerLine: string | null | undefined): void {
  const range = doc.bufferedPageRange();
  for (let i = 0; i < range.count; i++) {
    doc.switchToPage(range.start + i);
    // Writing inside the bottom margin would make pdfkit start a new page.
    doc.page.margins.bottom = 0;
    const y = PAGE.height - PAGE.margin;
    doc.font(REGULAR).fontSize(8).fillColor('#555555');
    if (footerLine) {
      let line = toWinAnsi(footerLine.replace(/\s+/g, ' '));
      while (line.length > 1 && doc.widthOfString(line) > RIGHT - PAGE.margin) line = line.slice(0, -2) + '…';
      doc.text(line, PAGE.margin, y - 12, { lineBreak: false });
    }
    doc.text(toWinAnsi(left), PAGE.margin, y, { lineBreak: false });
    const page = `Page ${i + 1} of ${range.count}`;
    doc.text(page, RIGHT - doc.widthOfString(page), y, { lineBreak: false });
  }
}

/** A new A4 document with fixed metadata (its ID derives from them) and the promise of its bytes. */
export function startDocument(info: { title: string; author: string; subject: string; createdAt: Date }): {
  doc: Doc;
  done: Promise<Buffer>;
} {
  const PDFDocument = pdfkit();
  const doc = new PDFDocument({
    size: 'A4',
    margin: PAGE.margin,
    bufferPages: true,
    info: {
      Title: info.title,
      Author: info.author,
      Subject: info.subject,
      Creator: 'ledgerlink',
      // Fixed metadata: the PDF's ID is a hash of it, so this makes the bytes reproducible.
      CreationDate: info.createdAt,
    },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  return { doc, done };
}

/** Draws the document; resolves with the finished PDF. */
export function renderDocument(d: InvoiceDocument): Promise<Buffer> {
  const kind = d.kind === 'invoice' ? 'Invoice' : 'Credit note';
  const { doc, done } = startDocument({
    title: `${kind} ${d.number}`,
    author: d.seller.name,
    subject: `${kind} ${d.number} for ${d.buyer.name}`,
    createdAt: d.createdAt,
  });
  const w = new Writer(doc);
  header(w, d);
  lines(w, d);
  // The VAT summary (left) and the totals (right) sit side by side, on one page.
  // What was posted: the stored breakdown of an item document, else the lines summed.
  const groups = vatByRate(d.vatBreakdown ?? d.lines);
  w.ensure(Math.max(28 + groups.length * 13, 48));
  const top = w.y;
  vatSummary(w, d, groups);
  totals(w, d, top);
  payment(w, d);
  footers(doc, `${d.seller.name} - ${kind} ${d.number}`, d.branding?.footer);
  doc.end();
  return done;
}
