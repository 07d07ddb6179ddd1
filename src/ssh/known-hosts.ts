/**
 * OpenSSH known_hosts, as `ssh` reads it: plain and `[host]:port` patterns, comma lists, wildcards,
 * negations, hashed `|1|salt|hmac` entries, `@revoked` markers. Pure, apart from reading and appending.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export interface KnownHostEntry {
  readonly marker?: '@revoked' | '@cert-authority';
  readonly patterns: string;
  readonly keyType: string;
  readonly key: string;
  readonly line: number;
}

export type Verdict =
  | { readonly status: 'match' }
  | { readonly status: 'unknown' }
  | { readonly status: 'mismatch'; readonly line: number }
  | { readonly status: 'revoked'; readonly line: number };

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith('@') ? (fields.shift() as KnownHostEntry['marker']) : undefined;
    const [patterns, keyType, key] = fields;
    if (patterns && keyType && key) entries.push({ marker, patterns, keyType, key, line: i + 1 });
  });
  return entries;
}

export function readKnownHosts(file: string): KnownHostEntry[] {
  return existsSync(file) ? parseKnownHosts(readFileSync(file, 'utf8')) : [];
}

/** The name `ssh` looks a host up by: `host`, or `[host]:port` off port 22. */
export const hostKeyName = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`);

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** Whether an entry's host field names `name` (OpenSSH semantics: any positive match, no negated one). */
export function entryMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOf(blob: Buffer): string {
  const length = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + length).toString();
}

/** OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export function verifyHostKey(entries: readonly KnownHostEntry[], host: string, port: number, blob: Buffer): Verdict {
  const name = hostKeyName(host, port);
  const type = keyTypeOf(blob);
  const key = blob.toString('base64');
  const relevant = entries.filter((e) => e.marker !== '@cert-authority' && entryMatches(e.patterns, name));
  const revoked = relevant.find((e) => e.marker === '@revoked' && e.key === key);
  if (revoked) return { status: 'revoked', line: revoked.line };
  const keys = relevant.filter((e) => !e.marker);
  if (keys.some((e) => e.keyType === type && e.key === key)) return { status: 'match' };
  // Like ssh: a different key of the same type is a changed key; a key of another type is just unknown.
  const changed = keys.find((e) => e.keyType === type);
  return changed ? { status: 'mismatch', line: changed.line } : { status: 'unknown' };
}

/** A hashed known_hosts line, as `ssh-keygen -H` writes it. */
export function knownHostsLine(host: string, port: number, blob: Buffer): string {
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update(hostKeyName(host, port)).digest('base64');
  return `|1|${salt.toString('base64')}|${hash} ${keyTypeOf(blob)} ${blob.toString('base64')}`;
}

export function appendKnownHost(file: string, host: string, port: number, blob: Buffer): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  appendFileSync(file, `${text && !text.endsWith('\n') ? '\n' : ''}${knownHostsLine(host, port, blob)}\n`, { mode: 0o600 });
}
