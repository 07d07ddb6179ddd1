/**
 * `baton vault encrypt | decrypt | view | encrypt-string`, as `ansible-vault` has them: the same file
 * format, the same password sources (--vault-id, --vault-password-file, ANSIBLE_VAULT_PASSWORD_FILE)
 * and the same defaults (files changed in place, `-` or no file for stdin and stdout), so a team keeps
 * one set of encrypted files for both tools.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ConfigError, ExitCode } from '../errors.ts';
import { decryptVault, encryptVault, isVaulted, vaultedYamlValue, type VaultSecret } from '../secrets/ansible-vault.ts';
import type { VaultPasswords } from '../secrets/sources.ts';

/** The passwords the command was given (--vault-id, --vault-password-file, else the environment). */
interface VaultPasswordOption {
  readonly vaultPasswords: VaultPasswords;
}

export interface VaultFileOptions extends VaultPasswordOption {
  readonly files: readonly string[];
  readonly output?: string;
  /** The vault id to encrypt with, when several passwords are given. */
  readonly encryptVaultId?: string;
}

function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      '',
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
}

/** Writes beside the file, then renames: a file is never left half-written. */
function writeOutput(file: string, text: string | Buffer): void {
  if (file === '-') {
    process.stdout.write(text);
    return;
  }
  const temporary = `${file}.baton-${process.pid}`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, file);
}

async function encryptingSecret({
  vaultPasswords,
  encryptVaultId,
}: VaultPasswordOption & { encryptVaultId?: string | undefined }): Promise<VaultSecret> {
  const secrets = await vaultPasswords();
  if (!secrets.length)
    throw new ConfigError(
      '--vault-password-file',
      'no vault password given: use --vault-password-file, --vault-id or ANSIBLE_VAULT_PASSWORD_FILE',
    );
  if (encryptVaultId) {
    const chosen = secrets.find((s) => s.label === encryptVaultId);
    if (!chosen)
      throw new ConfigError(
        '--encrypt-vault-id',
        `${JSON.stringify(encryptVaultId)} is not among the vault ids given (${secrets.map((s) => s.label).join(', ')})`,
      );
    return chosen;
  }
  if (secrets.length > 1)
    throw new ConfigError(
      '--encrypt-vault-id',
      `${secrets.length} vault ids were given (${secrets.map((s) => s.label).join(', ')}): say which to encrypt with`,
    );
  return secrets[0]!;
}

const inputsOf = (o: VaultFileOptions) => (o.files.length ? o.files : ['-']);

function checkOutput(o: VaultFileOptions): void {
  if (o.output && inputsOf(o).length > 1) throw new ConfigError('--output', 'takes one input file');
}

export async function runVaultEncrypt(o: VaultFileOptions): Promise<number> {
  checkOutput(o);
  const secret = await encryptingSecret(o);
  for (const file of inputsOf(o)) {
    const text = readInput(file);
    if (isVaulted(text)) throw new ConfigError('', `${file} is already encrypted`);
    writeOutput(o.output ?? file, encryptVault(text, secret));
  }
  process.stderr.write('Encryption successful\n');
  return ExitCode.Ok;
}

export async function runVaultDecrypt(o: VaultFileOptions): Promise<number> {
  checkOutput(o);
  for (const file of inputsOf(o)) {
    const text = readInput(file);
    if (!isVaulted(text)) throw new ConfigError('', `${file} is not encrypted with Ansible Vault`);
    writeOutput(o.output ?? file, decryptVault(text, await o.vaultPasswords(), file));
  }
  process.stderr.write('Decryption successful\n');
  return ExitCode.Ok;
}

export async function runVaultView(o: VaultFileOptions): Promise<number> {
  for (const file of inputsOf(o)) {
    const text = readInput(file);
    process.stdout.write(isVaulted(text) ? decryptVault(text, await o.vaultPasswords(), file) : text);
  }
  return ExitCode.Ok;
}

export interface EncryptStringOptions extends VaultPasswordOption {
  readonly strings: readonly string[];
  readonly names: readonly string[];
  /** Read the one string from stdin, and print it under this name. */
  readonly stdinName?: string;
  readonly encryptVaultId?: string;
}

export async function runVaultEncryptString(o: EncryptStringOptions): Promise<number> {
  const secret = await encryptingSecret(o);
  const items: { name?: string; value: string }[] = o.strings.map((value, i) => ({
    ...(o.names[i] !== undefined && { name: o.names[i] }),
    value,
  }));
  if (o.stdinName !== undefined || !items.length)
    items.push({ ...(o.stdinName !== undefined && { name: o.stdinName }), value: readInput('-') });
  if (items.some((i) => !i.value)) throw new ConfigError('', 'the string to encrypt is empty');
  process.stdout.write(items.map((i) => vaultedYamlValue(encryptVault(i.value, secret), i.name)).join('\n'));
  process.stderr.write('Encryption successful\n');
  return ExitCode.Ok;
}
