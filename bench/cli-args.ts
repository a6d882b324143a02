import { type ParseArgsConfig, parseArgs } from 'node:util';

/*
 * Options of the bench scripts, taken as the `ledgerlink` CLI takes its own: `-h`/`--help` prints
 * the usage and exits 0; an unknown option, a missing value or a bad number says what is wrong and
 * where to look, and exits 2, never with a stack trace.
 */

/** The script's usage, for `usageError` to point at. */
let current = '';

/** Parses `config` (strict, as parseArgs is by default), after answering `-h`/`--help` with `usage`. */
export function benchArgs<const T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  current = usage.trimEnd();
  const argv = config.args ?? process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${current}\n`);
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (err) {
    return usageError(err instanceof Error ? err.message : String(err));
  }
}

/** Says what is wrong with the command line and exits 2. */
export function usageError(message: string): never {
  const usage = current.split('\n')[0] ?? '';
  process.stderr.write(`${message}\n${usage ? `${usage}\n` : ''}(--help for every option)\n`);
  process.exit(2);
}

/** A positive whole number option, or its default; anything else is a usage error naming the option. */
export function positiveInt(value: string | undefined, fallback: number, option: string): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1) usageError(`--${option} must be a positive whole number, not "${value}"`);
  return n;
}
