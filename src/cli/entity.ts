import type { Command } from 'commander';
import { Decimal } from 'decimal.js';
import { openDatabase, databaseConfigFromEnv } from '../db/open.ts';
import { createEntity, issueKeys, listKeys, revokeKey } from '../ledger/entities.ts';
import type { Database } from '../db/database.ts';
import { DomainError } from '../domain/errors.ts';
import { recordAudit } from '../ledger/audit.ts';
import { NewEntityBody } from '../api/routes/admin-entities.ts';
import { listEntitySummaries } from '../sync/pipelines.ts';
import { parseWithSchema, refuseMemoryDatabase, requireEntity, requireExistingData, runCommand } from './common.ts';
import { table } from './table.ts';

/** `21%` is 0.21; anything else is passed on as written, for the API's schema to judge. */
export function percentToFraction(rate: string): string {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(rate);
  return m ? new Decimal(m[1]!).div(100).toFixed() : rate;
}

interface CreateOptions {
  code: string;
  name: string;
  currency: string;
  standardTaxRate: string;
  json?: boolean;
}

export function registerEntity(program: Command): void {
  const entity = program.command('entity').description('Manage entities (companies)');
  entity
    .command('create')
    .description('Create an entity with the default chart of accounts and print its first key pair')
    .requiredOption('--code <code>', 'entity code, upper case (e.g. CLUB)')
    .requiredOption('--name <name>', 'entity name')
    .option('--currency <ccy>', 'base currency (ISO 4217, e.g. EUR)', 'EUR')
    .option('--standard-tax-rate <rate>', 'rate of the STD tax code: a fraction (0.21) or a percentage (21%)', '0.20')
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      '\nChecked like POST /v1/admin/entities. Creates the data folder when there is none (see --data-dir).',
    )
    .action((opts: CreateOptions) =>
      runCommand(opts.json, async () => {
        const input = parseWithSchema(
          NewEntityBody,
          {
            code: opts.code,
            name: opts.name,
            baseCurrency: opts.currency,
            standardTaxRate: percentToFraction(opts.standardTaxRate),
          },
          { code: '--code', name: '--name', baseCurrency: '--currency', standardTaxRate: '--standard-tax-rate' },
          {
            '--code': `e.g. --code ${opts.code.toUpperCase().replace(/[^A-Z0-9_.-]/g, '') || 'CLUB'}`,
            '--standard-tax-rate': 'or as a percentage: 21%',
          },
        );
        // Its keys would be printed for a database thrown away when the command ends.
        refuseMemoryDatabase();
        const db = await openDatabase(databaseConfigFromEnv());
        try {
          const { entity: e, keys } = await db.transaction(async (tx) => {
            const created = await createEntity(tx, input);
            await recordAudit(tx, {
              entityId: created.entity.id,
              actor: 'cli',
              action: 'entity.created',
              objectType: 'entity',
              objectId: created.entity.code,
              after: {
                code: created.entity.code,
                name: created.entity.name,
                baseCurrency: created.entity.baseCurrency,
              },
            });
            return created;
          });
          const out = { entityId: e.id, code: e.code, partnerKey: keys.partnerKey, userKey: keys.userKey };
          if (opts.json) console.log(JSON.stringify(out));
          else {
            console.log(`Created entity ${e.code} (${e.name}, ${e.baseCurrency})`);
            console.log(`  entityId   ${out.entityId}\n  partnerKey ${out.partnerKey}\n  userKey    ${out.userKey}`);
            console.log('Keep the keys safe: they are shown once. Log in with POST /v1/auth/login.');
          }
        } finally {
          await db.close();
        }
      }),
    );

  entity
    .command('list')
    .description('List entities: code, name, currency, when created, how many pipelines (no keys)')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      runCommand(opts.json, async () => {
        requireExistingData();
        const db = await openDatabase(databaseConfigFromEnv());
        try {
          const items = await listEntitySummaries(db);
          if (opts.json) console.log(JSON.stringify({ items }));
          else if (items.length === 0)
            console.log('no entities (create one: ledgerlink entity create --code CLUB --name "…")');
          else
            console.log(
              table([
                ['code', 'name', 'currency', 'created', 'pipelines'],
                ...items.map((e) => [
                  e.code,
                  e.name,
                  e.baseCurrency,
                  e.createdAt.slice(0, 19).replace('T', ' '),
                  String(e.pipelines),
                ]),
              ]),
            );
        } finally {
          await db.close();
        }
      }),
    );
  registerKeys(entity);
}

/**
 * Runs `fn` on the stored database (refused as every command that reads or changes it is: no data
 * folder, `memory`), and prints a refusal as every command does: `error: CODE: message`, or the
 * API's error body with --json.
 */
function withDatabase(json: boolean | undefined, fn: (db: Database) => Promise<void>): Promise<void> {
  return runCommand(json, async () => {
    requireExistingData();
    const db = await openDatabase(databaseConfigFromEnv());
    try {
      await fn(db);
    } finally {
      await db.close();
    }
  });
}

async function entityIdOf(db: Database, code: string): Promise<string> {
  return (await requireEntity(db, code, 'CODE')).id;
}

/** `entity keys CODE` (a new key pair), `entity keys CODE --list`, `entity keys revoke CODE KEYID`. */
function registerKeys(entity: Command): void {
  const keys = entity
    .command('keys')
    .description('Issue a new key pair for an entity (earlier pairs keep working until revoked), or list them')
    .argument('<code>', 'entity code')
    .option('--list', 'list the key pairs (ids, labels, dates; never the keys)')
    .option('--label <label>', 'a label for the new key pair')
    .option('--json', 'print machine-readable JSON')
    .action(async (code: string, opts: { list?: boolean; label?: string; json?: boolean }) =>
      withDatabase(opts.json, async (db) => {
        const entityId = await entityIdOf(db, code);
        if (opts.list) {
          const items = await listKeys(db, entityId);
          if (opts.json) console.log(JSON.stringify({ items }));
          else
            console.log(
              table([
                ['key id', 'created', 'status', 'label'],
                ...items.map((k) => [
                  k.keyId,
                  k.createdAt,
                  k.revokedAt ? `revoked ${k.revokedAt}` : 'active',
                  k.label ?? '',
                ]),
              ]),
            );
          return;
        }
        const issued = await db.transaction(async (tx) => {
          const pair = await issueKeys(tx, entityId, opts.label ?? null);
          await recordAudit(tx, {
            entityId,
            actor: 'cli',
            action: 'entity.keys-issued',
            objectType: 'credential',
            objectId: pair.credentialId,
          });
          return pair;
        });
        const out = {
          entityId,
          code,
          keyId: issued.credentialId,
          partnerKey: issued.partnerKey,
          userKey: issued.userKey,
        };
        if (opts.json) console.log(JSON.stringify(out));
        else {
          console.log(`New key pair for ${code} (key id ${out.keyId})`);
          console.log(`  partnerKey ${out.partnerKey}\n  userKey    ${out.userKey}`);
          console.log('Keep the keys safe: they are shown once. Earlier key pairs keep working until revoked.');
        }
      }),
    );
  keys
    .command('revoke')
    .description('Revoke a key pair: it can no longer log in and its sessions end at once')
    .argument('<code>', 'entity code')
    .argument('<keyId>', 'the key pair id (from `entity keys CODE --list`)')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', '\nRevoking a key pair that is revoked already changes nothing and says so (exit code 0).')
    // `entity keys` has a --json of its own, which takes the flag wherever it is written: read both.
    .action(async (code: string, keyId: string, _opts: unknown, command: Command) =>
      withDatabase(command.optsWithGlobals<{ json?: boolean }>().json, async (db) => {
        const entityId = await entityIdOf(db, code);
        const revoked = await db.transaction(async (tx) => {
          const r = await revokeKey(tx, entityId, keyId);
          if (!r)
            throw new DomainError('NOT_FOUND', `Entity ${code} has no key pair ${keyId}`, [
              { field: 'KEYID', message: 'unknown key pair' },
            ]);
          await recordAudit(tx, {
            entityId,
            actor: 'cli',
            action: 'entity.key-revoked',
            objectType: 'credential',
            objectId: keyId,
            after: { revokedAt: r.credential.revokedAt, sessionsEnded: r.sessionsEnded },
          });
          return r;
        });
        // Revoking is idempotent (exit code 0 either way), but says what it did.
        if (command.optsWithGlobals<{ json?: boolean }>().json)
          console.log(
            // The key pair as DELETE /v1/admin/entities/{code}/keys/{keyId} answers it, and what the revoking did.
            JSON.stringify({
              ...revoked.credential,
              alreadyRevoked: revoked.alreadyRevoked,
              sessionsEnded: revoked.sessionsEnded,
            }),
          );
        else
          console.log(
            revoked.alreadyRevoked
              ? `Key pair ${keyId} of ${code} was already revoked (${revoked.credential.revokedAt}); nothing changed.`
              : `Revoked key pair ${keyId} of ${code}; ${revoked.sessionsEnded} session(s) ended.`,
          );
      }),
    );
}
