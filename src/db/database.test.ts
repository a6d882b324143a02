import { describe, expect, it } from 'vitest';
import { DatabaseError, isDatabaseUnavailable, isStorageFull } from './database.ts';

/** An error as node-postgres and PGlite raise them: a message and the SQLSTATE in `code`. */
const pgError = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

describe('what a database failure means', () => {
  it('a full disk is SQLSTATE 53100, however deep in the causes, and nothing else is', () => {
    const full = pgError('could not extend file "base/5/16635": No space left on device', '53100');
    expect(isStorageFull(full)).toBe(true);
    expect(isStorageFull(new DatabaseError('posting failed', { cause: full }))).toBe(true);
    expect(isStorageFull(pgError('out of memory', '53200'))).toBe(false);
    expect(isStorageFull(pgError('duplicate key', '23505'))).toBe(false);
    expect(isStorageFull(null)).toBe(false);
  });

  it('a server that went away: a restart, a shutdown, a refused or dropped connection, in codes or words', () => {
    for (const e of [
      pgError('terminating connection due to administrator command', '57P01'),
      pgError('the database system is starting up', '57P03'),
      pgError('connection failure', '08006'),
      pgError('database "books" is not currently accepting connections', '55000'),
      pgError('sorry, too many clients already', '53300'),
      pgError('database dropped', '57P04'),
      pgError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      pgError('read ECONNRESET', 'ECONNRESET'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('run failed', { cause: pgError('x', '57P01') }),
    ])
      expect({ message: e.message, unavailable: isDatabaseUnavailable(e) }).toEqual({
        message: e.message,
        unavailable: true,
      });
  });

  it('a statement the database refused is not an outage', () => {
    for (const e of [
      pgError('duplicate key value violates unique constraint', '23505'),
      pgError('could not serialize access', '40001'),
      pgError('No space left on device', '53100'),
      pgError('syntax error', '42601'),
      // The same class as a closed database, for a statement that cannot run now.
      pgError('cannot refresh materialized view "v" concurrently', '55000'),
      new Error('Connection to the target failed'),
      'ECONNREFUSED',
    ])
      expect(isDatabaseUnavailable(e)).toBe(false);
  });
});
