import { describe, expect, it } from 'vitest';
import { auditChange, isNoChange } from './audit.ts';

describe('auditChange', () => {
  it('keeps exactly the changed fields, nested objects field by field, a removed field as null', () => {
    const before = { name: 'A', email: 'a@x', address: { city: 'Gent', street: 'K 1' }, rowVersion: 1, notes: 'n' };
    const after = { name: 'A', email: 'b@x', address: { street: 'K 1', city: 'Cork' }, rowVersion: 2 };
    expect(auditChange(before, after, { ignore: ['rowVersion'] })).toEqual({
      before: { email: 'a@x', address: { city: 'Gent' }, notes: 'n' },
      after: { email: 'b@x', address: { city: 'Cork' }, notes: null },
    });
  });

  it('a creation is the whole object after; no change is an empty change', () => {
    expect(auditChange(null, { a: 1, rowVersion: 1 }, { ignore: ['rowVersion'] })).toEqual({
      before: null,
      after: { a: 1 },
    });
    const same = auditChange({ a: [1, 2], b: { c: 1 } }, { b: { c: 1 }, a: [1, 2] });
    expect(same).toEqual({ before: {}, after: {} });
    expect(isNoChange(same)).toBe(true);
    expect(isNoChange(auditChange({ a: [1, 2] }, { a: [2, 1] }))).toBe(false);
  });
});
