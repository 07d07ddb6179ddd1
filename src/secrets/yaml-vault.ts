/**
 * `!vault |` values inside YAML (a baton.yaml, an inventory), as ansible-vault encrypt_string writes
 * them: parsed as a tagged scalar, then decrypted in place once the document is read. Every value so
 * revealed is a secret: it is registered for masking.
 */
import type { ScalarTag } from 'yaml';
import { decryptVault, type VaultSecret } from './ansible-vault.ts';
import { registerSecret } from './mask.ts';

/** A vaulted scalar as read, not yet decrypted. */
export class Vaulted {
  constructor(readonly text: string) {}
}

export const VAULT_TAG: ScalarTag = {
  tag: '!vault',
  identify: (v) => v instanceof Vaulted,
  resolve: (text: string) => new Vaulted(text),
};

/** Whether a parsed document holds any `!vault` value. */
export function hasVaulted(value: unknown): boolean {
  if (value instanceof Vaulted) return true;
  if (Array.isArray(value)) return value.some(hasVaulted);
  if (value && typeof value === 'object') return Object.values(value).some(hasVaulted);
  return false;
}

/** A copy of `value` with each `!vault` scalar decrypted; `where` (a file) and the key path name a failure. */
export function revealVaulted(value: unknown, secrets: readonly VaultSecret[], where: string, path = ''): unknown {
  if (value instanceof Vaulted) {
    const plain = decryptVault(value.text, secrets, `${where}: ${path || '(document)'}`).toString('utf8');
    registerSecret(plain, `${where}: ${path || '(document)'} (!vault)`);
    return plain;
  }
  if (Array.isArray(value)) return value.map((v, i) => revealVaulted(v, secrets, where, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, revealVaulted(v, secrets, where, path ? `${path}.${k}` : k)]),
    );
  }
  return value;
}
