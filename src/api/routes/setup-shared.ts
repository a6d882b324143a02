import { z } from 'zod';
import { DomainError, fieldError, isDomainError } from '../../domain/errors.ts';
import { Code } from '../schemas.ts';
import { showsText } from '../../domain/schemas.ts';
import { auditChange } from '../../ledger/audit.ts';
import type { RouteContext } from '../route.ts';

/**
 * Free text: bounded, and without control characters other than tab and line breaks; PostgreSQL
 * text cannot hold NUL at all, so letting one through would fail as a server error.
 */
export function Text(max: number) {
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !/(?![\t\n\r])\p{Cc}/u.test(v), {
      message: 'must not contain control characters',
    });
}

/**
 * A name (of a customer, supplier, account, entity...). Stored as sent; one that shows nothing, only
 * spaces or zero-width characters, is refused like an empty one.
 */
export const Name = Text(200)
  .min(1, 'must not be empty')
  // '' is the min's to refuse (which also documents minLength in the API reference): one message, not two.
  .refine((v) => v === '' || showsText(v), { message: 'must not be empty' });

/** `{code}` in the path. */
export const CodeParams = z.object({ code: Code });

/**
 * Ledger operations name fields as their input does ("creditLimit"); over HTTP that input is the
 * body, and schema errors already say "body.creditLimit", so both kinds of error read alike.
 */
export async function inBody<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isDomainError(err) && Array.isArray(err.details)) {
      const details = err.details.map((p) => ({ ...p, field: `body.${p.field}` }));
      throw new DomainError(err.code, details.map((p) => `${p.field}: ${p.message}`).join('; '), details);
    }
    throw err;
  }
}

/** A body may repeat the key it is sent to (a read-modify-write round trip), but not name another. */
export function checkBodyKey(given: string | null | undefined, path: string, field: string): void {
  if (given !== undefined && given !== null && given !== path) {
    throw fieldError(`body.${field}`, `is ${given}, but the path names ${path}`);
  }
}

/**
 * The end of a PUT by key (`/v1/items/{code}`): the save either creates the object or updates it,
 * and the answer and the audit trail must both say which. Runs `save` (its errors named as body
 * fields, see inBody), records `<action>.created` or `<action>.updated` with only what changed
 * (the whole object when created), answers 201 only when it created, and returns the object as saved.
 * `action` defaults to `objectType`; the audit strings are user-visible, so pass them as they are.
 */
export async function savedByKey<T extends object>(
  ctx: Pick<RouteContext<unknown, unknown, unknown>, 'audit' | 'setStatus'>,
  what: { objectType: string; objectId: string; action?: string },
  save: () => Promise<{ created: boolean; before: T | null; after: T }>,
): Promise<T> {
  const saved = await inBody(save);
  const action = what.action ?? what.objectType;
  await ctx.audit({
    action: saved.created ? `${action}.created` : `${action}.updated`,
    objectType: what.objectType,
    objectId: what.objectId,
    ...auditChange(saved.before, saved.after),
  });
  if (saved.created) ctx.setStatus(201);
  return saved.after;
}

export function notFound(what: string): DomainError {
  return new DomainError('NOT_FOUND', `${what} does not exist in this entity`);
}
