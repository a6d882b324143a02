import type { Command } from 'commander';
import { openDatabase, databaseConfigFromEnv } from '../db/open.ts';
import { type LedgerVerification, verifyLedger } from '../ledger/verify.ts';
import { requireEntity, requireExistingData, runCommand } from './common.ts';

interface VerifyOptions {
  entity?: string;
  skipCache?: boolean;
  json?: boolean;
}

/** The report people read: each entity, each invariant, what breaks it. */
export function formatVerification(results: LedgerVerification[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`${r.entity} (${r.transactions} transactions): ${r.ok ? 'every invariant holds' : 'INVARIANTS BROKEN'}`);
    for (const c of r.checks) {
      out.push(`  ${c.problems.length ? '✗' : '✓'} ${c.description}`);
      for (const p of c.problems) out.push(`      ${p}`);
    }
  }
  return out.join('\n');
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      "Check the ledger's invariants: balanced journals, control accounts against open items, the open items and GL balances caches",
    )
    .option('--entity <code>', 'one entity (default: every entity)')
    .option('--skip-cache', 'leave out the open items cache check (it reads the whole ledger twice)')
    .option('--json', 'print the checks as JSON')
    .addHelpText(
      'after',
      `
Changes no document, balance or setting: the cache checks first bring the open items and GL balances
caches up to date with the ledger, as every report does. Exit code 0 when every invariant of every entity checked holds, 1 otherwise (each
problem is listed, up to 20 per check). Run it after restoring a backup, moving to a new server, or
anything you do not trust.`,
    )
    .action((opts: VerifyOptions) =>
      runCommand(opts.json, async () => {
        requireExistingData();
        const db = await openDatabase(databaseConfigFromEnv());
        try {
          let entities: { id: string; code: string }[];
          if (opts.entity) {
            const found = await requireEntity(db, opts.entity);
            entities = [{ id: found.id, code: found.code }];
          } else {
            entities = (await db.query<{ id: string; code: string }>('SELECT id, code FROM entities ORDER BY code'))
              .rows;
          }
          const results: LedgerVerification[] = [];
          for (const e of entities) {
            if (!opts.json) process.stderr.write(`checking ${e.code}…\n`);
            results.push(await verifyLedger(db, e, opts.skipCache ? { skip: ['openItemsCache'] } : {}));
          }
          console.log(opts.json ? JSON.stringify({ entities: results }) : formatVerification(results));
          return results.every((r) => r.ok) ? 0 : 1;
        } finally {
          await db.close();
        }
      }),
    );
}
