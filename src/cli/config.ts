import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { databaseConfigFromEnv, openDatabase } from '../db/open.ts';
import {
  type ConfigProblem,
  ConfigError,
  applyConfig,
  checkConfigInDatabase,
  checkConfigText,
  configFileName,
} from '../sync/config.ts';
import { formatPlan } from '../sync/config-plan.ts';
import { openSecretBox } from '../sync/keys.ts';
import '../connectors/all.ts';
import {
  CliError,
  fileNotReadable,
  printRefusal,
  refuseMemoryDatabase,
  requireExistingData,
  runCommand,
} from './common.ts';

/** The configuration file named (or found), read; refused with a code when there is none or it cannot be read. */
async function readConfigText(
  file: string | undefined,
  command: 'validate' | 'apply',
): Promise<{ path: string; text: string }> {
  const path = configFileName(file);
  if (!path)
    throw new CliError(
      'CONFIG_FILE_NOT_FOUND',
      `no configuration file: name one (ledgerlink config ${command} FILE), set LEDGERLINK_CONFIG, or run where ledgerlink.yaml is`,
      [{ field: 'FILE', message: 'no configuration file named, and no ./ledgerlink.yaml' }],
    );
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch (err) {
    throw fileNotReadable(path, err);
  }
}

function printProblems(path: string, problems: ConfigProblem[]): void {
  console.error(`${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  for (const p of problems) console.error(`  ${p.field}: ${p.message}`);
}

/**
 * A file `config apply` refuses, as every refusal reads: `error: CODE: FILE: N problems` with the
 * problems below it, or with --json the API's error body, each problem in `details` by its path.
 */
function refuseProblems(path: string, problems: ConfigProblem[], json: boolean | undefined): number {
  const code = problems[0]?.code ?? 'VALIDATION_ERROR';
  const summary = `${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`;
  if (json)
    printRefusal(
      {
        code,
        message: `${summary}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
        details: problems.map(({ field, message }) => ({ field, message })),
      },
      true,
    );
  else {
    console.error(`error: ${code}: ${summary}; nothing was written`);
    for (const p of problems) console.error(`  ${p.field}: ${p.message}`);
  }
  return 1;
}

/** `ledgerlink config validate`: every problem with its path; returns the exit code (0 valid, 1 not). */
export async function runValidate(
  file: string | undefined,
  opts: { offline?: boolean; json?: boolean },
): Promise<number> {
  const read = await readConfigText(file, 'validate');
  const checked = checkConfigText(read.text);
  let problems = checked.problems;
  if (checked.config && !opts.offline) {
    // Nothing is written: a folder that is not there is said so, not made (with an empty database to check against).
    requireExistingData(process.env, `or check the file alone: ledgerlink config validate --offline ${read.path}`);
    const db = await openDatabase(databaseConfigFromEnv());
    try {
      problems = await checkConfigInDatabase(db, checked.config);
    } finally {
      await db.close();
    }
  }
  if (opts.json) console.log(JSON.stringify({ file: read.path, valid: problems.length === 0, problems }));
  else if (problems.length) printProblems(read.path, problems);
  else {
    const c = checked.config!;
    console.log(
      `${read.path} is valid: ${c.entities.length} entit${c.entities.length === 1 ? 'y' : 'ies'}, ` +
        `${c.pipelines.length} pipeline${c.pipelines.length === 1 ? '' : 's'}` +
        (opts.offline ? ' (checked without the database: entities and mapping codes were not looked up)' : ''),
    );
  }
  return problems.length ? 1 : 0;
}

/** `ledgerlink config apply`: prints the plan, then applies it (not with --dry-run); returns the exit code. */
export async function runApply(file: string | undefined, opts: { dryRun?: boolean; json?: boolean }): Promise<number> {
  const read = await readConfigText(file, 'apply');
  const checked = checkConfigText(read.text);
  if (!checked.config) return refuseProblems(read.path, checked.problems, opts.json);
  // What it applies would be thrown away when it ends.
  refuseMemoryDatabase();
  const dbConfig = databaseConfigFromEnv();
  const db = await openDatabase(dbConfig);
  try {
    const { box } = await openSecretBox(db, dbConfig);
    const applied = await applyConfig(db, box, checked.config, { dryRun: opts.dryRun === true });
    if (opts.json) console.log(JSON.stringify({ file: read.path, dryRun: opts.dryRun === true, plan: applied.plan }));
    else {
      console.log(formatPlan(applied.plan));
      console.log(opts.dryRun ? 'dry run: nothing was written' : `applied ${read.path}`);
    }
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) return refuseProblems(read.path, err.problems, opts.json);
    throw err;
  } finally {
    await db.close();
  }
}

export function registerConfig(program: Command): void {
  const config = program
    .command('config')
    .description('Check and apply a configuration file (entities and pipelines)')
    .addHelpText(
      'after',
      `
Only \`serve\` and \`worker\` apply the configuration file at start; every other command acts on what
the database holds. Apply a file to a running system with \`ledgerlink config apply\`.`,
    );
  config
    .command('validate [file]')
    .description('Check a configuration file as the API would, and print every problem with its path')
    .option('--offline', 'check the file alone, without opening the database')
    .option('--json', 'print {file, valid, problems} as JSON')
    .addHelpText(
      'after',
      `
Checked: YAML, \${VARIABLES} set in the environment, every field against the API's schema (cron
schedules, modes, mapping), source and target types and target settings, pipeline names used once,
and, with the database, that each pipeline's entity exists (or is in the file) and that its mapping
names GL accounts, tax codes, departments and bank accounts the entity has. Nothing is written.
Exit code 0 when valid, 1 otherwise. Example:
  $ ledgerlink config validate ledgerlink.yaml
  ledgerlink.yaml: 1 problem
    pipelines[1].schedule: not a cron expression: five fields (minute hour day month weekday, UTC), e.g. "*/15 * * * *"`,
    )
    .action((file: string | undefined, opts: { offline?: boolean; json?: boolean }) =>
      runCommand(opts.json, () => runValidate(file, opts)),
    );
  config
    .command('apply [file]')
    .description('Show what a configuration file changes, then apply it: entities created, pipelines saved')
    .option('--dry-run', 'only show what would change; write nothing')
    .option('--json', 'print the plan as JSON')
    .addHelpText(
      'after',
      `
Prints one line per entity (+ create, = exists) and per pipeline (+ create, ~ update with the fields
that change, = unchanged). Secrets are shown as added, changed, unchanged, removed or "replaces
unreadable", never in clear. The file is checked first (as \`config validate\`); any problem refuses
the whole file and nothing is written. Secrets are encrypted with the database's key
(LEDGERLINK_ENCRYPTION_KEY, or the PGlite data folder's key file). Exit code 0 when applied.`,
    )
    .action((file: string | undefined, opts: { dryRun?: boolean; json?: boolean }) =>
      runCommand(opts.json, () => runApply(file, opts)),
    );
}
