/**
 * The Ansible Vault passwords a command was given (`--vault-id`, `--vault-password-file`, else the
 * environment), as a value the command hands to whatever file turns out to need them: no password is
 * asked for or read unless a vaulted value is met, and a prompt asks once per run.
 */
import type { VaultSecret } from './ansible-vault.ts';
import { loadVaultPasswords, type VaultPasswordOptions } from './vault-passwords.ts';

/** The passwords, read on the first call and kept for the next. */
export type VaultPasswords = () => Promise<VaultSecret[]>;

export function vaultPasswordsFrom(options: VaultPasswordOptions = {}): VaultPasswords {
  let loaded: Promise<VaultSecret[]> | undefined;
  return () => (loaded ??= loadVaultPasswords(options));
}
