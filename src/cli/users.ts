import type { Command } from 'commander';
import { z } from 'zod';
import { databaseConfigFromEnv, openDatabase } from '../db/open.ts';
import type { Database } from '../db/database.ts';
import type { Role } from '../domain/roles.ts';
import { recordAudit } from '../ledger/audit.ts';
import { DEFAULT_PASSWORD_PARAMS, generatePassword, hashPassword } from '../ledger/passwords.ts';
import {
  addMember,
  findMemberByEmail,
  issueSignInToken,
  normalizeEmail,
  setPasswordHash,
  signInLinkPath,
  updateMember,
} from '../ledger/users.ts';
import { integerSetting, urlSetting } from '../settings.ts';
import { CliError, parseWithSchema, requireEntity, requireExistingData, runCommand } from './common.ts';
import { table } from './table.ts';

const NewUser = z.object({
  email: z
    .string()
    .trim()
    .min(3)
    .max(254)
    .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'an e-mail address'),
  role: z.enum(['owner', 'accountant', 'viewer'], { error: 'not a role: one of owner, accountant, viewer' }),
});

async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(databaseConfigFromEnv());
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const entityOf = (db: Database, code: string) => requireEntity(db, code);

/** Where people open the server: --url, LEDGERLINK_PUBLIC_URL, or http://localhost:PORT. */
function baseUrl(url: string | undefined): string {
  const given =
    url !== undefined ? urlSetting({ '--url': url }, '--url') : urlSetting(process.env, 'LEDGERLINK_PUBLIC_URL');
  const port = integerSetting(process.env, 'PORT', { default: 3000, min: 0, max: 65535 });
  return (given ?? `http://localhost:${port}`).replace(/\/+$/, '');
}

interface CreateOptions {
  entity: string;
  email: string;
  role: string;
  password?: boolean;
  url?: string;
  json?: boolean;
}

async function createUser(opts: CreateOptions): Promise<void> {
  const input = parseWithSchema(NewUser, { email: opts.email, role: opts.role }, { email: '--email', role: '--role' });
  const base = opts.password ? null : baseUrl(opts.url);
  const logN = integerSetting(process.env, 'LEDGERLINK_PASSWORD_SCRYPT_LOG_N', {
    default: DEFAULT_PASSWORD_PARAMS.logN,
    min: 10,
    max: 20,
  });
  requireExistingData();
  const out = await withDb(async (db) => {
    const entity = await entityOf(db, opts.entity);
    const password = opts.password ? generatePassword() : null;
    // The slow hash before the transaction: PGlite has one connection.
    const hash = password ? await hashPassword(password, { ...DEFAULT_PASSWORD_PARAMS, logN }) : null;
    return db.transaction(async (tx) => {
      const { member, userCreated } = await addMember(tx, entity.id, input);
      // A user who already signs in (another entity) keeps their password.
      const credentials = member.hasPassword ? 'existing' : password ? 'password' : 'link';
      let link: { token: string; expiresAt: string } | null = null;
      if (credentials === 'password') await setPasswordHash(tx, member.id, hash!);
      if (credentials === 'link') link = await issueSignInToken(tx, member.id, entity.id, 'operator');
      await recordAudit(tx, {
        entityId: entity.id,
        actor: 'cli',
        action: 'user.added',
        objectType: 'user',
        objectId: member.id,
        after: { email: member.email, role: member.role, userCreated, credentials },
      });
      return {
        id: member.id,
        email: member.email,
        entity: entity.code,
        role: member.role,
        ...(link ? { signInLink: `${base}${signInLinkPath(link.token)}`, signInLinkExpiresAt: link.expiresAt } : {}),
        ...(credentials === 'password' ? { password } : {}),
      };
    });
  });
  if (opts.json) return console.log(JSON.stringify(out));
  console.log(`Added ${out.email} to ${out.entity} as ${out.role}`);
  if ('signInLink' in out) {
    console.log(`  sign-in link (once, until ${out.signInLinkExpiresAt}): ${out.signInLink}`);
    console.log('Send it to the user: it sets their password. It is shown once and stored only as a hash.');
  } else if ('password' in out) {
    console.log(`  password (shown once): ${out.password}`);
  } else {
    console.log('The user already has a password (another entity) and signs in with it.');
  }
}

interface MemberRow {
  email: string;
  code: string;
  role: Role;
  disabled: boolean;
  has_password: boolean;
  created_at: Date;
}

async function listUsers(opts: { entity?: string; json?: boolean }): Promise<void> {
  requireExistingData();
  const items = await withDb(async (db) => {
    const entityId = opts.entity ? (await entityOf(db, opts.entity)).id : null;
    const { rows } = await db.query<MemberRow>(
      `SELECT u.email, e.code, m.role, m.disabled_at IS NOT NULL AS disabled,
              u.password_hash IS NOT NULL AS has_password, m.created_at
         FROM user_memberships m JOIN users u ON u.id = m.user_id JOIN entities e ON e.id = m.entity_id
        WHERE $1::uuid IS NULL OR m.entity_id = $1
        ORDER BY e.code, u.email`,
      [entityId],
    );
    return rows.map((r) => ({
      email: r.email,
      entity: r.code,
      role: r.role,
      status: r.disabled ? 'disabled' : r.has_password ? 'active' : 'invited',
      createdAt: new Date(r.created_at).toISOString(),
    }));
  });
  if (opts.json) return console.log(JSON.stringify({ items }));
  if (items.length === 0)
    return console.log('no users (add one: ledgerlink user create --entity CODE --email … --role …)');
  console.log(
    table([
      ['entity', 'email', 'role', 'status', 'added'],
      ...items.map((u) => [u.entity, u.email, u.role, u.status, u.createdAt.slice(0, 19).replace('T', ' ')]),
    ]),
  );
}

async function setDisabled(opts: { entity: string; email: string; json?: boolean }, disabled: boolean): Promise<void> {
  requireExistingData();
  const email = normalizeEmail(opts.email);
  await withDb(async (db) => {
    const entity = await entityOf(db, opts.entity);
    await db.transaction(async (tx) => {
      const member = await findMemberByEmail(tx, entity.id, email);
      if (!member) throw new CliError('NOT_FOUND', `${email} does not belong to ${entity.code}`);
      const changed = await updateMember(tx, entity.id, member.id, { disabled });
      await recordAudit(tx, {
        entityId: entity.id,
        actor: 'cli',
        action: 'user.updated',
        objectType: 'user',
        objectId: member.id,
        before: { disabled: changed!.before.disabled },
        after: { disabled: changed!.after.disabled },
      });
    });
  });
  if (opts.json) console.log(JSON.stringify({ email, entity: opts.entity, disabled }));
  else
    console.log(
      disabled
        ? `Disabled ${email} in ${opts.entity}: their sessions and API keys there stop at once.`
        : `Enabled ${email} in ${opts.entity}.`,
    );
}

async function issueLink(opts: { entity: string; email: string; url?: string; json?: boolean }): Promise<void> {
  requireExistingData();
  const base = baseUrl(opts.url);
  const email = normalizeEmail(opts.email);
  const out = await withDb(async (db) => {
    const entity = await entityOf(db, opts.entity);
    return db.transaction(async (tx) => {
      const member = await findMemberByEmail(tx, entity.id, email);
      if (!member) throw new CliError('NOT_FOUND', `${email} does not belong to ${entity.code}`);
      const link = await issueSignInToken(tx, member.id, entity.id, 'operator');
      await recordAudit(tx, {
        entityId: entity.id,
        actor: 'cli',
        action: 'user.sign-in-link-issued',
        objectType: 'user',
        objectId: member.id,
      });
      return {
        email,
        entity: entity.code,
        signInLink: `${base}${signInLinkPath(link.token)}`,
        expiresAt: link.expiresAt,
      };
    });
  });
  if (opts.json) return console.log(JSON.stringify(out));
  console.log(`Sign-in link for ${out.email} (once, until ${out.expiresAt}): ${out.signInLink}`);
  console.log('It sets a new password; the old one keeps working until then.');
}

export function registerUsers(program: Command): void {
  const user = program.command('user').description('Named users of entities: e-mail, password, role');
  user
    .command('create')
    .description(
      'Add a user to an entity with a role; prints a one-time sign-in link (or, with --password, a password)',
    )
    .requiredOption('--entity <code>', 'entity code')
    .requiredOption('--email <email>', "the user's e-mail address (case does not matter)")
    .requiredOption(
      '--role <role>',
      'owner (users, connections, settings), accountant (post, allocate, fix, run), viewer (read)',
    )
    .option('--password', 'generate a strong password and print it once, instead of a sign-in link')
    .option(
      '--url <url>',
      'the address users open, for the link (default LEDGERLINK_PUBLIC_URL, else http://localhost:PORT)',
    )
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      `
The link opens /sign-in/set-password on the server and works once, within 24 hours; the user
chooses a password there (at least 12 characters). A user who already has a password (they belong
to another entity) keeps it: nothing is printed to sign in with. Only hashes are stored.`,
    )
    .action((opts: CreateOptions) => runCommand(opts.json, () => createUser(opts)));
  user
    .command('link')
    .description('Print a new one-time sign-in link for a user (a lost invitation, or a forgotten password)')
    .requiredOption('--entity <code>', 'an entity the user belongs to')
    .requiredOption('--email <email>', "the user's e-mail address")
    .option('--url <url>', 'the address users open (default LEDGERLINK_PUBLIC_URL, else http://localhost:PORT)')
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      "\nThe link works once, within 24 hours. Setting a password with it ends the user's sessions everywhere.",
    )
    .action((opts: { entity: string; email: string; url?: string; json?: boolean }) =>
      runCommand(opts.json, () => issueLink(opts)),
    );
  user
    .command('list')
    .description('List users: entity, e-mail, role, status (active, invited, disabled)')
    .option('--entity <code>', 'only this entity')
    .option('--json', 'print JSON')
    .action((opts: { entity?: string; json?: boolean }) => runCommand(opts.json, () => listUsers(opts)));
  for (const [name, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    user
      .command(name)
      .description(
        disabled
          ? 'Disable a user in an entity: sign-in, sessions and API keys there are refused at once'
          : 'Enable a disabled user in an entity again',
      )
      .requiredOption('--entity <code>', 'entity code')
      .requiredOption('--email <email>', "the user's e-mail address")
      .option('--json', 'print JSON')
      .addHelpText('after', disabled ? '\nThe last active owner of an entity cannot be disabled (LAST_OWNER).' : '')
      .action((opts: { entity: string; email: string; json?: boolean }) =>
        runCommand(opts.json, () => setDisabled(opts, disabled)),
      );
  }
}
