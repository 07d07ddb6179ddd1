/**
 * One SSH session (to the bastion, or to a host through a bastion tunnel), with its host key verified
 * against known_hosts before anything else happens. A key nobody recorded is refused unless
 * `acceptNewHostKeys` is set (then it is recorded, hashed, once the handshake has proved the server
 * holds it); a changed or revoked key is always refused.
 */
import { readFileSync } from 'node:fs';
import ssh2, { Client, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import type { SshSettings } from '../config/types.ts';
import { BatonError, ExitCode, ConfigError, HostKeyError, formatMs } from '../errors.ts';
import {
  appendKnownHost,
  fingerprint,
  hostKeyAlgorithms,
  hostKeyName,
  keyTypeOf,
  knownKeyTypes,
  lookup,
  readKnownHosts,
  type KnownHostEntry,
  type Verdict,
} from './known-hosts.ts';

/** A host or the bastion could not be reached, or refused us. */
/** A host or the bastion could not be reached: before a run changes anything, that is exit 5. */
export class ConnectError extends BatonError {
  override readonly exitCode = ExitCode.Unchanged;
}

/** Where a session goes, and what messages call it. */
export interface Endpoint {
  /** The inventory name (`app-2`), or `bastion`. */
  readonly name: string;
  /** `app-2 (10.0.0.12:22) through bastion 127.0.0.1:2222`, `bastion 127.0.0.1:2222`. */
  readonly label: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The bastion this endpoint is reached through, for the `ssh-keyscan` hint. */
  readonly via?: { readonly host: string; readonly port: number; readonly user: string };
}

export type Auth = Pick<ConnectConfig, 'privateKey' | 'agent'>;

/** The key from ssh.identityFile, or else ssh-agent. The key itself never appears in a message. */
export function authFor(ssh: SshSettings, source?: string): Auth {
  if (ssh.identityFile) {
    let privateKey: Buffer;
    try {
      privateKey = readFileSync(ssh.identityFile);
    } catch (error) {
      throw new ConfigError('ssh.identityFile', `cannot read ${ssh.identityFile}: ${(error as Error).message}`, source);
    }
    const parsed = ssh2.utils.parseKey(privateKey);
    if (parsed instanceof Error) {
      const hint = /passphrase/i.test(parsed.message)
        ? ' (a key with a passphrase must come from ssh-agent: unset ssh.identityFile and ssh-add it)'
        : '';
      throw new ConfigError(
        'ssh.identityFile',
        `${ssh.identityFile} is not a usable private key: ${parsed.message}${hint}`,
        source,
      );
    }
    return { privateKey };
  }
  if (process.env.SSH_AUTH_SOCK) return { agent: process.env.SSH_AUTH_SOCK };
  throw new ConfigError(
    'ssh.identityFile',
    'no SSH key: set ssh.identityFile, or run an ssh-agent holding the key (SSH_AUTH_SOCK is not set)',
    source,
  );
}

/** An open session; `end` closes it and waits (briefly) until it is closed. */
export class Connection {
  private isClosed = false;
  private readonly closedPromise: Promise<void>;
  constructor(
    readonly client: Client,
    readonly endpoint: Endpoint,
  ) {
    // Through a tunnel, a host whose sshd died shows as the end of the stream: the session is over
    // then, even when 'close' comes much later (or never).
    this.closedPromise = new Promise((resolve) => {
      const closed = () => {
        this.isClosed = true;
        resolve();
      };
      client.once('end', closed);
      client.once('close', closed);
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  async end(waitMs = 3_000): Promise<void> {
    // Ended from the other side: the socket may still be open on ours.
    if (this.isClosed) return void this.client.destroy();
    this.client.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closedPromise, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    if (!this.isClosed) this.client.destroy();
  }
}

/** A `direct-tcpip` channel from the bastion to `to`, bounded by ssh.connectTimeout. */
export function tunnel(bastion: Connection, to: Endpoint, timeoutMs: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new ConnectError(`${to.label}: the bastion could not open a tunnel within ${formatMs(timeoutMs)}`));
    }, timeoutMs);
    const fail = (message: string) => {
      clearTimeout(timer);
      if (!done) reject(new ConnectError(`${to.label}: the bastion could not open a tunnel: ${message}`));
      done = true;
    };
    if (bastion.closed) return fail('the connection to the bastion is closed');
    try {
      bastion.client.forwardOut('127.0.0.1', 0, to.host, to.port, (error, stream) => {
        if (error) return fail(error.message);
        if (done) return void stream.close(); // gave up already
        clearTimeout(timer);
        done = true;
        resolve(stream);
      });
    } catch (error) {
      fail((error as Error).message);
    }
  });
}

/** Opens a session to `to` (over `sock` when tunnelled), verifying its host key first. */
export function connect(to: Endpoint, ssh: SshSettings, auth: Auth, sock?: ClientChannel): Promise<Connection> {
  return new Promise((resolve, reject) => {
    let entries: KnownHostEntry[];
    try {
      entries = readKnownHosts(ssh.knownHosts);
    } catch (error) {
      sock?.close();
      return reject(new ConnectError(`${to.label}: cannot read ${ssh.knownHosts}: ${(error as Error).message}`));
    }
    const client = new Client();
    const connection = new Connection(client, to);
    /** Why the handshake failed, when we made it fail. */
    let problem: Error | undefined;
    /** A new key to record once the handshake has proved the server holds it. */
    let newKey: Buffer | undefined;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      client.end();
      sock?.close();
      reject(error);
    };
    client.on('ready', () => {
      if (settled) return;
      const refused = newKey && recordNewKey(to, ssh, newKey);
      if (refused) return fail(refused);
      settled = true;
      resolve(connection);
    });
    client.on('error', (error: Error & { level?: string }) => {
      if (problem) return fail(problem);
      if (error.level === 'client-authentication') {
        const key = ssh.identityFile ? `the key ${ssh.identityFile}` : 'the keys of ssh-agent';
        return fail(new ConnectError(`${to.label}: ${to.user} could not log in with ${key}: ${error.message}`));
      }
      fail(new ConnectError(`${to.label}: ${error.message}`));
    });
    client.on('close', () =>
      fail(problem ?? new ConnectError(`${to.label}: the connection closed during the handshake`)),
    );
    try {
      client.connect({
        host: to.host,
        port: to.port,
        username: to.user,
        ...auth,
        ...(sock && { sock }),
        readyTimeout: ssh.connectTimeout,
        keepaliveInterval: ssh.keepaliveInterval,
        keepaliveCountMax: 3,
        // Ask for the key types known_hosts holds for this host first, as ssh does.
        algorithms: {
          serverHostKey: hostKeyAlgorithms(knownKeyTypes(entries, to.host, to.port)) as ServerHostKeyAlgorithm[],
        },
        hostVerifier: (key: Buffer) => {
          try {
            const verdict = lookup(entries, to.host, to.port, key);
            if (verdict.status === 'match') return true;
            if (verdict.status === 'unknown' && ssh.acceptNewHostKeys) {
              newKey = key;
              return true;
            }
            problem = hostKeyError(to, ssh, key, verdict);
          } catch (error) {
            problem = new ConnectError(`${to.label}: cannot check its host key: ${(error as Error).message}`);
          }
          return false;
        },
      });
    } catch (error) {
      fail(new ConnectError(`${to.label}: ${(error as Error).message}`));
    }
  });
}

/**
 * Records a new host key once the handshake proved the server holds it; the error when it cannot be, or
 * when known_hosts, read again, now holds another key for the host (a parallel connection recorded it).
 */
function recordNewKey(to: Endpoint, ssh: SshSettings, key: Buffer): Error | undefined {
  try {
    const verdict = lookup(readKnownHosts(ssh.knownHosts), to.host, to.port, key);
    if (verdict.status === 'unknown') appendKnownHost(ssh.knownHosts, to.host, to.port, key);
    else if (verdict.status !== 'match') return hostKeyError(to, ssh, key, verdict);
    return undefined;
  } catch (error) {
    return new ConnectError(
      `${to.label}: cannot record its host key in ${ssh.knownHosts}: ${(error as Error).message}`,
    );
  }
}

/** The error for a key known_hosts does not vouch for; undefined for a match. */
export function hostKeyError(to: Endpoint, ssh: SshSettings, key: Buffer, verdict: Verdict): HostKeyError | undefined {
  const print = fingerprint(key);
  const type = keyTypeOf(key);
  const name = hostKeyName(to.host, to.port);
  const file = ssh.knownHosts;
  const keyscan = `ssh-keyscan -p ${to.port} ${to.host} >> ${file}`;
  // A host behind the bastion is only reachable from there.
  const scan = to.via ? `ssh -p ${to.via.port} ${to.via.user}@${to.via.host} ${keyscan}` : keyscan;
  switch (verdict.status) {
    case 'match':
      return undefined;
    case 'unknown':
      return new HostKeyError(
        `${to.label}: host key ${print} (${type}) is not in ${file} (as ${name}).\n` +
          `Check that fingerprint with the host's owner, then trust it with \`${scan}\`, ` +
          `or run with --accept-new-host-keys to record the keys of hosts not yet known (a changed key is still refused).`,
        to.name,
        print,
      );
    case 'mismatch': {
      const what =
        verdict.reason === 'changed'
          ? `${file} line ${verdict.line} holds another ${type} key for ${name}`
          : `${file} knows ${name} only by ${verdict.knownTypes.join(', ')} keys (line ${verdict.line}), and it presented a ${type} key`;
      return new HostKeyError(
        `${to.label}: HOST KEY CHANGED: it presented ${print}, but ${what}.\n` +
          `Someone may be intercepting the connection, or the host was rebuilt. Baton never accepts a changed key, even with --accept-new-host-keys. ` +
          `If you know the host was rebuilt: \`ssh-keygen -R '${name}' -f ${file}\`, then \`${scan}\`.`,
        to.name,
        print,
      );
    }
    case 'revoked':
      return new HostKeyError(
        `${to.label}: host key ${print} is marked @revoked in ${file} line ${verdict.line}; it must never be accepted.`,
        to.name,
        print,
      );
  }
}
