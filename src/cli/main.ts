import { Command, type CommanderError, type Option } from 'commander';

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

/**
 * Whether the command run was given `--json`: a failure no command printed itself is then JSON too.
 * With the parent's options (`entity keys revoke … --json` is read by `entity keys`).
 */
let jsonOutput = false;
program.hook('preAction', (_program, command) => {
  jsonOutput = command.optsWithGlobals<{ json?: unknown }>().json === true;
});

/** `--json` among the arguments (before a `--`): commander refuses a command line before any hook runs. */
function jsonAsked(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/** `ledgerlink entity keys` for the command `command`: what to ask `--help` of. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * The option or argument a commander refusal is about, named as the other refusals name fields
 * (`--pipeline`, `NAME`): commander quotes it in its message (`unknown option '--bogus'`,
 * `option '-p, --port <port>' argument missing`, `… is invalid for argument 'name'`).
 */
function usageField(err: CommanderError): string | undefined {
  const argument = /for argument '([^']+)'/.exec(err.message)?.[1];
  if (argument) return argument.toUpperCase();
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  if (!quoted) return undefined;
  const flag = (text: string) => {
    const parts = text.split(/[\s,]+/);
    return parts.find((part) => part.startsWith('--')) ?? parts[0];
  };
  switch (err.code) {
    case 'commander.unknownOption':
    case 'commander.optionMissingArgument':
    case 'commander.missingMandatoryOptionValue':
    case 'commander.conflictingOption':
    case 'commander.invalidArgument':
      return flag(quoted);
    case 'commander.missingArgument':
      return quoted.toUpperCase();
    default:
      return undefined;
  }
}

/** A refusal of commander's, as the command line's other refusals read: code, message, the field at fault. */
class UsageError extends Error {
  readonly code = 'USAGE_ERROR';
  constructor(
    message: string,
    readonly details?: { field: string; message: string }[],
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Commander's own refusals (an unknown command or option, a missing argument or value, a value not
 * among the choices, too many arguments) read as every refusal does: `error: USAGE_ERROR: …; see
 * ledgerlink CMD --help`, or the API's error body on stdout with --json (printed where every other
 * failure is, at the end of this file). Help, `--version` and the help shown for a command given
 * without its subcommand go on as commander has them.
 */
function configureUsageErrors(command: Command): void {
  command.configureOutput({
    outputError: (text, write) => {
      // A refusal is printed with its code at the end; anything else as commander prints it.
      if (!text.startsWith('error: ')) write(text);
    },
  });
  command.exitOverride((err) => {
    if (err.exitCode === 0 || !err.message.startsWith('error: ')) process.exit(err.exitCode);
    const said = err.message
      .replace(/^error: /, '')
      .replace(/\s*\n\s*/g, ' ')
      .trim()
      .replace(/\.$/, '');
    const field = usageField(err);
    throw new UsageError(`${said}; see ${commandPath(command)} --help`, field ? [{ field, message: said }] : undefined);
  });
  for (const sub of command.commands) configureUsageErrors(sub);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const name = commandName(args);
  const named = COMMANDS.find(([names]) => name !== undefined && names.includes(name));
  const load = versionOnly(args) ? [] : named ? [named] : COMMANDS;
  for (const [, loadCommand] of load) for (const register of await loadCommand()) register(program);
  markRequiredOptions(program);
  configureUsageErrors(program);
  await program.parseAsync(process.argv);
}

/**
 * A failure that no command turned into its own message (a command line commander refused, a start
 * refused by its settings, its key, its database or its configuration): `error: CODE: message` when
 * it carries a code of ours (`refusalOf`), or with --json the API's error body on stdout; anything
 * else (a bug) is `error: message` on stderr. Node's and the driver's codes (ERR_INVALID_URL,
 * ECONNREFUSED, SQLSTATEs) are never passed off as ours. common.ts is loaded only here: `--version`
 * and `--help` need none of what it brings.
 */
main().catch(async (err: unknown) => {
  const { printRefusal, refusalOf } = await import('./common.ts');
  const refusal = refusalOf(err);
  // Commander refuses a command line before the hook that reads --json has run.
  const json = err instanceof UsageError ? jsonAsked(process.argv.slice(2)) : jsonOutput;
  if (refusal) printRefusal(refusal, json);
  else console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
