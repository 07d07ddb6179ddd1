/**
 * OpenSSH known_hosts, as `ssh` reads it (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"): plain and
 * `[host]:port` patterns, comma lists, `*`/`?` wildcards, `!` negations, hashed `|1|salt|hmac` entries,
 * `@revoked` markers. `@cert-authority` lines are skipped: ssh2 never offers certificate host keys.
 * Pure, apart from `readKnownHosts` and `appendKnownHost`.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { accessSync, appendFileSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KnownHostEntry {
  readonly marker?: '@revoked' | '@cert-authority';
  /** The host field as written: `a,b,[c]:2222`, `10.0.*,!10.0.0.9`, or `|1|salt|hmac`. */
  readonly patterns: string;
  readonly keyType: string;
  /** The key blob, base64. */
  readonly key: string;
  /** 1-based line number, for messages. */
  readonly line: number;
}

export type Verdict =
  | { readonly status: 'match'; readonly line: number }
  | { readonly status: 'unknown' }
  /**
   * The host is known with other keys. `changed`: another key of the same type (what ssh calls
   * "REMOTE HOST IDENTIFICATION HAS CHANGED"); `other-type`: only keys of other types are known, which
   * Baton treats as a change too (it asks for the known types first, see `hostKeyAlgorithms`).
   */
  | {
      readonly status: 'mismatch';
      readonly line: number;
      readonly reason: 'changed' | 'other-type';
      readonly knownTypes: readonly string[];
    }
  | { readonly status: 'revoked'; readonly line: number };

const MARKERS = new Set(['@revoked', '@cert-authority']);

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      // ssh ignores lines with a marker it does not know.
      if (!MARKERS.has(m)) return;
      marker = m as KnownHostEntry['marker'];
    }
    const [patterns, keyType, key] = fields;
    if (!patterns || !keyType || !key) return;
    entries.push({ ...(marker && { marker }), patterns, keyType, key, line: i + 1 });
  });
  return entries;
}

/** The entries of a known_hosts file; a missing file has none. */
export function readKnownHosts(file: string): KnownHostEntry[] {
  return existsSync(file) ? parseKnownHosts(readFileSync(file, 'utf8')) : [];
}

/** The name `ssh` looks a host up by: `host`, or `[host]:port` off port 22 (lower case, as ssh does). */
export const hostKeyName = (host: string, port: number): string => {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
};

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'is',
  );
  return re.test(name);
}

/** Whether an entry's host field names `name` (OpenSSH semantics: a positive match and no negated one). */
export function entryMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    return hashHostName(Buffer.from(salt, 'base64'), name) === hash;
  }
  let matched = false;
  for (const p of patterns.split(',')) {
    if (!p) continue;
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

const hashHostName = (salt: Buffer, name: string) => createHmac('sha1', salt).update(name).digest('base64');

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new Error('malformed SSH public key blob');
  const length = blob.readUInt32BE(0);
  if (4 + length > blob.length) throw new Error('malformed SSH public key blob');
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** OpenSSH's fingerprint, as `ssh-keygen -lf` prints it: `SHA256:` and the unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The entries (other than `@cert-authority`) whose host field names `host`:`port`. */
function entriesFor(entries: readonly KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const name = hostKeyName(host, port);
  return entries.filter((e) => e.marker !== '@cert-authority' && entryMatches(e.patterns, name));
}

/** What known_hosts says about the key `host`:`port` presented (its raw blob, as ssh2's hostVerifier gets it). */
export function lookup(entries: readonly KnownHostEntry[], host: string, port: number, blob: Buffer): Verdict {
  const type = keyTypeOf(blob);
  const key = blob.toString('base64');
  const relevant = entriesFor(entries, host, port);
  const revoked = relevant.find((e) => e.marker === '@revoked' && e.key === key);
  if (revoked) return { status: 'revoked', line: revoked.line };
  const keys = relevant.filter((e) => !e.marker);
  const same = keys.find((e) => e.keyType === type && e.key === key);
  if (same) return { status: 'match', line: same.line };
  if (!keys.length) return { status: 'unknown' };
  const knownTypes = [...new Set(keys.map((e) => e.keyType))];
  const changed = keys.find((e) => e.keyType === type);
  return changed
    ? { status: 'mismatch', line: changed.line, reason: 'changed', knownTypes }
    : { status: 'mismatch', line: keys[0]!.line, reason: 'other-type', knownTypes };
}

/** The former name of `lookup`. */
export const verifyHostKey = lookup;

/** The key types known_hosts holds (unrevoked) for `host`:`port`, in file order. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  return [
    ...new Set(
      entriesFor(entries, host, port)
        .filter((e) => !e.marker)
        .map((e) => e.keyType),
    ),
  ];
}

/** ssh2's host key algorithms, in its default order. */
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];
const algorithmsOf = (keyType: string): string[] =>
  keyType === 'ssh-rsa'
    ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
    : keyType === 'ssh-dss' || HOST_KEY_ALGORITHMS.includes(keyType)
      ? [keyType]
      : [];

/**
 * The host key algorithms to offer, the types already known for the host first, as ssh orders them:
 * a host known by its ECDSA key is asked for that key, not for an Ed25519 key nobody recorded.
 */
export function hostKeyAlgorithms(knownTypes: readonly string[]): string[] {
  const first = knownTypes.flatMap(algorithmsOf);
  return [...new Set([...first, ...HOST_KEY_ALGORITHMS])];
}

/**
 * A hashed known_hosts line, as `ssh-keygen -H` writes it (and `[host]:port` hashed off port 22);
 * `keyType` defaults to the type named inside the blob.
 */
/**
 * Why new host keys cannot be recorded in `file`, if they cannot: it must be a regular file this user
 * can write (or create). /dev/null would take every key and forget it: every run would trust any key.
 */
export function knownHostsFileProblem(file: string): string | undefined {
  try {
    const st = statSync(file);
    if (!st.isFile()) return 'is not a regular file';
    accessSync(file, constants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return `cannot be written (${code})`;
    try {
      accessSync(dirname(file), constants.W_OK);
      return undefined;
    } catch {
      return 'does not exist and its directory cannot be written';
    }
  }
}

export function knownHostsLine(host: string, port: number, keyType: string | undefined, blob: Buffer): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${hashHostName(salt, hostKeyName(host, port))} ${keyType ?? keyTypeOf(blob)} ${blob.toString('base64')}`;
}

/** Appends a hashed line for the key (creating the file, mode 0600, if needed). */
export function appendKnownHost(file: string, host: string, port: number, blob: Buffer): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (!text) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(
    file,
    `${text && !text.endsWith('\n') ? '\n' : ''}${knownHostsLine(host, port, keyTypeOf(blob), blob)}\n`,
    { mode: 0o600 },
  );
}
