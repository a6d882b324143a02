import { describe, expect, it } from 'vitest';
import { DomainError, fieldError } from '../src/domain/errors.ts';
import { savedByKey } from '../src/api/routes/setup-shared.ts';

/* The end of a PUT by key: 201 only when it created, and an audit entry saying which with what changed. */
describe('savedByKey', () => {
  const context = () => {
    const audits: unknown[] = [];
    const statuses: number[] = [];
    return {
      audits,
      statuses,
      ctx: {
        audit: async (entry: unknown) => {
          audits.push(entry);
        },
        setStatus: (s: number) => {
          statuses.push(s);
        },
      },
    };
  };

  it('answers 201 and audits the whole object when the save created it', async () => {
    const { ctx, audits, statuses } = context();
    const after = { code: 'A1', name: 'Ada' };
    const result = await savedByKey(ctx, { objectType: 'item', objectId: 'A1' }, async () => ({
      created: true,
      before: null,
      after,
    }));
    expect(result).toBe(after);
    expect(statuses).toEqual([201]);
    expect(audits).toEqual([
      { action: 'item.created', objectType: 'item', objectId: 'A1', before: null, after: { code: 'A1', name: 'Ada' } },
    ]);
  });

  it('keeps the status and audits only what changed when the save updated it', async () => {
    const { ctx, audits, statuses } = context();
    const result = await savedByKey(
      ctx,
      { action: 'intercompany-connection', objectType: 'intercompanyConnection', objectId: 'IE' },
      async () => ({ created: false, before: { a: 1, b: 2 }, after: { a: 1, b: 3 } }),
    );
    expect(result).toEqual({ a: 1, b: 3 });
    expect(statuses).toEqual([]);
    expect(audits).toEqual([
      {
        action: 'intercompany-connection.updated',
        objectType: 'intercompanyConnection',
        objectId: 'IE',
        before: { b: 2 },
        after: { b: 3 },
      },
    ]);
  });

  it('names the errors of the save as body fields, and audits nothing', async () => {
    const { ctx, audits, statuses } = context();
    const failing = savedByKey(ctx, { objectType: 'item', objectId: 'A1' }, () =>
      Promise.reject(fieldError('unitPrice', 'must not be negative')),
    );
    await expect(failing).rejects.toBeInstanceOf(DomainError);
    await expect(failing).rejects.toMatchObject({ details: [expect.objectContaining({ field: 'body.unitPrice' })] });
    expect(audits).toEqual([]);
    expect(statuses).toEqual([]);
  });
});
