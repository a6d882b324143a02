import type { Queryable } from '../db/database.ts';
import { findMember } from '../ledger/users.ts';

/**
 * Who did something, as a person reads it: a user's e-mail instead of `user:<id>`, "API key pair"
 * for `credential:<id>`, and the scheduler, webhooks and the CLI by name.
 */
export async function actorLabel(db: Queryable, entityId: string, actor: string | null): Promise<string> {
  if (!actor) return 'unknown';
  const user = /^user:(.+)$/.exec(actor)?.[1];
  if (user) return (await findMember(db, entityId, user))?.email ?? 'a former user';
  if (actor.startsWith('credential:')) return 'the entity’s API key pair';
  if (actor === 'scheduler') return 'the schedule';
  if (actor.startsWith('webhook:')) return `a webhook of ${actor.slice('webhook:'.length)}`;
  return actor;
}
