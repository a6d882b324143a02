import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/*
 * The API v2.0 contract as Business Central itself declares it: the AL source of its API pages
 * (microsoft/BCApps, src/Apps/W1/APIV2/app/src/pages, copied to ../shared/specs/business-central/apiv2).
 * Each page lists its properties as `field(name; Rec."…")`, a read-only one with `Editable = false`
 * in its block, and its navigation properties as `part(name; "…")`. A request body is checked
 * against its page: a property the page does not declare, or one it declares read-only, is a
 * violation; a part (lines in a deep insert) is checked against the page of its entity set.
 */

export interface PageContract {
  entitySet: string;
  /** Property → whether a request may set it. */
  fields: Map<string, boolean>;
  /** Navigation properties (deep insert): name → the entity set of its page, when that page is known. */
  parts: Map<string, string>;
}

export type Contract = Map<string, PageContract>;

/** The default location: ../shared/specs/business-central/apiv2 beside the repository. */
export const DEFAULT_AL_DIR = new URL('../../../../shared/specs/business-central/apiv2/', import.meta.url).pathname;

/** Reads one page's AL source. */
export function parsePage(source: string): PageContract | null {
  const set = /EntitySetName\s*=\s*'([^']+)'/.exec(source)?.[1];
  if (!set) return null;
  const fields = new Map<string, boolean>();
  const parts = new Map<string, string>();
  // Each declaration and the block that follows it, up to the next declaration.
  const decl = /\b(field|part)\(\s*("?)([A-Za-z0-9_]+)\2\s*;/g;
  const found: { kind: string; name: string; at: number }[] = [];
  for (let m = decl.exec(source); m; m = decl.exec(source)) found.push({ kind: m[1]!, name: m[3]!, at: m.index });
  for (const [n, d] of found.entries()) {
    const block = source.slice(d.at, found[n + 1]?.at ?? source.length);
    // The declaration's own braces: the first `{` after it and its matching `}`.
    const open = block.indexOf('{');
    let depth = 0;
    let end = block.length;
    for (let i = open; i >= 0 && i < block.length; i++) {
      if (block[i] === '{') depth++;
      else if (block[i] === '}' && --depth === 0) {
        end = i;
        break;
      }
    }
    const body = open >= 0 ? block.slice(open, end) : '';
    if (d.kind === 'field') fields.set(d.name, !/\bEditable\s*=\s*false\s*;/i.test(body));
    else parts.set(d.name, /EntitySetName\s*=\s*'([^']+)'/.exec(body)?.[1] ?? d.name);
  }
  return { entitySet: set, fields, parts };
}

/**
 * Pages the connector uses that ../shared does not hold yet, as their AL source declares them:
 * `journalLines` is page 30049 "APIV2 - JournalLines" (microsoft/BCApps,
 * src/Apps/W1/APIV2/app/src/pages/APIV2JournalLines.Page.al, read at c3414ed): its fields, `id`
 * and `lastModifiedDateTime` declared `Editable = false`, and its two parts. A copy of that page
 * in the directory takes precedence.
 */
const KNOWN_PAGES: PageContract[] = [
  {
    entitySet: 'journalLines',
    fields: new Map([
      ['id', false],
      ['journalId', true],
      ['journalDisplayName', true],
      ['lineNumber', true],
      ['accountType', true],
      ['accountId', true],
      ['accountNumber', true],
      ['postingDate', true],
      ['documentNumber', true],
      ['externalDocumentNumber', true],
      ['amount', true],
      ['description', true],
      ['comment', true],
      ['taxCode', true],
      ['balanceAccountType', true],
      ['balancingAccountId', true],
      ['balancingAccountNumber', true],
      ['lastModifiedDateTime', false],
    ]),
    parts: new Map([
      ['attachments', 'attachments'],
      ['dimensionSetLines', 'dimensionSetLines'],
    ]),
  },
];

/** Every page of a directory by entity set; null when the directory is absent (../shared not checked out). */
export function loadContract(dir: string = DEFAULT_AL_DIR): Contract | null {
  if (!existsSync(dir)) return null;
  const out: Contract = new Map();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.Page.al'))) {
    const page = parsePage(readFileSync(join(dir, f), 'utf8'));
    if (page) out.set(page.entitySet, page);
  }
  for (const page of KNOWN_PAGES) if (!out.has(page.entitySet)) out.set(page.entitySet, page);
  return out;
}

/** What a request body breaks of its page's contract (empty when it keeps it). */
export function checkBody(contract: Contract, entitySet: string, body: unknown, at = ''): string[] {
  const page = contract.get(entitySet);
  if (!page) return [`${at || '/'}: no API v2.0 page declares the entity set ${entitySet}`];
  if (!body || typeof body !== 'object' || Array.isArray(body)) return [`${at || '/'}: not a JSON object`];
  const errors: string[] = [];
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    if (name.includes('@odata.')) continue;
    const editable = page.fields.get(name);
    if (editable === true) continue;
    if (editable === false) {
      errors.push(`${at}/${name}: read-only on ${entitySet} (Editable = false)`);
      continue;
    }
    const part = page.parts.get(name);
    if (part === undefined) {
      errors.push(`${at}/${name}: ${entitySet} has no property ${name}`);
      continue;
    }
    if (!Array.isArray(value)) {
      errors.push(`${at}/${name}: a deep insert takes an array`);
      continue;
    }
    if (!contract.has(part)) continue;
    for (const [i, row] of value.entries()) errors.push(...checkBody(contract, part, row, `${at}/${name}/${i}`));
  }
  return errors;
}
