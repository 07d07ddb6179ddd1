/**
 * One host's SSH session: commands with deadlines and interruption, channels kept under sshd's
 * MaxSessions, HTTP to the host through a tunnel (or with curl, wget or bash on it when sshd refuses
 * forwarding), and the session opened again, once, when it closed under a command.
 */
import type { ClientChannel } from 'ssh2';
import type { SshSettings } from '../config/types.ts';
import { BatonError, RemoteCommandError, TimeoutError } from '../errors.ts';
import { describeCommand, renderCommand, type Command } from '../remote/command.ts';
import { onHostGet, parseOnHostGet } from '../remote/http-probe.ts';
import { ConnectError, type Connection } from './connection.ts';
import type { ExecOptions, ExecResult, HttpAnswer, RemoteHost } from '../remote/host.ts';
import { Semaphore } from './semaphore.ts';
import { getOver } from './tunnel-http.ts';
import { interrupted, kill, lastLine, tail } from './channel.ts';

/** Stored stderr is capped to its end: errors quote the last lines. */
const STDERR_CAP = 64 * 1024;
/** How long a killed channel may take to close before its slot is given back anyway. */
const CLOSE_GRACE_MS = 10_000;
/** Retries of a session refused by sshd's MaxSessions (about 10s in all). */
const OPEN_RETRIES = 15;
/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254 §5.1): sshd's answer under `AllowTcpForwarding no`. */
const ADMINISTRATIVELY_PROHIBITED = 1;

/** The host's sshd refuses `direct-tcpip` channels: HTTP checks run on the host instead. */
class ForwardingRefusedError extends BatonError {}

export class HostSession implements RemoteHost {
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
        timer = setTimeout(
          () => giveUp(new TimeoutError(`${this.name}: \`${what}\` to finish`, timeoutMs, lastLine(stderr))),
          timeoutMs,
        );
        const cannotRun = (message: string) => {
          rel();
          settle(() =>
            reject(new ConnectError(`${this.connection.endpoint.label}: could not run \`${what}\`: ${message}`)),
          );
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
                if (/open failed/i.test(error.message) && attempt < OPEN_RETRIES)
                  return void setTimeout(open, Math.min(50 * 2 ** attempt, 1_000), attempt + 1);
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
