import type { TargetCallContext } from '../../sync/target.ts';
import { type BatchAnswer, type QboEntity, type QuickBooksApi, describeFault, faultCode, requestIdFor } from './api.ts';
import { scalar } from './map.ts';
import { queryIn } from './names.ts';

/*
 * Two customers, one reference. A reference is unique per customer (the ledger's duplicate check),
 * but a company that warns on duplicate numbers refuses a second document of a DocNumber already
 * used (6140 "Duplicate Document Number Error"), whoever's it is. Intuit documents the way to
 * supply one on purpose: `include=allowduplicatedocnum` on the entity's URI. A refused document is
 * created so only when every document holding its number is one ledgerlink booked under the same
 * reference for another customer (its PrivateNote says so); the engine's lookup, made for this
 * customer alone, found none of this customer's. A number keyed by hand, or held by this
 * customer's own document, is not known to be another sale: the refusal stands, with who holds it.
 */

/**
 * QuickBooks' codes for a DocNumber the company's duplicate check refuses: 6140 in the faults
 * integrations report, 6210 in Intuit's blog of frequent errors; its message is the same in both.
 */
const DUPLICATE_NUMBER = new Set(['6140', '6210']);

const NOTE = /ledgerlink reference: (.+)$/;

/** The reference ledgerlink wrote in a document's PrivateNote (its last line), if any. */
export const noteReference = (note: unknown): string | undefined =>
  typeof note === 'string' ? NOTE.exec(note)?.[1] : undefined;

/** A document refused for its DocNumber: its index in the caller's list, what was sent, whose it is. */
export interface Refused {
  n: number;
  entity: string;
  body: Record<string, unknown>;
  customerTargetId: string;
  /** The idempotency key(s) it was sent under: the new request's id is derived from them. */
  key: string;
}

/** What became of a refused document: created after all, found already held, or still refused (why). */
export type Retried =
  { n: number; answer: Extract<BatchAnswer, { ok: true }>; held: boolean } | { n: number; refusedBecause: string };

/** Whether an answer is QuickBooks' duplicate number refusal. */
export const refusedForNumber = (a: BatchAnswer): a is Extract<BatchAnswer, { ok: false }> =>
  !a.ok &&
  (DUPLICATE_NUMBER.has(faultCode(a.fault) ?? '') || a.fault.Error?.[0]?.Message === 'Duplicate Document Number Error');

/**
 * Sends again, with `include=allowduplicatedocnum`, the refused documents whose number only other
 * customers' documents of ours hold; `customerOf` tells whose a held document is.
 */
export async function againUnderSharedNumber(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  refused: Refused[],
  customerOf: (e: QboEntity) => string | undefined,
): Promise<Retried[]> {
  const out: Retried[] = [];
  const holders = await holdersOf(api, ctx, refused);
  for (const r of refused) {
    const number = scalar(r.body.DocNumber);
    const reference = noteReference(r.body.PrivateNote);
    const held = holders.get(`${r.entity}\u0000${number}`) ?? [];
    const own = held.filter((e) => customerOf(e) === r.customerTargetId);
    const ours = own.find((e) => reference !== undefined && noteReference(e.PrivateNote) === reference);
    if (ours) {
      // Booked already for this very customer (an earlier attempt landed after the lookup).
      out.push({ n: r.n, answer: { ok: true, entity: ours, query: null }, held: true });
      continue;
    }
    const stranger = own[0] ?? held.find((e) => reference === undefined || noteReference(e.PrivateNote) !== reference);
    if (held.length === 0 || stranger) {
      out.push({
        n: r.n,
        refusedBecause: stranger
          ? `DocNumber ${number} is held by ${r.entity} ${stranger.Id} of customer ${customerOf(stranger) ?? '(none)'}, which ledgerlink did not book under this reference for another customer: renumber one of them in QuickBooks, or turn off the company's duplicate number warning`
          : `no ${r.entity} of DocNumber ${number} was found to tell whose it is`,
      });
      continue;
    }
    const answer = await api.create(
      r.entity,
      r.body,
      requestIdFor([r.key], `${r.entity}-shared-number`),
      ['allowduplicatedocnum'],
      ctx.signal,
    );
    out.push(
      answer.ok
        ? { n: r.n, answer, held: false }
        : { n: r.n, refusedBecause: `sent again with include=allowduplicatedocnum: ${describeFault(answer.fault)}` },
    );
  }
  return out;
}

/** Every document of the refused ones' types and numbers, by type and DocNumber. */
async function holdersOf(
  api: QuickBooksApi,
  ctx: TargetCallContext,
  refused: Refused[],
): Promise<Map<string, QboEntity[]>> {
  const wanted = new Map<string, Set<string>>();
  for (const r of refused) wanted.set(r.entity, (wanted.get(r.entity) ?? new Set()).add(scalar(r.body.DocNumber)));
  const out = new Map<string, QboEntity[]>();
  for (const [entity, numbers] of wanted)
    // Nothing of the refused documents was written: the batch is safe to look up and send again.
    for (const e of await queryIn(api, ctx, entity, 'DocNumber', [...numbers], {
      what: `${entity} lookup`,
      retryable: true,
    })) {
      const key = `${entity}\u0000${scalar(e.DocNumber)}`;
      out.set(key, [...(out.get(key) ?? []), e]);
    }
  return out;
}
