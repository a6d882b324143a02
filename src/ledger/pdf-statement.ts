import type { Queryable } from '../db/database.ts';
import type { AgingBasis, AgingBucket } from '../domain/aging.ts';
import { loadLetterhead, type Letterhead } from './branding.ts';
import type { EntityContext } from './entities.ts';
import {
  bankDetails,
  BOLD,
  buyerBlock,
  footers,
  letterhead,
  metaBlock,
  PAGE,
  type PartyAddress,
  REGULAR,
  RIGHT,
  startDocument,
  Writer,
} from './pdf-layout.ts';
import { DOCUMENT_NAMES } from './pdf-receipt.ts';
import { customerStatement, type Statement } from './reports/statement.ts';

/** The aging buckets as a statement heads them, oldest last. */
export const BUCKET_LABELS: Record<AgingBucket, string> = {
  current: 'Current',
  days1to30: '1-30 days',
  days31to60: '31-60 days',
  days61to90: '61-90 days',
  days91to120: '91-120 days',
  over120: 'Over 120 days',
};

export interface StatementDocument {
  statement: Statement;
  seller: Letterhead;
  buyer: { name: string; code: string; address: PartyAddress; vatNumber: string | null };
}

/**
 * The JSON statement (src/ledger/reports/statement.ts) with the seller and the customer's address:
 * the PDF prints exactly the figures GET /v1/customers/{code}/statement answers.
 */
export async function loadStatementDocument(
  db: Queryable,
  entity: EntityContext,
  customerCode: string,
  upTo: string,
  basis: AgingBasis,
): Promise<StatementDocument> {
  const statement = await customerStatement(db, entity.id, customerCode, upTo, basis);
  const { rows } = await db.query<{ address: PartyAddress | null; vat_number: string | null }>(
    `SELECT address, vat_number FROM customers WHERE entity_id = $1 AND code = $2`,
    [entity.id, statement.customerCode],
  );
  return {
    statement,
    seller: await loadLetterhead(db, entity),
    buyer: {
      name: statement.customerName,
      code: statement.customerCode,
      address: rows[0]?.address ?? {},
      vatNumber: rows[0]?.vat_number ?? null,
    },
  };
}

// Date, document, number, reference, due date, amount, outstanding, days overdue.
const COLS = {
  date: PAGE.margin,
  document: 108,
  number: 220,
  reference: 228,
  due: 318,
  amount: 440,
  outstanding: 500,
  days: RIGHT,
};

function tableHeader(w: Writer): void {
  w.at('Date', COLS.date, w.y, BOLD, 8);
  w.at('Document', COLS.document, w.y, BOLD, 8);
  w.right('No.', COLS.number, w.y, BOLD, 8);
  w.at('Reference', COLS.reference, w.y, BOLD, 8);
  w.at('Due date', COLS.due, w.y, BOLD, 8);
  w.right('Amount', COLS.amount, w.y, BOLD, 8);
  w.right('Outstanding', COLS.outstanding, w.y, BOLD, 8);
  w.right('Days', COLS.days, w.y, BOLD, 8);
  w.rule(w.y + 12);
  w.y += 17;
}

function agingTable(w: Writer, s: Statement): void {
  const buckets = Object.keys(BUCKET_LABELS) as AgingBucket[];
  const width = (RIGHT - PAGE.margin) / (buckets.length + 1);
  w.ensure(60);
  w.at('Aged balance', PAGE.margin, w.y, BOLD, 10);
  w.y += 16;
  buckets.forEach((b, i) => w.right(BUCKET_LABELS[b], PAGE.margin + width * (i + 1), w.y, BOLD, 8, width - 4));
  w.right('Balance due', RIGHT, w.y, BOLD, 8, width - 4);
  w.rule(w.y + 12);
  w.y += 17;
  buckets.forEach((b, i) => w.right(s.aging[b], PAGE.margin + width * (i + 1), w.y, REGULAR, 9, width - 4));
  w.right(s.currentBalance, RIGHT, w.y, BOLD, 9, width - 4);
  w.y += 20;
}

/** Draws a statement: the open items as at its date, their age, the balance and where to pay it. */
export function renderStatement(d: StatementDocument, createdAt: Date): Promise<Buffer> {
  const s = d.statement;
  const { doc, done } = startDocument({
    title: `Statement ${s.customerCode} ${s.upTo}`,
    author: d.seller.name,
    subject: `Statement of account for ${s.customerName} as at ${s.upTo}`,
    createdAt,
  });
  const w = new Writer(doc);
  const sellerEnd = letterhead(w, { ...d.seller, code: null }, d.seller.logo);
  const metaEnd = metaBlock(w, 'STATEMENT', [
    ['Statement date', s.upTo],
    ['Customer code', s.customerCode],
    ['Currency', s.currency],
    ['Aged by', s.basis === 'dueDate' ? 'due date' : 'document date'],
  ]);
  w.y = buyerBlock(w, 'Statement for', d.buyer, Math.max(sellerEnd, metaEnd) + 18) + 14;

  w.at(`Open items as at ${s.upTo}`, PAGE.margin, w.y, BOLD, 10);
  w.y += 16;
  tableHeader(w);
  if (s.openItems.length === 0) {
    w.at('Nothing is open.', PAGE.margin, w.y);
    w.y += 14;
  }
  for (const item of s.openItems) {
    if (w.ensure(14)) tableHeader(w);
    w.at(item.transactionDate, COLS.date, w.y, REGULAR, 8);
    w.at(DOCUMENT_NAMES[item.type] ?? item.type, COLS.document, w.y, REGULAR, 8, COLS.number - COLS.document - 40);
    w.right(String(item.number), COLS.number, w.y, REGULAR, 8, 40);
    w.at(item.externalReference || '-', COLS.reference, w.y, REGULAR, 8, COLS.due - COLS.reference - 6);
    w.at(item.dueDate ?? '-', COLS.due, w.y, REGULAR, 8);
    w.right(item.amount, COLS.amount, w.y, REGULAR, 8, 70);
    w.right(item.outstanding, COLS.outstanding, w.y, REGULAR, 8, 58);
    // Nothing overdue (not yet due, or a credit, which is never due) reads '-', as on the dashboard.
    w.right(item.daysOverdue > 0 ? String(item.daysOverdue) : '-', COLS.days, w.y, REGULAR, 8, 36);
    w.y += 13;
  }
  w.rule(w.y);
  w.y += 6;
  w.ensure(20);
  w.at('Balance', COLS.reference, w.y, BOLD, 9);
  w.right(`${s.currentBalance} ${s.currency}`, COLS.outstanding, w.y, BOLD, 9, 120);
  w.y += 24;

  agingTable(w, s);
  const owing = !s.currentBalance.startsWith('-') && /[1-9]/.test(s.currentBalance);
  if (owing) {
    w.ensure(40);
    w.at('Payment', PAGE.margin, w.y, BOLD, 10);
    w.y += 14;
    w.at(
      `Please pay the balance of ${s.currentBalance} ${s.currency}, quoting your customer code ${s.customerCode}.`,
      PAGE.margin,
      w.y,
      REGULAR,
      10,
    );
    w.y += 13;
    bankDetails(w, d.seller.bank);
  }
  footers(doc, `${d.seller.name} - Statement ${s.customerCode} as at ${s.upTo}`, d.seller.footer);
  doc.end();
  return done;
}
