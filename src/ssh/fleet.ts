/**
 * The SSH transport: one connection to the bastion, and through it a `forwardOut` tunnel and an SSH
 * session per host, all opened in parallel before anything changes. Every host key is verified against
 * known_hosts. Commands run with deadlines, and each connection's concurrent channels stay under sshd's
 * MaxSessions.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { SshSettings } from '../config/types.ts';
import { BatonError, HostKeyError, InterruptedError, RemoteCommandError, TimeoutError } from '../errors.ts';
import type { Host } from '../inventory/host.ts';
import { describeCommand, renderCommand, type Command } from '../remote/command.ts';
import { appendKnownHost, fingerprint, hostKeyName, readKnownHosts, verifyHostKey } from './known-hosts.ts';
import type { ExecOptions, ExecResult, FleetConnection, RemoteHost } from './remote-host.ts';

/** Stored stderr is capped to its end: errors quote the last lines. */
const STDERR_CAP = 64 * 1024;

export class ConnectError extends BatonError {}

interface Endpoint {
  /** What messages call it: `app-2 (10.0.0.12:22) through bastion 127.0.0.1:2222`. */
  readonly label: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
}

export async function connectFleet(config: { readonly ssh: SshSettings }, hosts: readonly Host[]): Promise<FleetConnection> {
  const { ssh } = config;
  const auth = authFor(ssh);
  const opened: Client[] = [];
  const close = async () => {
    for (const c of opened.reverse()) c.end();
  };
  try {
    let bastion: Client | undefined;
    let via = '';
    if (ssh.bastion) {
      const b = ssh.bastion;
      via = ` through bastion ${b.host}:${b.port}`;
      bastion = await connect({ label: `bastion ${b.host}:${b.port}`, host: b.host, port: b.port, user: b.user }, ssh, auth);
      opened.push(bastion);
    }
    const results = await Promise.allSettled(
      hosts.map(async (host) => {
        const port = host.ssh?.port ?? ssh.port;
        const endpoint = { label: `${host.name} (${host.address}:${port})${via}`, host: host.address, port, user: host.ssh?.user ?? ssh.user };
        const sock = bastion ? await tunnel(bastion, endpoint) : undefined;
        const client = await connect(endpoint, ssh, auth, sock);
        opened.push(client);
        return new SshHost(host.name, client, ssh);
      }),
    );
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length) {
      // A host key problem is bad input (exit 2) and is what the operator must see first.
      throw failures.find((f) => f instanceof HostKeyError) ?? (failures.length === 1 ? failures[0] : new ConnectError(`could not reach ${failures.length} hosts:\n${failures.map((f) => `  ${f.message}`).join('\n')}`));
    }
    const byName = new Map(results.map((r) => [(r as PromiseFulfilledResult<SshHost>).value.name, (r as PromiseFulfilledResult<SshHost>).value]));
    return {
      host(name) {
        const h = byName.get(name);
        if (!h) throw new BatonError(`no connection to ${name}`);
        return h;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function authFor(ssh: SshSettings): Pick<ConnectConfig, 'privateKey' | 'agent'> {
  if (ssh.identityFile) {
    try {
      return { privateKey: readFileSync(ssh.identityFile) };
    } catch (error) {
      throw new ConnectError(`ssh.identityFile: cannot read ${ssh.identityFile}: ${(error as Error).message}`);
    }
  }
  if (process.env.SSH_AUTH_SOCK) return { agent: process.env.SSH_AUTH_SOCK };
  throw new ConnectError('no SSH key: set ssh.identityFile in the configuration, or run an ssh-agent (SSH_AUTH_SOCK is not set)');
}

function tunnel(bastion: Client, to: Endpoint): Promise<ClientChannel> {
  return new Promise((resolve, reject) =>
    bastion.forwardOut('127.0.0.1', 0, to.host, to.port, (error, stream) =>
      error ? reject(new ConnectError(`${to.label}: the bastion could not open a tunnel: ${error.message}`)) : resolve(stream),
    ),
  );
}

/** Opens one SSH session, verifying the host key first; a bad key becomes a HostKeyError. */
function connect(to: Endpoint, ssh: SshSettings, auth: Pick<ConnectConfig, 'privateKey' | 'agent'>, sock?: ClientChannel): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let keyProblem: HostKeyError | undefined;
    client.on('ready', () => resolve(client));
    client.on('error', (error) => {
      client.end();
      reject(keyProblem ?? new ConnectError(`${to.label}: ${error.message}`));
    });
    client.connect({
      host: to.host,
      port: to.port,
      username: to.user,
      ...auth,
      ...(sock && { sock }),
      readyTimeout: ssh.connectTimeout,
      keepaliveInterval: ssh.keepaliveInterval,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        keyProblem = checkHostKey(to, key, ssh);
        return !keyProblem;
      },
    });
  });
}

function checkHostKey(to: Endpoint, key: Buffer, ssh: SshSettings): HostKeyError | undefined {
  const verdict = verifyHostKey(readKnownHosts(ssh.knownHosts), to.host, to.port, key);
  const print = fingerprint(key);
  const name = hostKeyName(to.host, to.port);
  const scan = `ssh-keyscan -p ${to.port} ${to.host} >> ${ssh.knownHosts}`;
  switch (verdict.status) {
    case 'match':
      return undefined;
    case 'unknown':
      if (ssh.acceptNewHostKeys) {
        appendKnownHost(ssh.knownHosts, to.host, to.port, key);
        return undefined;
      }
      return new HostKeyError(
        `${to.label}: host key ${print} is not in ${ssh.knownHosts} (as ${name}).\n` +
          `If that fingerprint is right, trust it with \`${scan}\` (then compare \`ssh-keygen -lf ${ssh.knownHosts}\`), or run once with --accept-new-host-keys.`,
        to.label,
        print,
      );
    case 'mismatch':
      return new HostKeyError(
        `${to.label}: HOST KEY CHANGED: it presented ${print}, but ${ssh.knownHosts} line ${verdict.line} holds another key for ${name}.\n` +
          `Someone may be intercepting the connection, or the host was rebuilt. If you know it was rebuilt: \`ssh-keygen -R '${name}' -f ${ssh.knownHosts}\` and then \`${scan}\`.`,
        to.label,
        print,
      );
    case 'revoked':
      return new HostKeyError(`${to.label}: host key ${print} is marked @revoked in ${ssh.knownHosts} line ${verdict.line}`, to.label, print);
  }
}

/** Bounds concurrent channels on one connection. */
class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

class SshHost implements RemoteHost {
  private readonly channels: Semaphore;
  constructor(
    readonly name: string,
    private readonly client: Client,
    private readonly ssh: SshSettings,
  ) {
    this.channels = new Semaphore(ssh.maxChannels);
  }

  exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.ssh.commandTimeout;
    const what = describeCommand(command);
    return this.channels.use(
      () =>
        new Promise<ExecResult>((resolve, reject) => {
          if (options.signal?.aborted) return reject(new InterruptedError(`${this.name}: not running \`${what}\`: interrupted`));
          this.client.exec(renderCommand(command), (error, stream) => {
            if (error) return reject(new BatonError(`${this.name}: could not run \`${what}\`: ${error.message}`));
            let stdout = '';
            let stderr = '';
            let settled = false;
            const finish = (fn: () => void) => {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              options.signal?.removeEventListener('abort', onAbort);
              fn();
            };
            const kill = () => {
              try {
                stream.signal('KILL');
              } catch {
                // the channel may be gone already
              }
              stream.close();
            };
            const timer = setTimeout(() => {
              kill();
              finish(() => reject(new TimeoutError(`${this.name}: \`${what}\` to finish`, timeoutMs, stderr.trim().split('\n').at(-1))));
            }, timeoutMs);
            const onAbort = () => {
              kill();
              finish(() => reject(new InterruptedError(`${this.name}: \`${what}\` aborted by a second interrupt`)));
            };
            options.signal?.addEventListener('abort', onAbort, { once: true });
            stream.setEncoding('utf8');
            stream.on('data', (chunk: string) => (stdout += chunk));
            stream.stderr.setEncoding('utf8');
            stream.stderr.on('data', (chunk: string) => {
              stderr += chunk;
              if (stderr.length > STDERR_CAP * 2) stderr = stderr.slice(-STDERR_CAP);
            });
            stream.on('close', (code: number | null, signal?: string) =>
              finish(() =>
                code === 0
                  ? resolve({ stdout, stderr, exitCode: 0 })
                  : reject(new RemoteCommandError(this.name, what, code ?? null, tail(stderr || stdout), signal ?? undefined)),
              ),
            );
            stream.end(options.stdin ?? undefined);
          });
        }),
    );
  }

  httpGet(port: number, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
    return this.channels.use(
      () =>
        new Promise((resolve, reject) => {
          let channel: ClientChannel | undefined;
          const timer = setTimeout(() => {
            channel?.close();
            reject(new TimeoutError(`${this.name}: GET http://127.0.0.1:${port}${path}`, timeoutMs));
          }, timeoutMs);
          this.client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (error, stream) => {
            channel = stream;
            if (error) {
              clearTimeout(timer);
              return reject(new BatonError(`${this.name}: GET http://127.0.0.1:${port}${path}: ${error.message}`));
            }
            // Node's own HTTP client over the tunnel: chunked bodies, keep-alive headers and all.
            const req = httpRequest(
              { host: '127.0.0.1', port, path, method: 'GET', headers: { 'user-agent': 'baton', connection: 'close' }, createConnection: () => stream as unknown as Socket },
              (res) => {
                const chunks: Buffer[] = [];
                res.on('data', (b: Buffer) => chunks.push(b));
                res.on('end', () => {
                  clearTimeout(timer);
                  resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
                });
                res.on('error', fail);
              },
            );
            const fail = (e: Error) => {
              clearTimeout(timer);
              stream.close();
              reject(new BatonError(`${this.name}: GET http://127.0.0.1:${port}${path}: ${e.message}`));
            };
            req.on('error', fail);
            req.end();
          });
        }),
    );
  }
}

function tail(text: string, lines = 20): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
