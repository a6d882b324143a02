import type { Queryable } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { revokeConnection } from './remote/oauth-store.ts';
import { sourceSettings, targetSettings } from './registry.ts';
import { REDACTED } from './secrets.ts';

/** One side's settings as sent: its connector type and its fields. */
type Settings = { type: string } & Record<string, unknown>;

/*
 * A stored secret never follows a moved address. A pipeline's settings sent back with a secret as
 * "[secret]" keep the stored value (savePipeline, src/sync/pipelines.ts), but only while every
 * address of that side keeps its origin; a target that moves loses its OAuth connection.
 */

/** Where one side's settings make the server send requests: each settings field's origins (scheme, host, port). */
function originsOf(
  type: string,
  side: 'source' | 'target',
  settings: Record<string, unknown>,
): Map<string, Set<string>> {
  const declared = side === 'source' ? sourceSettings(type) : targetSettings(type);
  const out = new Map<string, Set<string>>();
  let urls: { field: string; url: string }[];
  try {
    urls = declared?.outbound?.(settings) ?? [];
  } catch {
    // Stored settings a connector can no longer read: no known address, so every address is new.
    urls = [];
  }
  for (const { field, url } of urls) {
    let origin: string;
    try {
      origin = new URL(url).origin;
    } catch {
      origin = url;
    }
    const set = out.get(field) ?? new Set<string>();
    set.add(origin);
    out.set(field, set);
  }
  return out;
}

/** A settings field that now sends requests to an origin it did not (`from` null: it sent none). */
export interface MovedAddress {
  field: string;
  from: string | null;
  to: string;
}

/** "source.baseUrl changed address (https://a.example → https://b.example)": origins only, never a path or query. */
function describeMove(side: 'source' | 'target', m: MovedAddress): string {
  return m.from === null
    ? `${side}.${m.field} is a new address (${m.to})`
    : `${side}.${m.field} changed address (${m.from} → ${m.to})`;
}

/**
 * The settings fields of one side whose address changed origin between the stored settings and
 * the new ones: a field that sends requests to an origin it did not, or a field new to the settings
 * (a type changed counts as every address new). Paths and queries are not compared.
 */
export function movedAddresses(
  side: 'source' | 'target',
  stored: { type: string; config: Record<string, unknown> },
  next: Settings,
): MovedAddress[] {
  const { type, ...settings } = next;
  const before = stored.type === type ? originsOf(stored.type, side, stored.config) : new Map<string, Set<string>>();
  const moved: MovedAddress[] = [];
  for (const [field, origins] of originsOf(type, side, settings)) {
    const was = before.get(field);
    for (const origin of origins)
      if (!was?.has(origin)) moved.push({ field, from: was ? [...was].join(', ') : null, to: origin });
  }
  return moved;
}

/**
 * A secret sent back as "[secret]" is kept only while every address of its side (source or target:
 * baseUrl, tokenUrl, url, the addresses a region or account setting makes) keeps its origin. When
 * one moves, the stored secret would go to the new address unasked: refused, naming each secret,
 * so that it is given again for the new address. Nothing is saved.
 */
export function refuseKeptSecretsAtNewAddresses(
  side: 'source' | 'target',
  kept: string[],
  moved: MovedAddress[],
  field: (...path: PropertyKey[]) => string,
): void {
  if (kept.length === 0 || moved.length === 0) return;
  const change = describeMove(side, moved[0]!);
  const problems = kept.map((path) => ({
    field: field(side, ...path.split('.')),
    message:
      `reads "${REDACTED}" but ${change}: give the secret again. A stored secret is never sent to a new ` +
      'address without being given for it',
  }));
  throw new DomainError('VALIDATION_ERROR', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
}

/**
 * Forgets a pipeline's OAuth connection whose target moved (another type, or an address of
 * another origin): its tokens were granted for the old address and are never sent to the new one.
 * The connection reads as revoked, with `reason`, until it is connected again; consents started
 * for the old address are void; a refresh token given in the settings seeds it again (the digest
 * of the one it was seeded from is forgotten too). Returns whether a connection was active.
 */
export async function forgetMovedConnection(db: Queryable, pipelineId: string, moved: MovedAddress): Promise<boolean> {
  const forgotten = await revokeConnection(db, pipelineId, movedConnectionReason(moved));
  await db.query(`UPDATE oauth_connections SET settings_token_digest = NULL WHERE pipeline_id = $1`, [pipelineId]);
  await db.query(`DELETE FROM oauth_states WHERE pipeline_id = $1 AND used_at IS NULL`, [pipelineId]);
  return forgotten;
}

/** Why a connection was forgotten, as its status and a run parked for it say. */
function movedConnectionReason(m: MovedAddress): string {
  return `${describeMove('target', m)}, so the tokens granted for the old address were forgotten, never sent there: connect the pipeline again`;
}
