/**
 * The Ansible Vault password sources the command line named (`--vault-id`, `--vault-password-file`),
 * set once by the CLI and read by whatever file turns out to need them, so no password is asked for
 * or read unless a vaulted value is met.
 */
import type { VaultSecret } from './ansible-vault.ts';
import { loadVaultPasswords, type VaultPasswordOptions } from './vault-passwords.ts';

let options: VaultPasswordOptions = {};
let loaded: Promise<VaultSecret[]> | undefined;

export function setVaultPasswordSources(o: VaultPasswordOptions): void {
  options = o;
  loaded = undefined;
}

/** The passwords, read on first use (a prompt asks once per run). */
export function vaultPasswords(): Promise<VaultSecret[]> {
  return (loaded ??= loadVaultPasswords(options));
}
