import { describe, expect, it } from 'vitest';
import { customerChanges, presentCustomerFields } from './canonical.ts';

describe('customerChanges', () => {
  const record = {
    kind: 'customer' as const,
    sourceId: 'c-1',
    code: null,
    name: 'Ann',
    email: null,
    phone: '  ',
    city: 'Gent',
  };

  it('keeps the fields with a value, leaves out what the source does not carry and empties it is not authoritative for', () => {
    expect(customerChanges(record)).toEqual({ kind: 'customer', sourceId: 'c-1', name: 'Ann', city: 'Gent' });
    expect(presentCustomerFields(record)).toEqual(['name', 'email', 'phone', 'city']);
  });

  it('sends an empty field as null (clear) where the pipeline is authoritative for it', () => {
    expect(customerChanges(record, new Set(['email', 'phone', 'street']))).toEqual({
      kind: 'customer',
      sourceId: 'c-1',
      name: 'Ann',
      email: null,
      phone: null,
      city: 'Gent',
    });
  });
});
