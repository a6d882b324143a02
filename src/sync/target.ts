import type { Logger } from 'pino';
import type { Queryable } from '../db/database.ts';
import type {
  CanonicalAllocation,
  CanonicalCreditNote,
  CanonicalCustomer,
  CanonicalInvoice,
  CanonicalPayment,
  CanonicalProduct,
  CanonicalRefund,
} from './canonical.ts';
import type { Needs } from './exceptions.ts';
import type { PipelineMapping } from './pipelines.ts';
import type { ExceptionCode } from './reasons.ts';
import type { SecretBox } from './secrets.ts';

/*
 * A target is where booked documents go: the embedded ledger (src/connectors/ledger/), or an
 * accounting platform. The engine talks to every target through this one interface; if a second
 * target would need an `if (target.type === ...)` in the engine, this interface is missing
 * something. docs/connectors/adding-a-connector.md walks through implementing it.
 *
 * Two kinds of target:
 * - transactional (the embedded ledger): its writes share the engine's database transaction, so
 *   the posting, the source map, the write-back outbox and the closing of exceptions commit
 *   together and nothing can be half done;
 * - remote (everything else): the engine follows the protocol of src/sync/outbound.ts — intent
 *   recorded in the outbox, a call with an idempotency key derived from the document, the mapping
 *   saved; after any uncertain outcome the document is looked up by its reference
 *   (`findByReference`) before it is ever sent again.
 */

/** A failure of one item: a value, never an exception, so one bad document never sinks its neighbours. */
export interface ItemError {
  /** A reason code from the closed list in src/sync/reasons.ts (or a ledger error code). */
  code: ExceptionCode;
  message: string;
  /** True when sending the same item again later may succeed (rate limit, outage, lost answer). */
  retryable: boolean;
  field?: string | undefined;
  /**
   * Refused for want of a document the engine sent it without (its invoice not booked, when the
   * platform cannot take it without one): the document is parked naming it, and runs again by
   * itself once the pipeline has booked it.
   */
  needs?: Needs | undefined;
}

/** What a target did with one item of a batch. */
export type ItemResult =
  | {
      ok: true;
      /** The target's id for the document (a ledger transaction id, a platform's invoice id). */
      targetId: string;
      /** The number the target gave the document, when it numbers them. */
      number?: string | null | undefined;
      /**
       * `linked`: the target already had it (found by reference) and nothing was written. For a
       * payment, `updated`: the target had it and added what it lacked (the embedded ledger: the
       * provider fee of a receipt it already had); the run records it `updated`, not skipped.
       */
      outcome?: 'created' | 'updated' | 'linked' | 'unchanged' | undefined;
      message?: string | null | undefined;
      /** A draft request the target answered with a document it had already posted: `invoice`. */
      documentKind?: 'invoice' | 'draft' | undefined;
      /**
       * For a payment naming an invoice the pipeline had not booked, to a target with
       * `applyEarlyPayments`: true when it was booked without that invoice (the target did not
       * hold it), false when the target found the invoice itself and applied the payment to it.
       * Unless false (unset: a payment found again by reference after a lost answer), the engine
       * notes it and hands it to `applyEarlyPayments` once that invoice is booked.
       */
      awaitsInvoice?: boolean | undefined;
    }
  | { ok: false; error: ItemError };

export const ok = (
  targetId: string,
  more: Omit<Extract<ItemResult, { ok: true }>, 'ok' | 'targetId'> = {},
): ItemResult => ({ ok: true, targetId, ...more });
export const failed = (error: ItemError): ItemResult => ({ ok: false, error });

/**
 * Thrown by a target whose batch stopped part-way (a platform that takes one document a request,
 * and one request failed): the results of the documents it finished, in the batch's order
 * (undefined for the others), and the error that stopped it. The engine keeps what was finished
 * and treats the others as `error` says. Without it one lost answer made the whole batch uncertain
 * to be sent again, and a batch of twenty under a steady share of faults rarely got through.
 */
export class BatchInterrupted extends Error {
  readonly results: readonly (ItemResult | undefined)[];
  readonly error: unknown;
  constructor(results: readonly (ItemResult | undefined)[], error: unknown) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
    this.name = 'BatchInterrupted';
    this.results = results;
    this.error = error;
  }
}

/** What a target can do. The engine refuses (parks) what a target cannot take, naming the gap. */
export interface TargetCapabilities {
  customers: boolean;
  items: boolean;
  invoices: boolean;
  creditNotes: boolean;
  payments: boolean;
  /** Payments applied to the invoice they pay. */
  allocations: boolean;
  refunds: boolean;
  /**
   * Refunds only a payment it holds (its money, or its invoice's VAT split, is what is refunded):
   * a refund whose payment this pipeline has not booked waits for it, parked, and runs again by
   * itself once it is; rather than being sent to be refused.
   */
  refundsNeedPayment?: boolean | undefined;
  /**
   * With `refundsNeedPayment`: refunds a payment booked before its invoice (`applyEarlyPayments`)
   * only once it is applied to that invoice (QuickBooks and Xero split a refund at its invoice's
   * rates; AccountsIQ sets its journal against what the receipt has left once it has paid the
   * invoice); until then such a refund waits, parked. A target that refunds what a payment holds
   * unapplied (NetSuite, Zoho Books, Acumatica) takes it at once.
   */
  refundsNeedAppliedPayment?: boolean | undefined;
  /**
   * Books a payment provider's fee (`CanonicalPayment.fee`) with its payment, exactly once, so
   * that the bank in the target takes the net amount the provider paid out. A target without it
   * is sent no payment with a fee: the engine parks such a payment (PAYMENT_FEE_NOT_SUPPORTED)
   * unless the pipeline leaves fees to the books (`options.fees: "leave"`), never booking it gross
   * without a word.
   */
  fees?: boolean | undefined;
  /** Reads back whether invoices have been paid (for write-back of payment status). */
  paymentStatus: boolean;
  pdf: boolean;
  /** Invoices as drafts first, posted later (iXpole's draft mode). */
  drafts: boolean;
  /** Can list what it holds for reconciliation; otherwise reconciliation uses what it acknowledged. */
  reconciliation: boolean;
}

/** A platform's limits, as data beside its connector (overridable in a pipeline's target settings). */
export interface TargetLimits {
  callsPerSecond?: number | undefined;
  callsPerMinute?: number | undefined;
  callsPerDay?: number | undefined;
  /** Calls in flight at once. */
  concurrency: number;
  /** Documents per write call. */
  batchSize: number;
}

/** The kinds of document a target receives. */
export type TargetKind = 'customer' | 'product' | 'invoice' | 'creditNote' | 'payment' | 'refund' | 'allocation';

/**
 * A customer to create or update. `code` is the code the engine proposes for a new one.
 *
 * `record` carries only what is to be written (src/sync/canonical.ts, `customerChanges`): a field
 * that is absent is left as the target has it; a field that is `null` is cleared (the engine sends
 * that only for fields the pipeline is authoritative for); `name` is always there. A target writes
 * the fields present and nothing else, on create as on update; a remote one sends only those.
 */
export interface TargetCustomer {
  sourceId: string;
  code: string;
  /** The target id already mapped for this customer, when it is an update. */
  targetId: string | null;
  record: CanonicalCustomer;
  /**
   * Set only when it is sent again after the target refused it: a key the target has not seen
   * (one that replays answers by key would give the refusal back). Otherwise the target keys an
   * upsert as it does.
   */
  idempotencyKey?: string | undefined;
}

export interface TargetProduct {
  sourceId: string;
  code: string;
  targetId: string | null;
  record: CanonicalProduct;
  /** As `TargetCustomer.idempotencyKey`. */
  idempotencyKey?: string | undefined;
}

/** An invoice with what it refers to already resolved to the target's ids. */
export interface TargetInvoice {
  sourceId: string;
  record: CanonicalInvoice;
  customerTargetId: string;
  /** The target's id of each product a line names, by source product id. */
  productTargetIds: Record<string, string>;
  /** A key derived from the document, the same on every attempt. */
  idempotencyKey: string;
}

/** A credit note with its customer, products and the invoice it credits (when booked) resolved. */
export interface TargetCreditNote {
  sourceId: string;
  record: CanonicalCreditNote;
  customerTargetId: string;
  productTargetIds: Record<string, string>;
  /** The invoice it credits, when the source names one this pipeline has booked. */
  invoiceTargetId: string | null;
  idempotencyKey: string;
}

/**
 * An allocation with both of its documents in the target: the invoice, and the payment or credit
 * note set against it. `fromTargetId` is what the target answered when it booked that document
 * (a Xero overpayment, a ledger receipt), so the target knows what it is allocating.
 */
export interface TargetAllocation {
  sourceId: string;
  record: CanonicalAllocation;
  customerTargetId: string;
  invoiceTargetId: string;
  fromTargetId: string;
  idempotencyKey: string;
}

export interface TargetPayment {
  sourceId: string;
  record: CanonicalPayment;
  customerTargetId: string;
  /** The invoice it pays, when the source names one this pipeline has booked. */
  invoiceTargetId: string | null;
  bankAccountCode: string;
  idempotencyKey: string;
}

/**
 * A payment the target booked before the invoice it names (its result said `awaitsInvoice`), and
 * that invoice, booked since by this pipeline or another of the entity into the same platform (the
 * target checks that `invoiceTargetId` is the invoice named in its own books).
 */
export interface EarlyPayment {
  paymentSourceId: string;
  paymentTargetId: string;
  paymentReference: string;
  customerTargetId: string;
  invoiceTargetId: string;
  invoiceReference: string;
  /** The payment's currency, as the source gave it. */
  currency: string;
}

export interface TargetRefund {
  sourceId: string;
  record: CanonicalRefund;
  customerTargetId: string;
  paymentTargetId: string | null;
  bankAccountCode: string;
  idempotencyKey: string;
}

/** An invoice line on the target's accounts and tax code. */
export interface MappedLine {
  glAccountCode: string;
  taxCode: string;
  departmentId?: string | undefined;
  netAmount: string;
  taxRate?: string | undefined;
  taxAmount?: string | undefined;
}

/** What every call gets. For a transactional target `db` is the engine's open transaction. */
export interface TargetCallContext {
  db: Queryable;
  log: Logger;
  /** Who the write is made for, for the target's own audit trail (`pipeline:NAME`). */
  actor: string;
  /**
   * Aborted when the worker begins to stop: a wait (a rate-limit permit, a Retry-After, a backoff)
   * ends at once with a retryable ConnectorError, and no further call is started. A call already
   * sent is let run to its answer or its timeout, never cut off: its outcome stays known.
   */
  signal?: AbortSignal | undefined;
}

/** A document as the target holds it, for write-back and reconciliation. */
export interface TargetDocument {
  targetId: string;
  kind: 'invoice' | 'creditNote' | 'payment' | 'refund';
  number: string;
  customerTargetId: string;
  externalReference: string;
  date: string;
  dueDate: string | null;
  currency: string;
  /** Gross in minor units of `currency`. */
  gross: bigint;
  /** Lines on the document: each may round VAT by one minor unit differently from the source. */
  lines: number;
  /**
   * What the document added to its customer's open balance in the target, when that is not its
   * gross: a refund a platform books as a credit note refunded in cash adds nothing (reconciliation
   * adds each booked refund to the source's side of the balance by this).
   */
  balanceEffect?: bigint | undefined;
  /**
   * Voided or deleted in the target (kept there for its history, out of the books): reconciliation
   * counts it as not there; write-back may still read its number.
   */
  voided?: boolean | undefined;
  /**
   * For a payment, when `documents()` was asked for fees (`fees: true`): the payment provider's fee
   * the target holds for it, or null when it holds none. Absent (undefined) when the target cannot
   * tell: reconciliation then does not compare the payment's fee, and says so rather than claim
   * that it agrees.
   */
  fee?: TargetFee | null | undefined;
}

/** A payment provider's fee as a target holds it for a payment (TargetDocument.fee). */
export interface TargetFee {
  /** The fee's own document in the target: a ledger general journal, a Xero spend money, a QuickBooks Purchase. */
  targetId: string;
  /** How messages name it ("General journal 12 (PAY-1)", "spend money <id>"). */
  label: string;
  currency: string;
  /** What it takes out of the bank, in minor units of `currency`. */
  amount: bigint;
}

/** Why a payment's fee in the target is not what the source says (reconciliation's `fee-difference`). */
export type FeeDifference = 'missing' | 'amount' | 'extra';

/** Where a lookup by reference found the document. */
export interface FoundDocument {
  targetId: string;
  number?: string | null | undefined;
  customerTargetId?: string | null | undefined;
  /** A payment found as the target books one not applied to the invoice it names (`ItemResult.awaitsInvoice`). */
  awaitsInvoice?: boolean | undefined;
}

/** A customer the target holds, as a canonical record (for sources that link to existing ones). */
export type TargetCustomerLookup = (targetId: string, asSourceId: string) => Promise<CanonicalCustomer | null>;

/**
 * What every target implements. Write operations take a batch and return one result per item,
 * in the same order. Optional operations are those its capabilities say it lacks.
 */
export interface TargetConnector {
  readonly type: string;
  readonly transactional: boolean;
  readonly capabilities: TargetCapabilities;
  readonly limits: TargetLimits;

  upsertCustomers(ctx: TargetCallContext, items: TargetCustomer[]): Promise<ItemResult[]>;
  upsertProducts?(ctx: TargetCallContext, items: TargetProduct[]): Promise<ItemResult[]>;
  createInvoices(ctx: TargetCallContext, items: TargetInvoice[]): Promise<ItemResult[]>;
  /** Drafts instead of invoices; their targetId is the draft's. */
  createDraftInvoices?(ctx: TargetCallContext, items: TargetInvoice[]): Promise<ItemResult[]>;
  createCreditNotes?(ctx: TargetCallContext, items: TargetCreditNote[]): Promise<ItemResult[]>;
  createPayments?(ctx: TargetCallContext, items: TargetPayment[]): Promise<ItemResult[]>;
  createRefunds?(ctx: TargetCallContext, items: TargetRefund[]): Promise<ItemResult[]>;
  /**
   * Sets payments and credit notes against invoices. The target id of an allocation is the
   * target's own id for it (a ledger allocation, a Xero AllocationID).
   */
  createAllocations?(ctx: TargetCallContext, items: TargetAllocation[]): Promise<ItemResult[]>;
  /**
   * Applies payments booked before their invoice to that invoice, now booked: as much as the
   * payment holds unapplied and the invoice still owes, read from the target, so that running it
   * again after a lost answer applies nothing twice. Each result's targetId is the payment's; its
   * message says what was applied. A target implements it when it books a payment without its
   * invoice unapplied and says so (`awaitsInvoice`).
   */
  applyEarlyPayments?(ctx: TargetCallContext, items: EarlyPayment[]): Promise<ItemResult[]>;
  /**
   * An allocation the target already holds between the same two documents, for the same amount
   * on the same date, that is none of `taken` (the allocations this pipeline has already mapped):
   * the lookup before an allocation is sent again after an uncertain outcome. Allocations carry
   * no reference a platform keeps, so they are matched by what they are. Remote targets that
   * take allocations implement it.
   */
  findAllocation?(
    ctx: TargetCallContext,
    item: TargetAllocation,
    taken: ReadonlySet<string>,
  ): Promise<FoundDocument | null>;

  /**
   * Finds a document by the reference ledgerlink gave it: what makes retries safe against a
   * target that may commit a write and then lose the answer. `customerTargetId` narrows it where
   * references are unique per customer.
   */
  findByReference(
    ctx: TargetCallContext,
    kind: TargetKind,
    reference: string,
    customerTargetId?: string | null,
  ): Promise<FoundDocument | null>;

  /** A customer the target holds, as a canonical record. */
  customer?(ctx: TargetCallContext, targetId: string, asSourceId: string): Promise<CanonicalCustomer | null>;
  /** A product the target holds, as a canonical record. */
  product?(ctx: TargetCallContext, code: string, asSourceId: string): Promise<CanonicalProduct | null>;
  /**
   * Each invoice's lines on the target's accounts and tax codes, as the target would book them,
   * or why it cannot (daily summaries group a day's sales by them).
   */
  lineAccounts?(
    ctx: TargetCallContext,
    items: Pick<TargetInvoice, 'record' | 'customerTargetId' | 'productTargetIds'>[],
  ): Promise<(MappedLine[] | ItemError)[]>;
  /**
   * Documents by target id (write-back, reconciliation). `lines: false` when the caller does not
   * need the line count (write-back), which a target may then skip (`lines` is 0). `fees: true`
   * when the caller compares payments' provider fees (reconciliation): a target that can tell sets
   * each payment's `fee`; otherwise it may skip reading them. `kind`: every id is of a document
   * ledgerlink booked as that kind (reconciliation and write-back ask a kind at a time), so that a
   * target whose platform numbers kinds apart (an invoice and a payment may share an id) reads each
   * as that kind only; a target whose ids are unique across kinds may ignore it.
   */
  documents?(
    ctx: TargetCallContext,
    targetIds: string[],
    options?: { lines?: boolean; fees?: boolean; kind?: TargetDocument['kind'] },
  ): Promise<Map<string, TargetDocument>>;
  /**
   * What a person does about a payment whose provider fee in the target is not what the source says
   * (`missing`: the target holds none; `amount`: another amount or currency; `extra`: the source
   * says none), in a few words for reconciliation's message. `fee` is the target's, when it holds one.
   * A target that sets `TargetDocument.fee` implements it.
   */
  feeRemedy?(
    difference: FeeDifference,
    payment: { targetId: string; reference: string; currency: string; fee: TargetFee | null },
  ): string;
  /** The invoice rendered as PDF. */
  pdf?(ctx: TargetCallContext, invoiceTargetId: string): Promise<Buffer>;
  /** Of these invoices, those now paid in full, with the reference of the payment that settled them last. */
  paidInvoices?(ctx: TargetCallContext, invoiceTargetIds: string[]): Promise<Map<string, string>>;
  /** Of these drafts, those since posted as invoices: draft target id → the invoice. */
  postedDrafts?(ctx: TargetCallContext, draftTargetIds: string[]): Promise<Map<string, FoundDocument>>;
  /** A draft as the source is told of it ("D" + number, due date, reference). */
  describeDrafts?(
    ctx: TargetCallContext,
    draftTargetIds: string[],
  ): Promise<Map<string, { number: string; dueDate: string; externalReference: string }>>;
  /**
   * The invoices, credit notes, payments and refunds dated in [from, to] (both days included) of
   * the scope's customers (or, where the platform can ask, under one of its references) that no
   * pipeline booked: none of `linkedTargetIds`. Each described as `documents()` describes it.
   */
  unlinkedDocuments?(ctx: TargetCallContext, scope: UnlinkedScope, from: string, to: string): Promise<TargetDocument[]>;
  /**
   * The cheapest authenticated read the platform offers (Xero's organisation, QuickBooks'
   * CompanyInfo; for the ledger, that the entity exists), for "Test connection": resolves with
   * what it reached, in a few words; throws a ConnectorError saying what is wrong. Paced and
   * guarded like any other call. Absent where there is nothing to call.
   */
  checkConnection?(ctx: TargetCallContext): Promise<string>;
  /** Each customer's open balance in the target as at a date, by currency, minor units. */
  openBalances?(
    ctx: TargetCallContext,
    customerTargetIds: string[],
    asAt: string,
  ): Promise<{ customerTargetId: string; currency: string; balance: bigint }[]>;
}

/** Whose documents `unlinkedDocuments` reads, and what the pipelines booked. */
export interface UnlinkedScope {
  /** The target ids of the pipeline's customers. */
  customerTargetIds: string[];
  /** The pipeline's references; a target that can ask by reference reads these whatever their customer. */
  references: string[];
  /** The target ids of what the pipelines booked, left out of the answer. */
  linkedTargetIds: string[];
}

/** What a target factory is given. */
export interface TargetDeps {
  db: Queryable;
  log: Logger;
  /** The pipeline's mapping table (GL accounts, tax codes, products), for targets that map lines. */
  mapping: PipelineMapping;
  /** The pipeline's target settings, already checked against the target's own schema. */
  settings: Record<string, unknown>;
  entityId: string;
  pipelineId: string;
  pipelineName: string;
  /** Seals and opens what a target keeps at rest (OAuth tokens): src/sync/remote/oauth.ts. */
  box: SecretBox;
}

/** Kinds a target must be able to take to receive a source's records, for a clear refusal. */
export const CAPABILITY_OF: Record<TargetKind, keyof TargetCapabilities> = {
  customer: 'customers',
  product: 'items',
  invoice: 'invoices',
  creditNote: 'creditNotes',
  payment: 'payments',
  refund: 'refunds',
  allocation: 'allocations',
};

export type { PipelineMapping };
