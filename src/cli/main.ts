import { Command, type Option } from 'commander';

type Register = (program: Command) => void;

/*
 * Each command's module, in the order `ledgerlink --help` lists them. Only the named command's
 * module is loaded: `serve`, `sync` and the others bring in every connector and the HTTP server
 * (seconds of loading through tsx), which `entity create` or `user list` never use. With no
 * command, help, or a name that is none of these, all of them are loaded, so help and commander's
 * "did you mean" see every command; `--version` alone loads none.
 */
const COMMANDS: [names: string[], load: () => Promise<Register[]>][] = [
  [['serve'], async () => [(await import('./serve.ts')).registerServe]],
  [['worker'], async () => [(await import('./worker.ts')).registerWorker]],
  [
    ['sync', 'exceptions'],
    async () => {
      const m = await import('./sync.ts');
      return [m.registerSync, m.registerExceptions];
    },
  ],
  [['import'], async () => [(await import('./import.ts')).registerImport]],
  [['reconcile'], async () => [(await import('./reconcile.ts')).registerReconcile]],
  [['entity'], async () => [(await import('./entity.ts')).registerEntity]],
  [['config'], async () => [(await import('./config.ts')).registerConfig]],
  [['keys'], async () => [(await import('./keys.ts')).registerKeys]],
  [['pipeline'], async () => [(await import('./pipeline.ts')).registerPipeline]],
  [['runs'], async () => [(await import('./runs.ts')).registerRuns]],
  [['user'], async () => [(await import('./users.ts')).registerUsers]],
  [['verify'], async () => [(await import('./verify.ts')).registerVerify]],
  [['copy-to-postgres'], async () => [(await import('./copy.ts')).registerCopy]],
];

/** The command named in `args` (the global options skipped), if any. */
function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--data-dir') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

const program = new Command();
program
  .name('ledgerlink')
  .description('Sales data into accounting, exactly once: an embedded receivables ledger and a sync engine.')
  .version('0.1.0')
  .option('--data-dir <dir>', 'the PGlite data folder (env LEDGERLINK_DATA_DIR, default ./data)')
  .hook('preAction', () => {
    const dir = program.opts<{ dataDir?: string }>().dataDir;
    if (dir !== undefined) process.env.LEDGERLINK_DATA_DIR = dir;
  });

/** `ledgerlink --version` (or `-V`) alone: commander answers it without any command's module. */
function versionOnly(args: string[]): boolean {
  return args.length === 1 && (args[0] === '--version' || args[0] === '-V');
}

/** The options commands declared with `requiredOption`, checked by `checkRequiredOptions`. */
const requiredOptions = new WeakSet<Option>();

/**
 * Marks required options "(required)" in `--help`, and has them checked after commander looked for
 * unknown options rather than before (its own order): `import f.csv --pipe x` then says that
 * `--pipe` is not an option (with commander's "Did you mean …?" when the flag is close to one),
 * instead of only that `--pipeline` is missing.
 */
function markRequiredOptions(command: Command): void {
  for (const option of command.options) {
    if (!option.mandatory) continue;
    option.description = `${option.description} (required)`;
    option.makeOptionMandatory(false);
    requiredOptions.add(option);
  }
  for (const sub of command.commands) markRequiredOptions(sub);
}

/** The check commander would have made of required options, with its words and exit code. */
function checkRequiredOptions(command: Command): void {
  for (const option of command.options) {
    if (requiredOptions.has(option) && command.getOptionValue(option.attributeName()) === undefined)
      command.error(`error: required option '${option.flags}' not specified`, {
        code: 'commander.missingMandatoryOptionValue',
      });
  }
}

program.hook('preAction', (_program, command) => checkRequiredOptions(command));

/** Whether the command run was given `--json`: a failure no command printed itself is then JSON too. */
let jsonOutput = false;
program.hook('preAction', (_program, command) => {
  jsonOutput = command.opts<{ json?: unknown }>().json === true;
});

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const name = commandName(args);
  const named = COMMANDS.find(([names]) => name !== undefined && names.includes(name));
  const load = versionOnly(args) ? [] : named ? [named] : COMMANDS;
  for (const [, loadCommand] of load) for (const register of await loadCommand()) register(program);
  markRequiredOptions(program);
  await program.parseAsync(process.argv);
}

/**
 * What a failure that no command turned into its own message prints (a start refused by its
 * settings, its key or its configuration): `error: CODE: message` when it has a code of ours,
 * else `error: message`, as every refusal of the command line reads.
 */
function failureText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = codeOf(err, message);
  return code ? `error: ${code}: ${message}` : `error: ${message}`;
}

/** The error's code when it is one of ours (the data folder in use, a key refused), else null. */
function codeOf(err: unknown, message: string): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  // Codes of ours are UPPER_SNAKE; Node's (ENOENT) already begin the message, PostgreSQL's are SQLSTATEs.
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code) && !message.startsWith(code) ? code : null;
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  const code = codeOf(err, message);
  // With --json a refusal with a code is the same error body the commands print (on stdout).
  if (jsonOutput && code) console.log(JSON.stringify({ error: { code, message } }));
  else console.error(failureText(err));
  process.exit(1);
});
