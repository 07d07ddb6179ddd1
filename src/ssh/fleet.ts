/**
 * The SSH transport: one connection to the bastion, and through it a `forwardOut` tunnel and an SSH
 * session per host, all opened in parallel before anything changes. Every host key is verified against
 * known_hosts. Commands run with deadlines, and each connection's concurrent channels stay under sshd's
 * MaxSessions.
 */
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientChannel } from 'ssh2';
import type { SshSettings } from '../config/types.ts';
import { BatonError, HostKeyError, InterruptedError, RemoteCommandError, TimeoutError } from '../errors.ts';
import type { Host } from '../inventory/host.ts';
import { describeCommand, renderCommand, type Command } from '../remote/command.ts';
import { authFor, connect, ConnectError, tunnel, type Auth, type Connection, type Endpoint } from './connection.ts';
import { planRoutes, type Hop } from './route.ts';
import { onHostGet, parseOnHostGet } from '../remote/http-probe.ts';
import type { ExecOptions, ExecResult, FleetConnection, HttpAnswer, RemoteHost } from './remote-host.ts';

export { ConnectError } from './connection.ts';

/** Stored stderr is capped to its end: errors quote the last lines. */
const STDERR_CAP = 64 * 1024;
/** Lines of stderr an error quotes. */
const TAIL_LINES = 20;
/** Bodies beyond this are cut: health endpoints answer with a few bytes. */
const BODY_CAP = 1024 * 1024;
/** How long a killed channel may take to close before its slot is given back anyway. */
const CLOSE_GRACE_MS = 10_000;
/** Retries of a session refused by sshd's MaxSessions (about 10s in all). */
const OPEN_RETRIES = 15;
/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254 §5.1): sshd's answer under `AllowTcpForwarding no`. */
const ADMINISTRATIVELY_PROHIBITED = 1;

/** The host's sshd refuses `direct-tcpip` channels: HTTP checks run on the host instead. */
class ForwardingRefusedError extends BatonError {}

/**
 * Connects to every host (through ssh.bastion when set), in parallel. Resolves once all are up; if any
 * fails, closes the others and rejects: with a HostKeyError (exit code 2) when any host key was refused,
 * else with a ConnectError naming every unreachable host.
 */
export async function connectFleet(config: { readonly ssh: SshSettings; readonly source?: string }, hosts: readonly Host[], options: { onWarning?: (message: string) => void } = {}): Promise<FleetConnection> {
  const { ssh } = config;
  const routes = planRoutes(ssh, hosts);
  for (const w of routes.warnings) options.onWarning?.(w);
  // Each hop's own settings: its known_hosts file, its key (from ~/.ssh/config when Baton was given none).
  const auths = new Map<string, Auth>();
  const settingsOf = (hop: Hop): SshSettings => ({ ...ssh, knownHosts: hop.knownHosts, ...(hop.identityFile && { identityFile: hop.identityFile }) });
  const authOf = (hop: Hop): Auth => {
    const key = hop.identityFile ?? '';
    if (!auths.has(key)) auths.set(key, authFor(settingsOf(hop), hop.identityFile ? 'ssh.config' : config.source));
    return auths.get(key)!;
  };
  const jumps = routes.jumps;
  const last = jumps.at(-1);
  const bastionSettings = last && { host: last.host, port: last.port, user: last.user };
  // The jump hosts' sessions, outermost first; the last one opens the hosts' tunnels.
  let chain: Connection[] = [];
  const opened: SshHost[] = [];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // The hosts first: their sessions run inside the bastion's tunnels; then the hops, innermost first.
      await Promise.all(opened.map((h) => h.connection.end()));
      for (const c of [...chain].reverse()) await c.end();
    })());

  /** The innermost jump host's connection, opened again (hop by hop) if it closed; one attempt shared by every host asking. */
  let reconnecting: Promise<Connection> | undefined;
  const bastionNow = async (): Promise<Connection> => {
    const current = chain.at(-1);
    if (current && !current.closed && chain.every((c) => !c.closed)) return current;
    reconnecting ??= (async () => {
      for (const c of chain) void c.end(0);
      const next: Connection[] = [];
      try {
        for (const [i, hop] of jumps.entries()) {
          const name = i === jumps.length - 1 ? 'bastion' : `jump host ${hop.alias}`;
          const endpoint: Endpoint = { name, label: `${name === 'bastion' ? 'bastion' : name} ${hop.host}:${hop.port}`, host: hop.host, port: hop.port, user: hop.user };
          const previous = next.at(-1);
          next.push(await connect(endpoint, settingsOf(hop), authOf(hop), previous ? await tunnel(previous, endpoint, ssh.connectTimeout) : undefined));
        }
      } catch (error) {
        for (const c of next) void c.end(0);
        throw error;
      }
      chain = next;
      return next.at(-1)!;
    })().finally(() => (reconnecting = undefined));
    return reconnecting;
  };
  const open = async (endpoint: Endpoint, hop: Hop): Promise<Connection> =>
    connect(endpoint, settingsOf(hop), authOf(hop), jumps.length ? await tunnel(await bastionNow(), endpoint, ssh.connectTimeout) : undefined);

  try {
    if (jumps.length && hosts.length) await bastionNow();
    const via = bastionSettings ? ` through bastion ${bastionSettings.host}:${bastionSettings.port}` : '';
    const results = await Promise.allSettled(
      hosts.map(async (host) => {
        const hop = routes.hosts.get(host.name)!;
        const endpoint: Endpoint = {
          name: host.name,
          label: `${host.name} (${hop.host}:${hop.port})${via}`,
          host: hop.host,
          port: hop.port,
          user: hop.user,
          ...(bastionSettings && { via: bastionSettings }),
        };
        const remote = new SshHost(host.name, await open(endpoint, hop), ssh, () => open(endpoint, hop), () => closing !== undefined);
        opened.push(remote);
        return remote;
      }),
    );
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length) throw fleetError(failures);
    const byName = new Map(opened.map((h) => [h.name, h]));
    return {
      host(name) {
        const h = byName.get(name);
        if (!h) throw new BatonError(`no SSH connection to ${name}: it is not among the ${byName.size} hosts connected`);
        return h;
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** One error for all the hosts that failed; host key problems come first, they need the operator. */
function fleetError(failures: readonly Error[]): Error {
  const keys = failures.filter((f): f is HostKeyError => f instanceof HostKeyError);
  if (keys.length === 1) return keys[0]!;
  if (keys.length > 1) return new HostKeyError(`${keys.length} hosts presented keys known_hosts does not vouch for:\n\n${keys.map((k) => k.message).join('\n\n')}`, keys[0]!.host, keys[0]!.fingerprint);
  if (failures.length === 1) return failures[0]!;
  // A bad configuration (no key) fails every host the same way.
  if (failures.every((f) => f.message === failures[0]!.message)) return failures[0]!;
  return new ConnectError(`could not reach ${failures.length} hosts:\n${failures.map((f) => `  ${f.message}`).join('\n')}`);
}

/** Bounds concurrent channels on one connection (sshd's MaxSessions counts them, default 10). */
export class Semaphore {
  private readonly waiting: (() => void)[] = [];
  private free: number;
  constructor(size: number) {
    this.free = Math.max(1, Math.floor(size));
  }

  /** Resolves with the function that gives the slot back (once; later calls do nothing). */
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/** Why an aborted call stopped: the signal's reason when it is one of ours, else an InterruptedError. */
function interrupted(signal: AbortSignal, what: string): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof BatonError) return reason;
  return new InterruptedError(`${what}: interrupted`, { cause: reason });
}

class SshHost implements RemoteHost {
  private readonly channels: Semaphore;
  /** The commands running now, each with how to give up on it. */
  private readonly inFlight = new Set<(error: Error) => void>();
  private reopening: Promise<void> | undefined;
  /** Set once sshd has refused a tunnel: HTTP checks then run on the host. */
  private forwardingRefused = false;
  connection!: Connection;

  constructor(
    readonly name: string,
    connection: Connection,
    private readonly ssh: SshSettings,
    /** Opens a new session to the host (through the bastion, opened again if need be). */
    private readonly reopen: () => Promise<Connection>,
    /** True once the fleet is being closed: no session is opened again then. */
    private readonly isClosing: () => boolean = () => false,
  ) {
    this.channels = new Semaphore(ssh.maxChannels);
    this.attach(connection);
  }

  private attach(connection: Connection): void {
    const previous = this.connection as Connection | undefined;
    this.connection = connection;
    if (previous) void previous.end(0);
    // Errors after the handshake (keepalive timeouts, resets) surface through the calls that fail.
    connection.client.on('error', () => {});
    // A connection that closes (sshd killed, the tunnel or the bastion gone) fails its commands at once,
    // instead of each waiting out its deadline: what they did on the host is unknown.
    // Once per connection, and only while it is the current one: a late 'close' of a session already
    // replaced must not fail the commands running on its successor.
    let fired = false;
    const closed = () => {
      if (fired || this.connection !== connection) return;
      fired = true;
      for (const giveUp of [...this.inFlight]) giveUp(new ConnectError(`${connection.endpoint.label}: the SSH connection closed`));
    };
    connection.client.on('end', closed);
    connection.client.on('close', closed);
  }

  /**
   * A session that closed is opened again, once, for the next command (host keys checked again): so a
   * dropped connection does not strand a host out of service when it could still be put back.
   */
  private ensureOpen(): Promise<void> {
    if (!this.connection.closed) return Promise.resolve();
    this.reopening ??= this.reopen()
      .then((c) => {
        // The fleet was closed while this session opened: end it, or it would keep the process alive.
        if (this.isClosing()) {
          void c.end(0);
          throw new ConnectError(`${c.endpoint.label}: the run is over`);
        }
        this.attach(c);
      })
      .finally(() => (this.reopening = undefined));
    return this.reopening;
  }

  /**
   * Runs `command` (rendered once for the remote shell). Resolves on exit code 0; rejects with
   * RemoteCommandError (the last lines of stderr), TimeoutError at the deadline (counted from when a
   * channel slot is free), or the interruption when `signal` aborts. A command given up on has its channel
   * closed (after a KILL signal, which sshd may ignore without a pty).
   */
  exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const what = describeCommand(command);
    const timeoutMs = options.timeoutMs ?? this.ssh.commandTimeout;
    const { signal } = options;
    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      let stream: ClientChannel | undefined;
      let release: (() => void) | undefined;
      let grace: NodeJS.Timeout | undefined;
      let stderr = '';
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(giveUp);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      /** Closes the channel; its slot comes back when it has closed (or after a grace period). */
      const stop = () => {
        if (!stream || !release) return;
        kill(stream);
        grace ??= setTimeout(release, CLOSE_GRACE_MS).unref();
      };
      const giveUp = (error: Error) => {
        stop();
        settle(() => reject(error));
      };
      let timer: NodeJS.Timeout | undefined;
      this.inFlight.add(giveUp);
      const onAbort = () => giveUp(interrupted(signal!, `${this.name}: \`${what}\``));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });

      void this.channels.acquire().then((rel) => {
        if (settled) return rel(); // interrupted while waiting for a slot
        release = rel;
        // The deadline runs from the start of the command, not from the wait for a slot.
        timer = setTimeout(() => giveUp(new TimeoutError(`${this.name}: \`${what}\` to finish`, timeoutMs, lastLine(stderr))), timeoutMs);
        const cannotRun = (message: string) => {
          rel();
          settle(() => reject(new ConnectError(`${this.connection.endpoint.label}: could not run \`${what}\`: ${message}`)));
        };
        const open = (attempt: number, reopened = false): void => {
          if (settled) return rel();
          if (this.connection.closed) {
            if (reopened) return cannotRun('the SSH connection is closed');
            return void this.ensureOpen().then(
              () => open(attempt, true),
              (error: Error) => cannotRun(`the SSH connection closed, and opening it again failed: ${error.message}`),
            );
          }
          try {
            this.connection.client.exec(renderCommand(command), (error, channel) => {
              if (error) {
                // sshd refuses a session beyond MaxSessions ("open failed"), also for a moment after a
                // channel closed: wait and retry until the deadline.
                if (/open failed/i.test(error.message) && attempt < OPEN_RETRIES) return void setTimeout(open, Math.min(50 * 2 ** attempt, 1_000), attempt + 1);
                return cannotRun(error.message);
              }
              stream = channel;
              // The deadline or the interruption came while the channel was opening.
              if (settled) return stop();
              let stdout = '';
              let exitCode: number | null = null;
              let exitSignal: string | undefined;
              channel.setEncoding('utf8');
              channel.on('data', (chunk: string) => (stdout += chunk));
              channel.stderr.setEncoding('utf8');
              channel.stderr.on('data', (chunk: string) => {
                stderr += chunk;
                if (stderr.length > STDERR_CAP * 2) stderr = stderr.slice(-STDERR_CAP);
              });
              channel.on('exit', (code: number | null, sig?: string) => {
                exitCode = code ?? null;
                exitSignal = sig ?? undefined;
              });
              channel.on('error', (e: Error) => giveUp(new BatonError(`${this.name}: \`${what}\`: ${e.message}`)));
              channel.on('close', (code?: number | null, sig?: string) => {
                clearTimeout(grace);
                rel();
                if (exitCode === null && typeof code === 'number') exitCode = code;
                exitSignal ??= sig ?? undefined;
                if (stderr.length > STDERR_CAP) stderr = stderr.slice(-STDERR_CAP);
                settle(() =>
                  exitCode === 0
                    ? resolve({ stdout, stderr, exitCode: 0 })
                    : reject(new RemoteCommandError(this.name, what, exitCode, tail(stderr || stdout), exitSignal)),
                );
              });
              if (options.stdin !== undefined) channel.end(options.stdin);
              else channel.end();
            });
          } catch (error) {
            cannotRun((error as Error).message);
          }
        };
        open(0);
      });
    });
  }

  /**
   * GET http://127.0.0.1:`port``path` on the host: through a `direct-tcpip` channel of its connection,
   * or, once the host's sshd has refused forwarding (`AllowTcpForwarding no`), with curl or wget run on
   * the host itself. The refusal is learnt on the first request (discovery probes every host before any
   * leaves service) and kept for the run.
   */
  async httpGet(port: number, path: string, timeoutMs: number): Promise<HttpAnswer> {
    const target = `http://127.0.0.1:${port}${path.startsWith('/') ? path : `/${path}`}`;
    if (!this.forwardingRefused) {
      try {
        return { ...(await this.tunnelGet(port, target, timeoutMs)), via: 'tunnel' };
      } catch (error) {
        if (!(error instanceof ForwardingRefusedError)) throw error;
        this.forwardingRefused = true;
      }
    }
    const { stdout } = await this.exec(onHostGet(port, target.slice(`http://127.0.0.1:${port}`.length), timeoutMs), { timeoutMs: timeoutMs + 2_000 });
    try {
      return { ...parseOnHostGet(stdout, target), body: '', via: 'on-host' };
    } catch (error) {
      (error as Error).message = `${this.name}: ${(error as Error).message}`;
      throw error;
    }
  }

  private tunnelGet(port: number, target: string, timeoutMs: number): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let stream: ClientChannel | undefined;
      let release: (() => void) | undefined;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stream?.close();
        release?.();
        fn();
      };
      const fail = (message: string) => settle(() => reject(new BatonError(`${this.name}: GET ${target}: ${message}`)));
      const timer = setTimeout(() => settle(() => reject(new TimeoutError(`${this.name}: GET ${target}`, timeoutMs))), timeoutMs);

      void this.channels.acquire().then(async (rel) => {
        if (settled) return rel();
        release = rel;
        await this.ensureOpen().catch(() => {});
        if (settled) return;
        if (this.connection.closed) return fail('the SSH connection is closed');
        try {
          this.connection.client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (error, channel) => {
            // sshd answers "administratively prohibited" (reason 1) when its configuration refuses forwarding.
            if ((error as (Error & { reason?: number }) | undefined)?.reason === ADMINISTRATIVELY_PROHIBITED) {
              return settle(() => reject(new ForwardingRefusedError(`${this.name}: sshd refuses TCP forwarding (${error!.message})`)));
            }
            if (error) return fail(error.message);
            stream = channel;
            if (settled) return void channel.close();
            channel.on('error', (e: Error) => fail(e.message));
            // Node's own HTTP client over the tunnel: chunked bodies, keep-alive headers and all.
            const req = httpRequest(
              {
                host: '127.0.0.1',
                port,
                path: target.slice(`http://127.0.0.1:${port}`.length),
                method: 'GET',
                headers: { 'user-agent': 'baton', connection: 'close' },
                createConnection: () => channel as unknown as Socket,
              },
              (res) => {
                const chunks: Buffer[] = [];
                let size = 0;
                res.on('data', (b: Buffer) => {
                  if (size < BODY_CAP) chunks.push(b);
                  size += b.length;
                });
                res.on('end', () => settle(() => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, BODY_CAP).toString() })));
                res.on('error', (e) => fail(e.message));
              },
            );
            req.on('error', (e) => fail(e.message));
            req.end();
          });
        } catch (error) {
          fail((error as Error).message);
        }
      });
    });
  }
}

/** Stops a channel: KILL to the command (sshd may ignore it without a pty), then close. */
function kill(channel: ClientChannel): void {
  try {
    channel.signal('KILL');
  } catch {
    // the channel may be gone already
  }
  try {
    channel.close();
  } catch {
    // likewise
  }
}

function tail(text: string, lines = TAIL_LINES): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

function lastLine(text: string): string | undefined {
  return text.trim().split('\n').at(-1) || undefined;
}
