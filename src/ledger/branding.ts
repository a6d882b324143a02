import { createHash } from 'node:crypto';
import type { Queryable, SqlParam } from '../db/database.ts';
import { fieldError } from '../domain/errors.ts';
import { bicProblem, ibanProblem, normalizeIban } from '../domain/iban.ts';
import type { EntityAddress, EntityContext } from './entities.ts';
import { type Logo, parseLogo } from './logo.ts';

/** What the PDFs print about the entity, as saved; null fields fall back to the entity's own. */
export interface Branding {
  companyName: string | null;
  address: EntityAddress | null;
  vatNumber: string | null;
  /** The logo's type, size and digest; the bytes are only read when a PDF is drawn. */
  logo: { contentType: string; size: number; sha256: string } | null;
  bankName: string | null;
  bankAccountName: string | null;
  iban: string | null;
  bic: string | null;
  footer: string | null;
}

/** A change: absent fields stay, null clears; `logo` is base64 (PNG or JPEG). */
export interface BrandingInput {
  companyName?: string | null | undefined;
  address?: EntityAddress | null | undefined;
  vatNumber?: string | null | undefined;
  logo?: string | null | undefined;
  bankName?: string | null | undefined;
  bankAccountName?: string | null | undefined;
  iban?: string | null | undefined;
  bic?: string | null | undefined;
  footer?: string | null | undefined;
}

/** The seller block of a PDF: branding over the entity's own name, address and VAT number. */
export interface Letterhead {
  name: string;
  address: EntityAddress;
  vatNumber: string | null;
  logo: Logo | null;
  bank: { bankName: string | null; accountName: string | null; iban: string | null; bic: string | null } | null;
  footer: string | null;
}

interface BrandingRow {
  company_name: string | null;
  address: EntityAddress | null;
  vat_number: string | null;
  logo_content_type: string | null;
  logo_size: number | null;
  logo_sha256: string | null;
  bank_name: string | null;
  bank_account_name: string | null;
  iban: string | null;
  bic: string | null;
  footer: string | null;
}

const EMPTY: Branding = {
  companyName: null,
  address: null,
  vatNumber: null,
  logo: null,
  bankName: null,
  bankAccountName: null,
  iban: null,
  bic: null,
  footer: null,
};

const toBranding = (r: BrandingRow): Branding => ({
  companyName: r.company_name,
  address: r.address,
  vatNumber: r.vat_number,
  logo:
    r.logo_content_type && r.logo_sha256
      ? { contentType: r.logo_content_type, size: Number(r.logo_size), sha256: r.logo_sha256 }
      : null,
  bankName: r.bank_name,
  bankAccountName: r.bank_account_name,
  iban: r.iban,
  bic: r.bic,
  footer: r.footer,
});

// The logo's digest is stored beside it (computed once, on save), so reading settings never hashes it.
const SELECT = `SELECT company_name, address, vat_number, logo_content_type, octet_length(logo) AS logo_size,
                       logo_sha256, bank_name, bank_account_name, iban, bic, footer
                  FROM entity_branding WHERE entity_id = $1`;

export async function getBranding(db: Queryable, entityId: string): Promise<Branding> {
  const { rows } = await db.query<BrandingRow>(SELECT, [entityId]);
  return rows[0] ? toBranding(rows[0]) : { ...EMPTY };
}

/** Text fields: trimmed, an empty string clears like null. */
function text(value: string | null | undefined, field: string, max: number): string | null | undefined {
  if (value === undefined || value === null) return value;
  const t = value.trim();
  if (t.length > max) throw fieldError(field, `must be at most ${max} characters`);
  return t === '' ? null : t;
}

/** Changes the branding fields given (the caller's transaction holds the entity row). */
export async function saveBranding(
  db: Queryable,
  entityId: string,
  input: BrandingInput,
): Promise<{ before: Branding; after: Branding }> {
  const before = await getBranding(db, entityId);
  // Spaces alone clear a field, like "" and null.
  const iban = input.iban == null ? input.iban : normalizeIban(input.iban) || null;
  if (iban) {
    const problem = ibanProblem(iban);
    if (problem) throw fieldError('branding.iban', problem);
  }
  const bic = input.bic == null ? input.bic : input.bic.trim().toUpperCase() || null;
  if (bic) {
    const problem = bicProblem(bic);
    if (problem) throw fieldError('branding.bic', problem);
  }
  const logo = input.logo == null ? input.logo : input.logo.trim() === '' ? null : parseLogo(input.logo);
  const address = input.address && Object.values(input.address).some((v) => v) ? input.address : input.address && null;
  const values: Record<string, SqlParam | undefined> = {
    company_name: text(input.companyName, 'branding.companyName', 200),
    address: address === undefined ? undefined : address === null ? null : JSON.stringify(address),
    vat_number: text(input.vatNumber, 'branding.vatNumber', 50),
    bank_name: text(input.bankName, 'branding.bankName', 100),
    bank_account_name: text(input.bankAccountName, 'branding.bankAccountName', 100),
    iban,
    bic,
    footer: text(input.footer, 'branding.footer', 500),
  };
  if (logo !== undefined) {
    values.logo = logo ? logo.bytes.toString('base64') : null;
    values.logo_content_type = logo?.contentType ?? null;
    values.logo_sha256 = logo ? createHash('sha256').update(logo.bytes).digest('hex') : null;
  }
  const changed = Object.entries(values).filter(([, v]) => v !== undefined);
  if (changed.length === 0) return { before, after: before };
  const columns = changed.map(([k]) => k);
  const params = changed.map(([, v]) => v ?? null);
  await db.query(
    `INSERT INTO entity_branding (entity_id, ${columns.join(', ')})
     VALUES ($1, ${columns.map((c, i) => (c === 'logo' ? `decode($${i + 2}, 'base64')` : `$${i + 2}`)).join(', ')})
     ON CONFLICT (entity_id) DO UPDATE SET ${columns.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()`,
    [entityId, ...params],
  );
  return { before, after: await getBranding(db, entityId) };
}

/** The seller as the PDFs print it: the branding where set, else the entity's own details. */
export async function loadLetterhead(db: Queryable, entity: EntityContext): Promise<Letterhead> {
  // bytea as base64: PGlite converts bytea a byte at a time.
  const { rows } = await db.query<BrandingRow & { logo: string | null }>(
    `SELECT company_name, address, vat_number, encode(logo, 'base64') AS logo, logo_content_type, bank_name, bank_account_name, iban, bic, footer
       FROM entity_branding WHERE entity_id = $1`,
    [entity.id],
  );
  const r = rows[0];
  const bank =
    r && (r.bank_name || r.bank_account_name || r.iban || r.bic)
      ? { bankName: r.bank_name, accountName: r.bank_account_name, iban: r.iban, bic: r.bic }
      : null;
  return {
    name: r?.company_name ?? entity.name,
    address: r?.address ?? entity.address,
    vatNumber: r?.vat_number ?? entity.vatNumber,
    logo:
      r?.logo && r.logo_content_type
        ? { bytes: Buffer.from(r.logo, 'base64'), contentType: r.logo_content_type as Logo['contentType'] }
        : null,
    bank,
    footer: r?.footer ?? null,
  };
}
