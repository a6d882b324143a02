import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import '../src/connectors/all.ts';
import { quickbooksTarget } from '../src/connectors/quickbooks/index.ts';
import { currentOutboundPolicy } from '../src/sync/http.ts';
import { targetDefinition, targetTypes } from '../src/sync/registry.ts';
import { changeLog } from './helpers/scoped.ts';

/*
 * processScope() (test/helpers/scoped.ts) is what lets a test file that registers connectors or sets
 * the environment share its worker with the files after it: whatever it changed must be back as it
 * was when the file ends, in whatever order and however many times the file changed it.
 */
describe('a test file’s changes to the process, undone', () => {
  it('puts back environment variables, set or not before, changed any number of times', () => {
    const log = changeLog();
    const before = process.env.LEDGERLINK_OUTBOUND_ALLOW;
    expect(process.env.LL_SCOPE_TEST).toBeUndefined();
    log.env('LL_SCOPE_TEST', 'one');
    log.env('LL_SCOPE_TEST', 'two');
    log.env('LEDGERLINK_OUTBOUND_ALLOW', undefined);
    log.env('LEDGERLINK_OUTBOUND_ALLOW', 'erp.internal:8080');
    expect(process.env.LL_SCOPE_TEST).toBe('two');
    log.undo();
    expect(Object.hasOwn(process.env, 'LL_SCOPE_TEST')).toBe(false);
    expect(process.env.LEDGERLINK_OUTBOUND_ALLOW).toBe(before);
  });

  it('puts back the connector a test replaced, and removes one it added', () => {
    const log = changeLog();
    const real = targetDefinition('quickbooks');
    log.target({ ...quickbooksTarget, description: 'a test double' });
    log.target({
      type: 'scope-sink',
      description: 'test only',
      settings: z.strictObject({}),
      secrets: [],
      create: () => Promise.reject(new Error('unused')),
    });
    expect(targetDefinition('quickbooks').description).toBe('a test double');
    log.undo();
    expect(targetDefinition('quickbooks')).toBe(real);
    expect(targetTypes()).not.toContain('scope-sink');
  });

  it('takes back hosts allowed out, and restores spies', () => {
    const log = changeLog();
    const allowed = () => currentOutboundPolicy({}).allow.filter((a) => a.host === 'books.example');
    log.allowHost('books.example', 8443);
    expect(allowed()).toEqual([{ host: 'books.example', port: 8443 }]);
    const spy = log.spyOn(console, 'warn').mockImplementation(() => undefined);
    console.warn('swallowed');
    expect(spy).toHaveBeenCalledTimes(1);
    log.undo();
    expect(allowed()).toEqual([]);
    expect(console.warn).not.toBe(spy);
  });
});
