import { describe, expect, it } from 'vitest';
import { decryptVault, encryptVault, isVaulted, vaultIdOf } from './ansible-vault.ts';
import { maskDeep, maskSecrets, registerSecret } from './mask.ts';

const dev = { label: 'dev', password: 'dev password' };
const prod = { label: 'prod', password: 'prod password' };

describe('Ansible Vault format', () => {
  it('round-trips any bytes, in lines of 80, naming a vault id only when it is not default', () => {
    for (const text of ['', 'a', 'x'.repeat(16), 'héllo\nwörld\n', 'y'.repeat(1000)]) {
      const v = encryptVault(text, dev);
      expect(isVaulted(v)).toBe(true);
      expect(
        v
          .split('\n')
          .slice(1, -1)
          .every((l) => l.length <= 80),
      ).toBe(true);
      expect(decryptVault(v, [prod, dev], 'f').toString()).toBe(text);
    }
    expect(vaultIdOf(encryptVault('a', dev))).toBe('dev');
    expect(encryptVault('a', { label: 'default', password: 'p' })).toMatch(/^\$ANSIBLE_VAULT;1\.1;AES256\n/);
  });

  it('refuses a wrong password, a damaged text and a missing password, naming where', () => {
    const v = encryptVault('secret', dev);
    expect(() => decryptVault(v, [prod], 'group_vars/all.yml')).toThrow(
      'group_vars/all.yml: no vault password given opens it (tried vault ids: prod)',
    );
    const damaged = v.replace(/\n(.)/, (_, c: string) => `\n${c === '3' ? '4' : '3'}`);
    expect(() => decryptVault(damaged, [dev], 'f')).toThrow(/^f: /);
    expect(() => decryptVault(v, [], 'f')).toThrow(
      'f: is encrypted with Ansible Vault (vault id dev); give its password',
    );
    expect(() => decryptVault('$ANSIBLE_VAULT;1.0;AES\nabc', [dev], 'f')).toThrow(
      /not an Ansible Vault text this version can read/,
    );
  });
});

describe('masking', () => {
  it('replaces every registered value, longest first, in text and in objects', () => {
    registerSecret('abc');
    registerSecret('s3cret');
    registerSecret('s3cret-and-more');
    expect(maskSecrets('abc s3cret s3cret-and-more')).toBe('abc *** ***');
    expect(maskDeep({ a: ['x s3cret'], b: { c: 's3cret-and-more!' }, n: 1 })).toEqual({
      a: ['x ***'],
      b: { c: '***!' },
      n: 1,
    });
  });
});
