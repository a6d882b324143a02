import { formatAmount, parseAmount } from '../../src/domain/money.ts';
import type { CanonicalInvoice } from '../../src/sync/canonical.ts';
import type { ExceptionCode } from '../../src/sync/reasons.ts';
import type { Client, TestApp } from '../helpers/app.ts';

/*
 * What a target plugs into the conformance suite (test/conformance/scenarios.ts): a harness that
 * gives each scenario a platform to book into and reads back what the platform holds, in the
 * platform's own records (its simulator's store, the ledger's tables), never through the
 * connector under test. docs/connectors/adding-a-connector.md ("Conformance suite").
 */

/**
 * What a scenario may need beyond invoices, customers and payments, which every target takes.
 * `http`: the target talks to its platform over HTTP at a URL of its `target:` block, so that a
 * fault-injecting proxy can be put in between (test/helpers/fault-proxy.ts).
 * `earlyPayments`: a payment booked before the invoice it names ends up applied to that invoice
 * once it is booked. `overpayments`: of a payment larger than what its invoice owes, that much is
 * applied and the rest stays the customer's, unapplied. `refunds`: the target takes refunds of
 * payments (and the harness reads them back, `Holdings.refunds`). `appliedRefunds`: a refund of money
 * its payment has applied to an invoice is booked (not only of what the payment holds unapplied).
 * `overpaymentRefunds`: a refund of a payment that holds money unapplied (paid more than its
 * invoice owed) is booked. `paymentAllocations`: a payment taken on account (naming no invoice) is
 * set against an invoice by an allocation record. `amountScreen`: called directly (as a plugin may
 * call it; the engine screens amounts first), the target refuses by itself a document whose amount
 * does not parse for its currency, naming the field, and sends the rest of its batch. `fees`: the
 * target books a payment provider's fee with its payment (capability `fees`), once, each payment's
 * own where two customers' payments share a reference (and the harness reads fees back,
 * `Holdings.fees`). `reconciliation`: reconciliation reads the documents back from the platform
 * (capability `reconciliation`), not what it acknowledged: a pipeline's books agree once booked,
 * fees compared, and an invoice a person voids or deletes in the platform is named missing (the
 * platform's `voidInvoice`). `openBalances`: reconciliation reads each customer's open balance from
 * the platform as at the day asked (the target's `openBalances`), not the source's: they agree once
 * booked, each customer's own where two share a reference, and an invoice a person voids there is
 * named as a difference. `unlinkedDocuments`: reconciliation reads the platform for documents of the
 * pipeline's customers dated in the window that no pipeline booked (the target's
 * `unlinkedDocuments`), and names each invoice a person keyed there (the platform's `keyInvoice`).
 */
export type Feature =
  | 'creditNotes'
  | 'droppedAnswers'
  | 'amountsDue'
  | 'http'
  | 'earlyPayments'
  | 'overpayments'
  | 'refunds'
  | 'appliedRefunds'
  | 'overpaymentRefunds'
  | 'paymentAllocations'
  | 'amountScreen'
  | 'fees'
  | 'reconciliation'
  | 'openBalances'
  | 'unlinkedDocuments';

/** An amount as decimal text with the currency's decimals ("121.00"), so that holdings compare exactly. */
export function money(text: string, currency = 'EUR'): string {
  const parsed = parseAmount(text.trim(), currency);
  if (!parsed.ok) throw new Error(`not an amount of ${currency}: "${text}" (${parsed.error.message})`);
  return formatAmount(parsed.value, currency);
}

export interface HeldCustomer {
  id: string;
  name: string;
}

/** Money set against an invoice: by a payment, or by a credit note. */
export interface Application {
  invoiceId: string;
  amount: string;
}

export interface HeldDocument {
  id: string;
  /** The reference ledgerlink gave it (our externalReference), as the platform keeps it. */
  reference: string;
  /** The platform's own number. */
  number: string;
  customerId: string;
  gross: string;
  /** What it still owes (an invoice) or has left to apply (a credit note); null where the platform keeps no balance. */
  due: string | null;
}

export interface HeldCreditNote extends HeldDocument {
  appliedTo: Application[];
}

export interface HeldPayment {
  id: string;
  reference: string;
  customerId: string;
  amount: string;
  appliedTo: Application[];
}

/** Money paid back to a customer, as the platform books a refund. */
export interface HeldRefund {
  id: string;
  /** The refund's reference (our externalReference), as the platform keeps it. */
  reference: string;
  customerId: string;
  amount: string;
  /**
   * The id (in `payments`) of the payment the platform sets the refund against, or null where it
   * stands on the customer's account unallocated.
   */
  paymentId: string | null;
}

/** A payment provider's fee, as the platform books it (with `fees`). */
export interface HeldFee {
  /** The fee's own document (or, where the fee is part of the payment, the payment's id). */
  id: string;
  /** The reference of the payment it is the fee of, as the platform keeps it with the fee. */
  reference: string;
  /** The customer the platform ties the fee to (its payment's, or the mark it carries); null when it ties none. */
  customerId: string | null;
  amount: string;
}

/** What the platform holds, as it holds it. */
export interface Holdings {
  customers: HeldCustomer[];
  invoices: HeldDocument[];
  creditNotes: HeldCreditNote[];
  payments: HeldPayment[];
  /** Refunds, read where the target takes them (without `refunds` declared unsupported). */
  refunds?: HeldRefund[];
  /** Payment providers' fees, read where the target books them (without `fees` declared unsupported). */
  fees?: HeldFee[];
}

/** How the platform refuses an invoice, in its own words. */
export interface Refusal {
  /** The invoice as the source sends it (the one given, or changed into one the platform refuses). */
  invoice: CanonicalInvoice;
  /** The reason code the document is parked with. */
  code: ExceptionCode;
  /** Words of the platform's own answer that the exception's message carries. */
  says: RegExp;
}

/** What one scenario gets: the engine's test app and the entity its pipeline belongs to. */
export interface ScenarioEnv {
  t: TestApp;
  entity: Client;
}

/** The platform one scenario books into. */
export interface Platform {
  /** The pipeline's `target:` block. */
  target: Record<string, unknown>;
  /** More of the pipeline definition, where the target needs it (a mapping). */
  pipeline?: Record<string, unknown> | undefined;
  holdings(): Promise<Holdings>;
  /** What must stay empty: documents the platform holds twice, requests that broke its contract. */
  violations(): unknown[];
  /** The platform commits the next invoice write and loses its answer (with `droppedAnswers`). */
  dropNextInvoiceAnswer?(): void;
  /** Answers lost so far (with `droppedAnswers`). */
  dropped?(): number;
  /**
   * Voids (or deletes, where the platform keeps no voided documents) the invoice of this id, as a
   * person would in the platform itself, never through the connector (with `reconciliation` on a
   * target reached over the network).
   */
  voidInvoice?(targetId: string): Promise<void>;
  /**
   * An invoice keyed in the platform by a person, never through the connector (with
   * `unlinkedDocuments` on a target reached over the network): for this customer, under this
   * reference, dated so, one line of `net` with `vat` at 21%, open.
   */
  keyInvoice?(p: {
    customerTargetId: string;
    reference: string;
    date: string;
    net: string;
    vat: string;
  }): Promise<void>;
  /** Arranges for the platform to refuse this invoice, as it would refuse it for real. */
  refuse(invoice: CanonicalInvoice): Promise<Refusal>;
}

export interface TargetHarness {
  /** The target type, as a pipeline names it. */
  type: string;
  /** Features this target cannot be held to, each with why: their scenarios are skipped, saying so. */
  unsupported: Partial<Record<Feature, string>>;
  /** A platform for one scenario; the harness may share one simulator between scenarios. */
  open(env: ScenarioEnv): Promise<Platform>;
  close(): Promise<void>;
}
