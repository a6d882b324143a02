import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../../domain/json.ts';
import type { TargetKind } from '../../sync/target.ts';

/* The webhook target's wire format: what a request carries and what an answer must look like. */

/** One document as it goes on the wire. */
export interface WireItem {
  idempotencyKey: string;
  sourceId: string;
  document: Record<string, unknown>;
}

/** The Idempotency-Key of a request: the document's own key for one, a digest of the keys for several. */
export function batchKey(itemKeys: string[]): string {
  if (itemKeys.length === 1) return itemKeys[0]!;
  return `batch_${createHash('sha256').update(itemKeys.join('\n')).digest('hex')}`;
}

/** A key for documents the engine gives none (customers, products): their content, so a changed one is sent anew. */
export function contentKey(kind: TargetKind, sourceId: string, document: unknown): string {
  return `${kind}_${createHash('sha256')
    .update(`${sourceId}\n${canonicalJson(document)}`)
    .digest('hex')
    .slice(0, 40)}`;
}

const Id = z.union([z.string().min(1).max(200), z.number().int()]).transform(String);
const OUTCOMES = ['created', 'updated', 'linked', 'unchanged'] as const;
export const Created = z.looseObject({
  id: Id,
  number: z
    .union([z.string().max(100), z.number().int()])
    .transform(String)
    .nullish(),
  outcome: z.enum(OUTCOMES).optional().catch(undefined),
});
export const Refused = z.looseObject({
  error: z.looseObject({
    code: z.string().max(200).optional(),
    message: z.string().optional(),
    retryable: z.boolean().optional(),
    field: z.string().max(200).nullish(),
  }),
});
export const BatchAnswer = z.looseObject({ results: z.array(z.unknown()) });
export const Found = z.looseObject({
  id: Id,
  number: z
    .union([z.string().max(100), z.number().int()])
    .transform(String)
    .nullish(),
  customerTargetId: Id.nullish(),
});

/** Text from the receiver, safe to store and show: no control characters, at most `max` characters. */
export function clip(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3); null when absent or unreadable. */
export { parseRetryAfter as retryAfterMs } from '../../sync/remote/client.ts';

/** Whether an answer leaves it unknown if the receiver committed: the engine must look up before resending. */
export const UNCERTAIN = (status: number) => status >= 500 || status === 408 || status === 429;

export interface Answer {
  status: number;
  text: string;
  headers: Headers;
}
