import { describe, expect, it } from 'vitest';
import { checkPasswordPolicy, generatePassword, hashPassword, verifyPassword } from './passwords.ts';

const FAST = { logN: 10, r: 8, p: 1 };

describe('password hashes', () => {
  it('record their parameters and verify only the right password', async () => {
    const hash = await hashPassword('a long passphrase', FAST);
    expect(hash).toMatch(/^scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(await verifyPassword('a long passphrase', hash, FAST)).toEqual({ ok: true, outdated: false });
    expect((await verifyPassword('a long passphrasE', hash, FAST)).ok).toBe(false);
    // two hashes of one password differ (salted)
    expect(await hashPassword('a long passphrase', FAST)).not.toBe(hash);
  });

  it('verify a hash made with other parameters, and say it is outdated', async () => {
    const old = await hashPassword('a long passphrase', { logN: 11, r: 8, p: 1 });
    expect(await verifyPassword('a long passphrase', old, FAST)).toEqual({ ok: true, outdated: true });
  });

  it('refuse a missing or malformed hash', async () => {
    expect((await verifyPassword('x', null, FAST)).ok).toBe(false);
    expect((await verifyPassword('x', 'bcrypt$2b$10$abc', FAST)).ok).toBe(false);
    expect((await verifyPassword('x', 'scrypt$ln=99,r=8,p=1$AA==$AA==', FAST)).ok).toBe(false);
  });
});

describe('password policy', () => {
  const refused = (password: string, email = 'ann.smith@example.com') => {
    try {
      checkPasswordPolicy(password, email);
      return null;
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  it('takes 12 characters or more that are not common and do not contain the e-mail', () => {
    expect(refused('elevenchars')).toBe('PASSWORD_TOO_WEAK');
    expect(refused('twelve chars')).toBeNull();
    expect(refused('Password1234')).toBe('PASSWORD_TOO_WEAK');
    expect(refused('zzzzzzzzzzzzzz')).toBe('PASSWORD_TOO_WEAK');
    expect(refused('my ANN.SMITH password')).toBe('PASSWORD_TOO_WEAK');
    expect(refused('x ann.smith@example.com')).toBe('PASSWORD_TOO_WEAK');
    expect(refused(generatePassword())).toBeNull();
  });
});
