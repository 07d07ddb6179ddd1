/**
 * Where Ansible Vault passwords come from, read as ansible-core reads them: `--vault-id label@source`
 * (source a file, an executable that prints the password, or `prompt`), `--vault-password-file file`
 * (the `default` id), and `ANSIBLE_VAULT_PASSWORD_FILE` / `ANSIBLE_VAULT_IDENTITY_LIST` when no flag
 * names one. An executable file is run for the password (a `*-client` script told which vault id).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { VaultSecret } from './ansible-vault.ts';
import { readHidden } from './prompt.ts';

export interface VaultPasswordOptions {
  readonly vaultIds?: readonly string[];
  readonly passwordFiles?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** The sources named by flags, else by the environment, as `label@source` pairs. */
export function vaultIdentities(options: VaultPasswordOptions): { label: string; source: string; from: string }[] {
  const env = options.env ?? process.env;
  const parse = (spec: string, from: string) => {
    const at = spec.indexOf('@');
    // `--vault-id file` is the default id from that file; `--vault-id prompt` asks.
    const [label, source] = at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : ['default', spec];
    if (!source)
      throw new ConfigError(
        from,
        `${JSON.stringify(spec)} names no password source (label@file, label@prompt or a file)`,
      );
    return { label, source, from };
  };
  const flagged = [
    ...(options.vaultIds ?? []).map((s) => parse(s, '--vault-id')),
    ...(options.passwordFiles ?? []).map((f) => ({ label: 'default', source: f, from: '--vault-password-file' })),
  ];
  if (flagged.length) return flagged;
  const list =
    env.ANSIBLE_VAULT_IDENTITY_LIST?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? [];
  const fromEnv = list.map((s) => parse(s, 'ANSIBLE_VAULT_IDENTITY_LIST'));
  if (env.ANSIBLE_VAULT_PASSWORD_FILE)
    fromEnv.push({ label: 'default', source: env.ANSIBLE_VAULT_PASSWORD_FILE, from: 'ANSIBLE_VAULT_PASSWORD_FILE' });
  return fromEnv;
}

/** Reads every password the options name (prompting at the terminal for `prompt`). */
export async function loadVaultPasswords(options: VaultPasswordOptions): Promise<VaultSecret[]> {
  const out: VaultSecret[] = [];
  for (const { label, source, from } of vaultIdentities(options)) {
    if (source === 'prompt') {
      out.push({
        label,
        password: await readHidden(`Vault password${label === 'default' ? '' : ` (${label})`}: `, from),
      });
      continue;
    }
    out.push({ label, password: readPasswordFile(source, from, label) });
  }
  return out;
}

/**
 * As ansible-core reads one: an executable is run (a `*-client` script with `--vault-id <label>`) and
 * its output's line ending dropped; a plain file's surrounding whitespace is dropped.
 */
function readPasswordFile(file: string, from: string, label: string): string {
  let executable = false;
  try {
    accessSync(file, constants.X_OK);
    executable = true;
  } catch {
    // not executable: a plain file
  }
  try {
    const client = /-client(\.\w+)?$/.test(file);
    const password = executable
      ? execFileSync(file, client ? ['--vault-id', label] : [], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
          timeout: 60_000,
        }).replace(/[\r\n]+$/, '')
      : readFileSync(file, 'utf8').trim();
    if (!password) throw new ConfigError(from, `${file} holds an empty password`);
    return password;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      from,
      `cannot read the vault password from ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message.split('\n')[0]}`,
    );
  }
}
