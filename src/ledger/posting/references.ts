import type { Queryable } from '../../db/database.ts';
import { DomainError } from '../../domain/errors.ts';
import { type DatedRate, rateOn } from '../setup/tax-codes.ts';
import type { DiscountVatTreatment } from '../settings.ts';
import { type Analysis, analysisKeys, checkAnalysis } from '../../domain/analysis.ts';
import { type RateWanted, RatesInForce } from './dated-rates.ts';
import type { AccountRoles } from '../chart.ts';
import { closedAccountError, roleUse } from './role-accounts.ts';

export interface GlRef {
  ok: boolean;
  departmental: boolean;
  control: boolean;
}

export interface TaxRef {
  /** The rates with the dates they apply from, oldest first. */
  rates: DatedRate[];
  glAccountCode: string;
  /** Whether the tax code's GL account is a control account (only on data from before that was refused). */
  control: boolean;
  /** Whether that GL account is an active posting account (setup keeps it one; data from before may not). */
  glAccountOk: boolean;
}

/** The entity's VAT settings, read with the setup data. */
export interface VatRefs {
  discountVatTreatment: DiscountVatTreatment;
  /** Units of the document currency per line. */
  vatTolerance: string;
}

export interface BankRef {
  glAccountCode: string;
  currency: string;
  /** Whether the bank's GL account is an active posting account (setup keeps it one; data from before may not). */
  glAccountOk: boolean;
}

/** Active setup data referenced by one or more documents, loaded with a single query. */
export class References {
  /** Exchange rates in force for the pairs requested (`ReferenceRequest.rates`). */
  rates: RatesInForce = RatesInForce.none();
  /** The GL accounts of the entity's account roles: whether each is an active posting account. */
  roleAccounts = new Map<string, boolean>();

  constructor(
    readonly gl: Map<string, GlRef>,
    readonly tax: Map<string, TaxRef>,
    readonly departments: Set<string>,
    readonly banks: Map<string, BankRef>,
    readonly vat: VatRefs = { discountVatTreatment: 'gross', vatTolerance: '1' },
    /** Analysis codes named by the lines, "dimension:code" → whether active. */
    readonly analysis: Map<string, boolean> = new Map(),
  ) {}

  /** Refuses a line's analysis codes unless each is an active code of its dimension. */
  requireAnalysis(analysis: Analysis | null | undefined, field: string): void {
    checkAnalysis(analysis, this.analysis, field);
  }

  requireGl(code: string, field: string, departmentId: string | null): void {
    const gl = this.gl.get(code);
    if (!gl?.ok) {
      throw new DomainError(
        'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
        `GL account ${code} does not exist, is inactive or is not a posting account`,
        [{ field, message: 'not a posting account' }],
      );
    }
    if (gl.control) throw controlAccountError(code, field);
    if (gl.departmental && !departmentId) {
      throw new DomainError(
        'GLACCOUNT_NO_DEPARTMENT_IS_DEPARTMENTAL',
        `GL account ${code} is departmental; give the line a departmentId`,
        [{ field, message: 'departmental account needs a departmentId' }],
      );
    }
  }

  requireTax(code: string, field: string): TaxRef {
    const t = this.tax.get(code);
    if (!t)
      throw new DomainError('TAX_CODE_DOES_NOT_EXIST', `Tax code ${code} does not exist`, [
        { field, message: 'unknown tax code' },
      ]);
    if (t.control) throw controlAccountError(t.glAccountCode, field);
    if (!t.glAccountOk)
      throw referencedAccountError(`Tax code ${code}`, t.glAccountCode, `/v1/tax-codes/${code}`, field);
    return t;
  }

  /** The rate of a tax code in force on `date` (a document takes the rate of its own date). */
  requireRateOn(code: string, date: string, field: string): string {
    const rate = rateOn(this.requireTax(code, field).rates, date);
    if (rate === null) {
      throw new DomainError('TAX_CODE_HAS_NO_RATE_ON_DATE', `Tax code ${code} has no rate in force on ${date}`, [
        { field, message: `no rate in force on ${date}` },
      ]);
    }
    return rate;
  }

  requireDepartment(id: string | null, field: string): void {
    if (id !== null && !this.departments.has(id)) {
      throw new DomainError('DEPARTMENT_DOES_NOT_EXIST', `Department ${id} does not exist`, [
        { field, message: 'unknown department' },
      ]);
    }
  }

  /**
   * Refuses a posting the ledger sends to one of the entity's role accounts (an exchange
   * difference to fxGainLoss…) when that account is inactive or a header account (role-accounts.ts).
   */
  requireRole(roles: AccountRoles, role: keyof AccountRoles, field: string, what: string): void {
    if (this.roleAccounts.get(roles[role]) !== true) throw closedAccountError(roleUse(roles, role, field, what));
  }

  requireBank(code: string, field: string): BankRef {
    const b = this.banks.get(code);
    if (!b)
      throw new DomainError('BANK_ACCOUNT_DOES_NOT_EXIST', `Bank account ${code} does not exist`, [
        { field, message: 'unknown bank account' },
      ]);
    if (!b.glAccountOk)
      throw referencedAccountError(`Bank account ${code}`, b.glAccountCode, `/v1/bank-accounts/${code}`, field);
    return b;
  }
}

/**
 * A tax code or bank account whose GL account is inactive or a header account: what the document
 * names is fine, but what it posts through is not. Setup refuses to close an account they use
 * (saveGlAccount), so only data from before that rule gets here; the posting is refused as a
 * journal line on that account is, never booked to it.
 */
function referencedAccountError(what: string, glAccountCode: string, path: string, field: string): DomainError {
  const message = `${what} posts to GL account ${glAccountCode}, which is inactive or a header account`;
  return new DomainError(
    'GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST',
    `${field}: ${message}; give it an active posting account (PUT ${path}) or make ${glAccountCode} one again`,
    [{ field, message }],
  );
}

/** A line of an invoice, credit note, journal or tax code aimed at a control account. */
export function controlAccountError(code: string, field: string): DomainError {
  return new DomainError(
    'GLACCOUNT_IS_CONTROL_ACCOUNT',
    `GL account ${code} is a control account; only the customer side of a document posts to it`,
    [{ field, message: 'control account' }],
  );
}

export interface ReferenceRequest {
  gl?: Iterable<string>;
  tax?: Iterable<string>;
  departments?: Iterable<string | null>;
  banks?: Iterable<string>;
  /** The analysis of each line, to load the codes they name. */
  analysis?: Iterable<Analysis | null | undefined>;
  /** Foreign-currency documents without their own rate: the rate in force on each date. */
  rates?: Iterable<RateWanted>;
}

interface RefRow {
  kind: 'gl' | 'tax' | 'dept' | 'bank' | 'vat' | 'code' | 'role';
  code: string;
  ok: boolean;
  departmental: boolean;
  control: boolean;
  extra: string | null;
  extra2: string | null;
}

const parseRates = (text: string): DatedRate[] =>
  (JSON.parse(text) as DatedRate[]).map((r) => ({ from: r.from, rate: r.rate }));

export async function loadReferences(db: Queryable, entityId: string, req: ReferenceRequest): Promise<References> {
  const gl = [...new Set(req.gl ?? [])];
  const tax = [...new Set(req.tax ?? [])];
  const depts = [...new Set([...(req.departments ?? [])].filter((d): d is string => d !== null))];
  const banks = [...new Set(req.banks ?? [])];
  const codes = analysisKeys(req.analysis ?? []);
  // Tax codes and bank accounts post through their GL account: `ok` says whether it is an active
  // posting account. Bank accounts are share-locked, as a customer is locked, so that their
  // currency cannot change under a posting in flight (saveBankAccount locks the row to change it).
  // The GL accounts read here are key-share-locked, the lock the journal lines' foreign key takes
  // anyway once they are written, only taken when they are read: saveGlAccount (FOR UPDATE) then
  // waits for the postings in flight and sees their lines before it makes an account a header
  // account or inactive, instead of committing between a posting's check and its lines.
  const { rows } = await db.query<RefRow>(
    `WITH bank AS (
       SELECT b.code, b.gl_account_code, b.currency FROM bank_accounts b
        WHERE b.entity_id = $1 AND b.code = ANY($5::text[]) AND b.is_active
        ORDER BY b.code FOR SHARE
     ), tax AS (
       SELECT c.code, c.gl_account_code FROM tax_codes c
        WHERE c.entity_id = $1 AND c.code = ANY($3::text[]) AND c.is_active
     ), gl AS (
       SELECT g.code, g.is_posting, g.is_active, g.is_departmental, g.is_control FROM gl_accounts g
        WHERE g.entity_id = $1
          AND (g.code = ANY($2::text[]) OR g.code IN (SELECT gl_account_code FROM tax)
               OR g.code IN (SELECT gl_account_code FROM bank))
        ORDER BY g.code FOR KEY SHARE
     )
     SELECT 'gl' AS kind, code, is_posting AND is_active AS ok, is_departmental AS departmental, is_control AS control,
            NULL AS extra, NULL AS extra2
       FROM gl WHERE code = ANY($2::text[])
     UNION ALL
     SELECT 'tax', c.code, g.is_posting AND g.is_active, false, g.is_control,
            (SELECT json_agg(json_build_object('from', r.from_date::text, 'rate', r.rate::text) ORDER BY r.from_date)
               FROM tax_rates r WHERE r.entity_id = $1 AND r.tax_code = c.code)::text,
            c.gl_account_code
       FROM tax c JOIN gl g ON g.code = c.gl_account_code
     UNION ALL
     SELECT 'dept', id, is_active, false, false, NULL, NULL FROM departments
      WHERE entity_id = $1 AND id = ANY($4::text[]) AND is_active
     UNION ALL
     SELECT 'bank', b.code, g.is_posting AND g.is_active, false, false, b.gl_account_code, b.currency FROM bank b
       JOIN gl g ON g.code = b.gl_account_code
     UNION ALL
     SELECT 'vat', '', true, false, false, discount_vat_treatment, vat_tolerance::text FROM entities WHERE id = $1
     UNION ALL
     SELECT 'code', dimension || ':' || code, is_active, false, false, NULL, NULL FROM analysis_codes
      WHERE entity_id = $1 AND dimension || ':' || code = ANY($6::text[])
     UNION ALL
     SELECT DISTINCT 'role', r.value, coalesce(g.is_posting AND g.is_active, false), false, false, NULL, NULL
       FROM entities e CROSS JOIN LATERAL jsonb_each_text(e.account_roles) r
       LEFT JOIN gl_accounts g ON g.entity_id = e.id AND g.code = r.value
      WHERE e.id = $1`,
    [entityId, gl, tax, depts, banks, codes],
  );
  const vatRow = rows.find((row) => row.kind === 'vat');
  const vat: VatRefs = {
    discountVatTreatment: (vatRow?.extra ?? 'gross') as DiscountVatTreatment,
    vatTolerance: vatRow?.extra2 ?? '1',
  };
  const r = new References(new Map(), new Map(), new Set(), new Map(), vat);
  for (const row of rows) {
    if (row.kind === 'vat') continue;
    if (row.kind === 'role') {
      r.roleAccounts.set(row.code, row.ok);
      continue;
    }
    if (row.kind === 'gl') r.gl.set(row.code, { ok: row.ok, departmental: row.departmental, control: row.control });
    else if (row.kind === 'tax')
      r.tax.set(row.code, {
        rates: parseRates(row.extra ?? '[]'),
        glAccountCode: row.extra2!,
        control: row.control,
        glAccountOk: row.ok,
      });
    else if (row.kind === 'dept') r.departments.add(row.code);
    else if (row.kind === 'code') r.analysis.set(row.code, row.ok);
    else r.banks.set(row.code, { glAccountCode: row.extra!, currency: row.extra2!.trim(), glAccountOk: row.ok });
  }
  if (req.rates) r.rates = await RatesInForce.load(db, entityId, req.rates);
  return r;
}

export interface PostingCustomer {
  code: string;
  name: string;
  currency: string;
  creditLimit: bigint;
  creditDays: number;
  creditEndOfMonth: boolean;
  controlGlAccountCode: string;
  isActive: boolean;
  onHold: boolean;
}

interface CustomerRow {
  code: string;
  name: string;
  currency: string;
  credit_limit: string;
  credit_days: number;
  credit_end_of_month: boolean;
  control_gl_account_code: string;
  is_active: boolean;
  on_hold: boolean;
}

function toPostingCustomer(c: CustomerRow): PostingCustomer {
  return {
    code: c.code,
    name: c.name,
    currency: c.currency.trim(),
    creditLimit: BigInt(c.credit_limit),
    creditDays: c.credit_days,
    creditEndOfMonth: c.credit_end_of_month,
    controlGlAccountCode: c.control_gl_account_code,
    isActive: c.is_active,
    onHold: c.on_hold,
  };
}

/**
 * Reads and locks customers for posting, in code order so that two batches never deadlock.
 * Every write to a customer's account takes this row lock first, which serialises duplicate
 * checks, credit checks and allocations per customer. Unknown codes are simply absent.
 */
export async function lockCustomers(
  db: Queryable,
  entityId: string,
  codes: Iterable<string>,
): Promise<Map<string, PostingCustomer>> {
  const list = [...new Set(codes)].sort();
  if (list.length === 0) return new Map();
  const { rows } = await db.query<CustomerRow>(
    `SELECT code, name, currency, credit_limit, credit_days, credit_end_of_month, control_gl_account_code, is_active, on_hold
       FROM customers WHERE entity_id = $1 AND code = ANY($2::text[]) ORDER BY code FOR UPDATE`,
    [entityId, list],
  );
  return new Map(rows.map((r) => [r.code, toPostingCustomer(r)]));
}

/** Checks a customer found by `lockCustomers` exists and is active. */
export function requireCustomer(found: PostingCustomer | undefined, code: string, field: string): PostingCustomer {
  if (!found)
    throw new DomainError('CUSTOMER_CODE_DOES_NOT_EXIST', `Customer ${code} does not exist`, [
      { field, message: 'unknown customer' },
    ]);
  if (!found.isActive)
    throw new DomainError('CUSTOMER_IS_INACTIVE', `Customer ${code} is inactive`, [
      { field, message: 'inactive customer' },
    ]);
  return found;
}

/** Reads and locks one customer for posting; throws when it is unknown or inactive. */
export async function lockCustomer(
  db: Queryable,
  entityId: string,
  code: string,
  field: string,
): Promise<PostingCustomer> {
  return requireCustomer((await lockCustomers(db, entityId, [code])).get(code), code, field);
}

/**
 * Customers' current balances: debit-side documents minus credit-side ones. Allocations move
 * amounts between two documents of one customer, so they never change a balance.
 */
export async function customerBalances(db: Queryable, entityId: string, codes: string[]): Promise<Map<string, bigint>> {
  const { rows } = await db.query<{ customer_code: string; balance: string }>(
    `SELECT customer_code, sum(CASE WHEN side = 'debit' THEN gross ELSE -gross END) AS balance
       FROM transactions
      WHERE entity_id = $1 AND customer_code = ANY($2::text[]) AND side <> 'none'
      GROUP BY customer_code`,
    [entityId, codes],
  );
  const out = new Map(codes.map((c) => [c, 0n]));
  for (const r of rows) out.set(r.customer_code, BigInt(r.balance));
  return out;
}

export async function customerBalance(db: Queryable, entityId: string, code: string): Promise<bigint> {
  return (await customerBalances(db, entityId, [code])).get(code) ?? 0n;
}
