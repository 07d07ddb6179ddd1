/**
 * Ansible Vault's file format, byte for byte as ansible-core writes it, so one set of encrypted files
 * serves both tools: `$ANSIBLE_VAULT;1.1;AES256` (or `1.2;AES256;<vault id>`), then the hex of
 * `hex(salt) \n hex(hmac) \n hex(ciphertext)`, in lines of 80. The key, HMAC key and counter come from
 * PBKDF2-SHA256 (10000 rounds, 80 bytes) of the password and a random 32-byte salt; the plaintext is
 * PKCS#7-padded and encrypted with AES-256-CTR; the HMAC-SHA256 of the ciphertext is checked before
 * anything is decrypted.
 */
import { createCipheriv, createDecipheriv, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { BatonError } from '../errors.ts';

/** A password and the vault id (label) it is for; `default` when none was given. */
export interface VaultSecret {
  readonly label: string;
  readonly password: string;
}

export class VaultDecryptError extends BatonError {
  override readonly exitCode = 2;
}

const HEADER = '$ANSIBLE_VAULT';
const ROUNDS = 10_000;

export function isVaulted(text: string): boolean {
  return text.trimStart().startsWith(`${HEADER};`);
}

/** The vault id a vaulted text names in its header (format 1.2), if any. */
export function vaultIdOf(text: string): string | undefined {
  const [, version, , label] = text.trimStart().split('\n', 1)[0]!.trim().split(';');
  return version === '1.2' ? label : undefined;
}

function derive(password: string, salt: Buffer) {
  const k = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, ROUNDS, 80, 'sha256');
  return { key: k.subarray(0, 32), hmacKey: k.subarray(32, 64), counter: k.subarray(64, 80) };
}

/** Encrypts `plaintext` as ansible-vault does; with a label other than `default`, in format 1.2. */
export function encryptVault(plaintext: string | Buffer, secret: VaultSecret, salt: Buffer = randomBytes(32)): string {
  const { key, hmacKey, counter } = derive(secret.password, salt);
  const data = Buffer.from(plaintext);
  const pad = 16 - (data.length % 16);
  const cipher = createCipheriv('aes-256-ctr', key, counter);
  const ciphertext = Buffer.concat([cipher.update(Buffer.concat([data, Buffer.alloc(pad, pad)])), cipher.final()]);
  const hmac = createHmac('sha256', hmacKey).update(ciphertext).digest('hex');
  const inner = [salt.toString('hex'), hmac, ciphertext.toString('hex')].join('\n');
  const body = Buffer.from(inner)
    .toString('hex')
    .match(/.{1,80}/g)!
    .join('\n');
  const header =
    secret.label && secret.label !== 'default' ? `${HEADER};1.2;AES256;${secret.label}` : `${HEADER};1.1;AES256`;
  return `${header}\n${body}\n`;
}

/**
 * Decrypts a vaulted text with the first secret that opens it: the one labelled as the header's vault
 * id first, then every other (as ansible-core does). `where` names the file or setting in errors.
 */
export function decryptVault(text: string, secrets: readonly VaultSecret[], where: string): Buffer {
  const lines = text
    .trim()
    .split('\n')
    .map((l) => l.trim());
  const [magic, version, cipherName] = lines[0]!.split(';');
  if (magic !== HEADER || !['1.1', '1.2'].includes(version ?? '') || cipherName !== 'AES256') {
    throw new VaultDecryptError(
      `${where}: not an Ansible Vault text this version can read (header ${JSON.stringify(lines[0])}; AES256 in format 1.1 or 1.2 only)`,
    );
  }
  if (!secrets.length) {
    throw new VaultDecryptError(
      `${where}: is encrypted with Ansible Vault${vaultIdOf(text) ? ` (vault id ${vaultIdOf(text)})` : ''}; give its password with --vault-password-file, --vault-id or ANSIBLE_VAULT_PASSWORD_FILE`,
    );
  }
  let salt: Buffer, hmac: Buffer, ciphertext: Buffer;
  try {
    const inner = Buffer.from(lines.slice(1).join(''), 'hex').toString();
    const [s, h, c, ...rest] = inner.split('\n');
    if (!s || !h || !c || rest.length || !/^[0-9a-f]+$/i.test(s + h + c)) throw new Error('malformed');
    [salt, hmac, ciphertext] = [Buffer.from(s, 'hex'), Buffer.from(h, 'hex'), Buffer.from(c, 'hex')];
  } catch {
    throw new VaultDecryptError(`${where}: the Ansible Vault text is damaged (its body is not the hex Ansible writes)`);
  }
  const label = vaultIdOf(text);
  const ordered = [...secrets.filter((s) => s.label === label), ...secrets.filter((s) => s.label !== label)];
  for (const secret of ordered) {
    const { key, hmacKey, counter } = derive(secret.password, salt);
    const expected = createHmac('sha256', hmacKey).update(ciphertext).digest();
    if (expected.length !== hmac.length || !timingSafeEqual(expected, hmac)) continue;
    const decipher = createDecipheriv('aes-256-ctr', key, counter);
    const padded = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    const pad = padded.at(-1) ?? 0;
    if (pad < 1 || pad > 16 || padded.length < pad)
      throw new VaultDecryptError(`${where}: the Ansible Vault text is damaged (bad padding)`);
    return padded.subarray(0, padded.length - pad);
  }
  const tried = [...new Set(secrets.map((s) => s.label))].join(', ');
  throw new VaultDecryptError(`${where}: no vault password given opens it (tried vault ids: ${tried})`);
}

/** `name: !vault |` and the vaulted text indented, as `ansible-vault encrypt_string --name` prints it. */
export function vaultedYamlValue(vaulted: string, name?: string): string {
  const indented = vaulted
    .trimEnd()
    .split('\n')
    .map((l) => `          ${l}`)
    .join('\n');
  return `${name === undefined ? '' : `${name}: `}!vault |\n${indented}\n`;
}
