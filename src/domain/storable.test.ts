import { describe, expect, it } from 'vitest';
import { findUnstorable, storable, storableJson, unstorableProblem } from './storable.ts';

describe('storable text', () => {
  it('names a NUL and an unpaired surrogate, and lets paired ones through', () => {
    expect(unstorableProblem('a\u0000b')).toBe('contains a NUL character');
    expect(unstorableProblem('x\ud800')).toMatch(/unpaired UTF-16 surrogate/);
    expect(unstorableProblem('\udc00y')).toMatch(/unpaired UTF-16 surrogate/);
    expect(unstorableProblem('😀 Zoë \u202e <script>')).toBeNull();
  });

  it('finds the first one with its path, keys included', () => {
    expect(findUnstorable({ lines: [{ description: 'ok' }, { description: 'a\u0000' }] }, ['record'])).toEqual({
      field: 'record.lines.1.description',
      message: 'contains a NUL character',
    });
    expect(findUnstorable({ ['k\ud800']: 1 }, [])?.message).toMatch(/^key contains an unpaired/);
    expect(findUnstorable({ a: ['😀', 1, null, true] }, [])).toBeNull();
  });

  it('replaces them with U+FFFD, in strings and in the keys and values of JSON that jsonb accepts', () => {
    expect(storable('a\u0000b\ud800c😀')).toBe('a\ufffdb\ufffdc😀');
    const json = storableJson({ ['k\u0000']: ['\udc00', { id: 'x\ud800' }], when: new Date(0), n: 1 });
    expect(JSON.parse(json)).toEqual({
      'k\ufffd': ['\ufffd', { id: 'x\ufffd' }],
      when: '1970-01-01T00:00:00.000Z',
      n: 1,
    });
    expect(json).not.toMatch(/\\u0000|\\ud[89a-f]/i);
  });
});
