import type { Command } from 'commander';
import { openDatabase, databaseConfigFromEnv } from '../db/open.ts';
import { createEntity } from '../ledger/entities.ts';
import { recordAudit } from '../ledger/audit.ts';
import { isDomainError } from '../domain/errors.ts';

export function registerEntity(program: Command): void {
  const entity = program.command('entity').description('Manage entities (companies)');
  entity
    .command('create')
    .description('Create an entity with the default chart of accounts and print its first key pair')
    .requiredOption('--code <code>', 'entity code, upper case (e.g. CLUB)')
    .requiredOption('--name <name>', 'entity name')
    .option('--currency <ccy>', 'base currency (ISO 4217)', 'EUR')
    .option('--standard-tax-rate <rate>', 'rate of the STD tax code as a fraction', '0.20')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { code: string; name: string; currency: string; standardTaxRate: string; json?: boolean }) => {
      const db = await openDatabase(databaseConfigFromEnv());
      try {
        const { entity: e, keys } = await db.transaction(async (tx) => {
          const created = await createEntity(tx, {
            code: opts.code,
            name: opts.name,
            baseCurrency: opts.currency.toUpperCase(),
            standardTaxRate: opts.standardTaxRate,
          });
          await recordAudit(tx, {
            entityId: created.entity.id,
            actor: 'cli',
            action: 'entity.created',
            objectType: 'entity',
            objectId: created.entity.code,
            after: { code: created.entity.code, name: created.entity.name, baseCurrency: created.entity.baseCurrency },
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
      } catch (err) {
        if (isDomainError(err)) {
          console.error(`error: ${err.code}: ${err.message}`);
          process.exitCode = 1;
        } else throw err;
      } finally {
        await db.close();
      }
    });
}
