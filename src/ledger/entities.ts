import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { isUniqueViolation } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { isKnownCurrency } from '../domain/currency.ts';
import {
  type AccountRoles,
  type CustomerDefaults,
  DEFAULT_GL_ACCOUNTS,
  DEFAULT_ROLES,
  defaultCustomerDefaults,
  defaultTaxCodes,
} from './chart.ts';
import { hashSecret } from './secrets.ts';
import { taxRateProblem } from './setup/tax-codes.ts';

export interface EntityAddress {
  street?: string;
  city?: string;
  postalCode?: string;
  country?: string;
}

/** What every ledger operation needs to know about the entity it works in. */
export interface EntityContext {
  id: string;
  code: string;
  name: string;
  baseCurrency: string;
  roles: AccountRoles;
  customerDefaults: CustomerDefaults;
  address: EntityAddress;
  vatNumber: string | null;
}

interface EntityRow {
  id: string;
  code: string;
  name: string;
  base_currency: string;
  account_roles: AccountRoles;
  customer_defaults: CustomerDefaults;
  address: EntityAddress;
  vat_number: string | null;
}

function toContext(r: EntityRow): EntityContext {
  return {
    id: r.id,
    code: r.code,
    name: r.name,
    baseCurrency: r.base_currency,
    roles: r.account_roles,
    customerDefaults: r.customer_defaults,
    address: r.address,
    vatNumber: r.vat_number,
  };
}

const ENTITY_COLUMNS = 'id, code, name, base_currency, account_roles, customer_defaults, address, vat_number';

export async function findEntityById(db: Queryable, id: string): Promise<EntityContext | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await db.query<EntityRow>(`SELECT ${ENTITY_COLUMNS} FROM entities WHERE id = $1`, [id]);
  return rows[0] ? toContext(rows[0]) : null;
}

export async function findEntityByCode(db: Queryable, code: string): Promise<EntityContext | null> {
  const { rows } = await db.query<EntityRow>(`SELECT ${ENTITY_COLUMNS} FROM entities WHERE code = $1`, [code]);
  return rows[0] ? toContext(rows[0]) : null;
}

export async function listEntities(db: Queryable): Promise<EntityContext[]> {
  const { rows } = await db.query<EntityRow>(`SELECT ${ENTITY_COLUMNS} FROM entities ORDER BY code`);
  return rows.map(toContext);
}

/** What the entities table's check allows as a code. */
export const ENTITY_CODE = /^[A-Z0-9][A-Z0-9_.-]{0,49}$/;

export interface NewEntity {
  code: string;
  name: string;
  baseCurrency: string;
  standardTaxRate?: string;
  address?: EntityAddress;
  vatNumber?: string | null;
}

export interface IssuedKeys {
  entityId: string;
  credentialId: string;
  partnerKey: string;
  userKey: string;
}

/** Issues a fresh partner/user key pair for an entity; only hashes are stored. */
export async function issueKeys(db: Queryable, entityId: string, label: string | null = null): Promise<IssuedKeys> {
  const partnerKey = 'pk_' + randomBytes(24).toString('base64url');
  const userKey = 'uk_' + randomBytes(24).toString('base64url');
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO api_credentials (entity_id, partner_key_hash, user_key_hash, label) VALUES ($1, $2, $3, $4) RETURNING id`,
    [entityId, hashSecret(partnerKey), hashSecret(userKey), label],
  );
  return { entityId, credentialId: rows[0]!.id, partnerKey, userKey };
}

/**
 * Creates an entity with the default chart of accounts, tax codes, bank account and customer
 * defaults, and issues its first key pair. Run it inside a transaction.
 */
export async function createEntity(
  db: Queryable,
  input: NewEntity,
): Promise<{ entity: EntityContext; keys: IssuedKeys }> {
  // The same rules as the table's checks, refused here with the field named rather than failing there.
  if (!ENTITY_CODE.test(input.code)) {
    throw new DomainError(
      'VALIDATION_ERROR',
      'code: upper-case letters, digits, "_", "." and "-", starting with a letter or digit',
      [{ field: 'code', message: 'upper-case letters, digits, "_", "." and "-", starting with a letter or digit' }],
    );
  }
  const rateProblem = input.standardTaxRate === undefined ? null : taxRateProblem(input.standardTaxRate);
  if (rateProblem) {
    throw new DomainError('VALIDATION_ERROR', `standardTaxRate: ${rateProblem}`, [
      { field: 'standardTaxRate', message: rateProblem },
    ]);
  }
  if (!isKnownCurrency(input.baseCurrency)) {
    throw new DomainError('CURRENCY_CODE_DOES_NOT_EXIST', `${input.baseCurrency} is not an ISO 4217 currency code`, [
      { field: 'baseCurrency', message: 'unknown currency' },
    ]);
  }
  let row: EntityRow;
  try {
    const { rows } = await db.query<EntityRow>(
      `INSERT INTO entities (code, name, base_currency, address, vat_number, account_roles, customer_defaults)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${ENTITY_COLUMNS}`,
      [
        input.code,
        input.name,
        input.baseCurrency,
        JSON.stringify(input.address ?? {}),
        input.vatNumber ?? null,
        JSON.stringify(DEFAULT_ROLES),
        JSON.stringify(defaultCustomerDefaults(input.baseCurrency)),
      ],
    );
    row = rows[0]!;
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new DomainError('ENTITY_CODE_ALREADY_EXISTS', `An entity with code ${input.code} exists`, [
        { field: 'code', message: 'already exists' },
      ]);
    }
    throw err;
  }
  const id = row.id;
  await db.query(
    `INSERT INTO gl_accounts (entity_id, code, name, type, is_posting, is_control)
     SELECT $1, a.code, a.name, a.type, a.is_posting, a.is_control
       FROM unnest($2::text[], $3::text[], $4::text[], $5::boolean[], $6::boolean[])
            AS a(code, name, type, is_posting, is_control)`,
    [
      id,
      DEFAULT_GL_ACCOUNTS.map((a) => a.code),
      DEFAULT_GL_ACCOUNTS.map((a) => a.name),
      DEFAULT_GL_ACCOUNTS.map((a) => a.type),
      DEFAULT_GL_ACCOUNTS.map((a) => a.isPosting),
      DEFAULT_GL_ACCOUNTS.map((a) => a.isControl === true),
    ],
  );
  const taxes = defaultTaxCodes(input.standardTaxRate ?? '0.20');
  await db.query(
    `INSERT INTO tax_codes (entity_id, code, name, rate, gl_account_code, vat_category)
     SELECT $1, t.code, t.name, t.rate::numeric, $5, t.vat_category
       FROM unnest($2::text[], $3::text[], $4::text[], $6::text[]) AS t(code, name, rate, vat_category)`,
    [
      id,
      taxes.map((t) => t.code),
      taxes.map((t) => t.name),
      taxes.map((t) => t.rate),
      DEFAULT_ROLES.vatOutput,
      taxes.map((t) => t.vatCategory),
    ],
  );
  await db.query(
    `INSERT INTO bank_accounts (entity_id, code, name, gl_account_code, currency) VALUES ($1, 'BANK', 'Current account', $2, $3)`,
    [id, DEFAULT_ROLES.bank, input.baseCurrency],
  );
  const keys = await issueKeys(db, id, 'initial');
  return { entity: toContext(row), keys };
}

export interface CredentialView {
  keyId: string;
  label: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** An entity's key pairs (never the keys: they are stored hashed), oldest first. */
export async function listKeys(db: Queryable, entityId: string): Promise<CredentialView[]> {
  const { rows } = await db.query<{ id: string; label: string | null; created_at: Date; revoked_at: Date | null }>(
    'SELECT id, label, created_at, revoked_at FROM api_credentials WHERE entity_id = $1 ORDER BY created_at, id',
    [entityId],
  );
  return rows.map((r) => ({
    keyId: r.id,
    label: r.label,
    createdAt: new Date(r.created_at).toISOString(),
    revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
  }));
}

/**
 * Revokes a key pair: it can no longer log in, and every session opened with it ends at once.
 * Revoking a revoked pair changes nothing (`alreadyRevoked`). Returns null when the entity has no
 * such pair.
 */
export async function revokeKey(
  db: Queryable,
  entityId: string,
  keyId: string,
): Promise<{ credential: CredentialView; sessionsEnded: number; alreadyRevoked: boolean } | null> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(keyId)) return null;
  const { rowCount } = await db.query(
    'UPDATE api_credentials SET revoked_at = now() WHERE id = $1 AND entity_id = $2 AND revoked_at IS NULL',
    [keyId, entityId],
  );
  const credential = (await listKeys(db, entityId)).find((k) => k.keyId === keyId);
  if (!credential) return null;
  const ended = await db.query('DELETE FROM sessions WHERE credential_id = $1', [keyId]);
  return { credential, sessionsEnded: rowCount > 0 ? ended.rowCount : 0, alreadyRevoked: rowCount === 0 };
}
