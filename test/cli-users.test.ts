import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../src/ledger/passwords.ts';
import { hashSecret } from '../src/ledger/secrets.ts';
import { cliPlace, type CliPlace } from './helpers/cli.ts';

/*
 * `ledgerlink user create|list|disable|enable`, spawned as an operator runs them: a one-time link
 * or a generated password printed once and stored only as a hash; arguments checked like the API.
 */
let place: CliPlace;
// Fast hashing in tests; the stored hash records the parameters used.
const FAST = { LEDGERLINK_PASSWORD_SCRYPT_LOG_N: '10' };

beforeAll(async () => {
  place = await cliPlace();
  const r = await place.run(['entity', 'create', '--code', 'CLUB', '--name', 'Club']);
  if (r.code !== 0) throw new Error(r.stderr);
}, 120_000);
afterAll(async () => place?.close());

describe('user create', () => {
  it('prints a one-time sign-in link built on --url; only the hash of its token is stored', async () => {
    const r = await place.run(
      [
        'user',
        'create',
        '--entity',
        'CLUB',
        '--email',
        'Ann@Example.com',
        '--role',
        'owner',
        '--url',
        'https://ll.example.com/',
      ],
      FAST,
    );
    expect(r.code, r.stderr).toBe(0);
    const link = /https:\/\/ll\.example\.com\/sign-in\/set-password\?token=(llp_[\w-]+)/.exec(r.stdout);
    expect(link, r.stdout).not.toBeNull();
    const db = await place.open();
    try {
      const { rows } = await db.query<{ token_hash: string; email: string; role: string }>(
        `SELECT t.token_hash, u.email, m.role FROM user_sign_in_tokens t JOIN users u ON u.id = t.user_id
           JOIN user_memberships m ON m.user_id = u.id`,
      );
      expect(rows).toEqual([{ token_hash: hashSecret(link![1]!), email: 'ann@example.com', role: 'owner' }]);
    } finally {
      await db.close();
    }
  }, 120_000);

  it('with --password prints a strong password once and stores its scrypt hash', async () => {
    const r = await place.run(
      ['user', 'create', '--entity', 'CLUB', '--email', 'bob@example.com', '--role', 'viewer', '--password', '--json'],
      FAST,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ email: 'bob@example.com', entity: 'CLUB', role: 'viewer' });
    expect(out.password.length).toBeGreaterThanOrEqual(20);
    expect(out.signInLink).toBeUndefined();
    const db = await place.open();
    try {
      const { rows } = await db.query<{ password_hash: string }>(
        `SELECT password_hash FROM users WHERE email = 'bob@example.com'`,
      );
      const hash = rows[0]!.password_hash;
      expect(hash).toMatch(/^scrypt\$ln=10,r=8,p=1\$/);
      expect(hash).not.toContain(out.password);
      const params = { logN: 10, r: 8, p: 1 };
      expect((await verifyPassword(out.password, hash, params)).ok).toBe(true);
      expect((await verifyPassword(out.password + 'x', hash, params)).ok).toBe(false);
      const audit = await db.query(`SELECT after FROM audit_log WHERE action = 'user.added'`);
      expect(JSON.stringify(audit.rows)).not.toContain(out.password);
    } finally {
      await db.close();
    }
  }, 120_000);

  it('refuses a bad role or e-mail naming the option, an unknown entity, and a second membership', async () => {
    const role = await place.run(['user', 'create', '--entity', 'CLUB', '--email', 'c@example.com', '--role', 'admin']);
    expect(role.code).toBe(1);
    expect(role.stderr).toContain('VALIDATION_ERROR: --role');
    // Said once: the roles there are, not the schema's words and then the same again.
    expect(role.stderr.trim()).toBe('error: VALIDATION_ERROR: --role: not a role: one of owner, accountant, viewer');
    const email = await place.run(['user', 'create', '--entity', 'CLUB', '--email', 'nope', '--role', 'viewer']);
    expect(email.stderr).toContain('--email');
    const entity = await place.run([
      'user',
      'create',
      '--entity',
      'NOPE',
      '--email',
      'c@example.com',
      '--role',
      'viewer',
    ]);
    expect(entity.stderr).toContain('ENTITY_DOES_NOT_EXIST');
    expect(entity.stderr).toContain('known entities: CLUB');
    // Codes are upper case: the one meant is named.
    const lower = await place.run([
      'user',
      'create',
      '--entity',
      'club',
      '--email',
      'c@example.com',
      '--role',
      'viewer',
    ]);
    expect(lower.code).toBe(1);
    expect(lower.stderr.trim()).toBe(
      'error: ENTITY_DOES_NOT_EXIST: No entity club; entity codes are upper case: did you mean CLUB?',
    );
    const dup = await place.run([
      'user',
      'create',
      '--entity',
      'CLUB',
      '--email',
      'ANN@example.com',
      '--role',
      'viewer',
    ]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('USER_ALREADY_MEMBER');
  }, 300_000);

  it('user link prints a new one-time link for a member', async () => {
    const r = await place.run(['user', 'link', '--entity', 'CLUB', '--email', 'ANN@example.com', '--json'], {
      LEDGERLINK_PUBLIC_URL: 'https://books.example.org',
    });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.signInLink).toMatch(/^https:\/\/books\.example\.org\/sign-in\/set-password\?token=llp_/);
    const token = new URL(out.signInLink).searchParams.get('token')!;
    const db = await place.open();
    try {
      const { rows } = await db.query('SELECT 1 FROM user_sign_in_tokens WHERE token_hash = $1', [hashSecret(token)]);
      expect(rows).toHaveLength(1);
    } finally {
      await db.close();
    }
  }, 300_000);

  it('has --help', async () => {
    const r = await place.run(['user', 'create', '--help']);
    expect(r.stdout).toContain('--entity');
    expect(r.stdout).toContain('--password');
    expect(r.stdout).toContain('24 hours');
  }, 120_000);
});

describe('user list, disable, enable', () => {
  // Each spawn of the command takes seconds on a loaded machine: a few per test, with room to spare.
  it('lists users with their status; the last owner cannot be disabled', async () => {
    const list = await place.run(['user', 'list', '--entity', 'CLUB']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/CLUB\s+ann@example\.com\s+owner\s+invited/);
    expect(list.stdout).toMatch(/CLUB\s+bob@example\.com\s+viewer\s+active/);
    const last = await place.run(['user', 'disable', '--entity', 'CLUB', '--email', 'ann@example.com']);
    expect(last.code).toBe(1);
    expect(last.stderr).toContain('LAST_OWNER');
  }, 300_000);

  it('disables a user and enables them again; an unknown e-mail is NOT_FOUND', async () => {
    const off = await place.run(['user', 'disable', '--entity', 'CLUB', '--email', 'BOB@example.com', '--json']);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toEqual({ email: 'bob@example.com', entity: 'CLUB', disabled: true });
    const db = await place.open();
    try {
      const { rows } = await db.query<{ disabled: boolean }>(
        `SELECT m.disabled_at IS NOT NULL AS disabled FROM user_memberships m JOIN users u ON u.id = m.user_id
          WHERE u.email = 'bob@example.com'`,
      );
      expect(rows).toEqual([{ disabled: true }]);
    } finally {
      await db.close();
    }
    const on = await place.run(['user', 'enable', '--entity', 'CLUB', '--email', 'bob@example.com']);
    expect(on.code, on.stderr).toBe(0);
    expect((await place.run(['user', 'list'])).stdout).toMatch(/bob@example\.com\s+viewer\s+active/);
    const missing = await place.run(['user', 'disable', '--entity', 'CLUB', '--email', 'who@example.com']);
    expect(missing.stderr).toContain('NOT_FOUND');
  }, 300_000);
});
