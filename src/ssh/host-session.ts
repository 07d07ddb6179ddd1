/**
 * One host's SSH session: commands with deadlines and interruption, channels kept under sshd's
 * MaxSessions, HTTP to the host through a tunnel (or with curl, wget or bash on it when sshd refuses
 * forwarding), and the session opened again, once, when it closed under a command.
 */
import type { ClientChannel } from 'ssh2';
import type { SshSettings } from '../config/types.ts';
import { BatonError, TimeoutError } from '../errors.ts';
import type { Command } from '../remote/command.ts';
import { onHostGet, parseOnHostGet } from '../remote/http-probe.ts';
import { ConnectError, type Connection } from './connection.ts';
import type { ExecOptions, ExecResult, HttpAnswer, RemoteHost } from '../remote/host.ts';
import { Semaphore } from './semaphore.ts';
import { getOver } from './tunnel-http.ts';
import { runCommand, type SessionForCommands } from './command-run.ts';

/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254 §5.1): sshd's answer under `AllowTcpForwarding no`. */
const ADMINISTRATIVELY_PROHIBITED = 1;

/** The host's sshd refuses `direct-tcpip` channels: HTTP checks run on the host instead. */
class ForwardingRefusedError extends BatonError {}

export class HostSession implements RemoteHost, SessionForCommands {
  readonly channels: Semaphore;
  /** The commands running now, each with how to give up on it. */
  readonly inFlight = new Set<(error: Error) => void>();
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
      for (const giveUp of [...this.inFlight])
        giveUp(new ConnectError(`${connection.endpoint.label}: the SSH connection closed`));
    };
    connection.client.on('end', closed);
    connection.client.on('close', closed);
  }

  /**
   * A session that closed is opened again, once, for the next command (host keys checked again): so a
   * dropped connection does not strand a host out of service when it could still be put back.
   */
  ensureOpen(): Promise<void> {
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
   * channel slot is free), or the interruption when `signal` aborts (see command-run.ts).
   */
  exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    return runCommand(this, command, options, options.timeoutMs ?? this.ssh.commandTimeout);
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
    const { stdout } = await this.exec(onHostGet(port, target.slice(`http://127.0.0.1:${port}`.length), timeoutMs), {
      timeoutMs: timeoutMs + 2_000,
    });
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
      const timer = setTimeout(
        () => settle(() => reject(new TimeoutError(`${this.name}: GET ${target}`, timeoutMs))),
        timeoutMs,
      );

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
              return settle(() =>
                reject(new ForwardingRefusedError(`${this.name}: sshd refuses TCP forwarding (${error!.message})`)),
              );
            }
            if (error) return fail(error.message);
            stream = channel;
            if (settled) return void channel.close();
            getOver(channel, port, target.slice(`http://127.0.0.1:${port}`.length)).then(
              (answer) => settle(() => resolve(answer)),
              (e: Error) => fail(e.message),
            );
          });
        } catch (error) {
          fail((error as Error).message);
        }
      });
    });
  }
}
