/**
 * One command on one host's SSH session, from waiting for a channel to its exit: a deadline counted
 * from when a channel slot is free, interruption by a signal, sshd's MaxSessions refusals retried, the
 * session opened again once if it had closed, and a channel given up on closed (after a KILL signal,
 * which sshd may ignore without a pty). It settles exactly once; everything after that only tidies up.
 */
import type { ClientChannel } from 'ssh2';
import { BatonError, RemoteCommandError, TimeoutError } from '../errors.ts';
import { describeCommand, renderCommand, type Command } from '../remote/command.ts';
import type { ExecOptions, ExecResult } from '../remote/host.ts';
import { interrupted, kill, lastLine, tail } from './channel.ts';
import { ConnectError, type Connection } from './connection.ts';
import type { Semaphore } from './semaphore.ts';

/** Stored stderr is capped to its end: errors quote the last lines. */
const STDERR_CAP = 64 * 1024;
/** How long a killed channel may take to close before its slot is given back anyway. */
const CLOSE_GRACE_MS = 10_000;
/** Retries of a session refused by sshd's MaxSessions (about 10s in all). */
const OPEN_RETRIES = 15;

/** What a command needs of the host's session. */
export interface SessionForCommands {
  readonly name: string;
  /** The current connection: a session opened again replaces it. */
  readonly connection: Connection;
  readonly channels: Semaphore;
  /** The commands running now, each with how to give up on it (a closed connection gives up on all). */
  readonly inFlight: Set<(error: Error) => void>;
  /** Opens the session again if it closed. */
  ensureOpen(): Promise<void>;
}

export function runCommand(
  session: SessionForCommands,
  command: Command,
  options: ExecOptions,
  timeoutMs: number,
): Promise<ExecResult> {
  return new Promise((resolve, reject) =>
    new CommandRun(session, command, options, timeoutMs, resolve, reject).start(),
  );
}

class CommandRun {
  private readonly what: string;
  private settled = false;
  private stream: ClientChannel | undefined;
  /** Gives the channel slot back. */
  private release: (() => void) | undefined;
  private grace: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stderr = '';

  constructor(
    private readonly session: SessionForCommands,
    private readonly command: Command,
    private readonly options: ExecOptions,
    private readonly timeoutMs: number,
    private readonly resolve: (result: ExecResult) => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.what = describeCommand(command);
  }

  start(): void {
    const { signal } = this.options;
    this.session.inFlight.add(this.giveUp);
    if (signal?.aborted) return this.onAbort();
    signal?.addEventListener('abort', this.onAbort, { once: true });
    void this.session.channels.acquire().then((release) => this.inSlot(release));
  }

  private readonly giveUp = (error: Error): void => {
    this.stop();
    this.settle(() => this.reject(error));
  };

  private readonly onAbort = (): void =>
    this.giveUp(interrupted(this.options.signal!, `${this.session.name}: \`${this.what}\``));

  private settle(fn: () => void): void {
    if (this.settled) return;
    this.settled = true;
    this.session.inFlight.delete(this.giveUp);
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    fn();
  }

  /** Closes the channel; its slot comes back when it has closed (or after a grace period). */
  private stop(): void {
    if (!this.stream || !this.release) return;
    kill(this.stream);
    this.grace ??= setTimeout(this.release, CLOSE_GRACE_MS).unref();
  }

  private inSlot(release: () => void): void {
    if (this.settled) return release(); // interrupted while waiting for a slot
    this.release = release;
    // The deadline runs from the start of the command, not from the wait for a slot.
    this.timer = setTimeout(
      () =>
        this.giveUp(
          new TimeoutError(`${this.session.name}: \`${this.what}\` to finish`, this.timeoutMs, lastLine(this.stderr)),
        ),
      this.timeoutMs,
    );
    this.open(0);
  }

  private cannotRun(message: string): void {
    this.release!();
    const label = this.session.connection.endpoint.label;
    this.settle(() => this.reject(new ConnectError(`${label}: could not run \`${this.what}\`: ${message}`)));
  }

  private open(attempt: number, reopened = false): void {
    if (this.settled) return this.release!();
    const { connection } = this.session;
    if (connection.closed) {
      if (reopened) return this.cannotRun('the SSH connection is closed');
      return void this.session.ensureOpen().then(
        () => this.open(attempt, true),
        (error: Error) => this.cannotRun(`the SSH connection closed, and opening it again failed: ${error.message}`),
      );
    }
    try {
      connection.client.exec(renderCommand(this.command), (error, channel) => {
        if (!error) return this.opened(channel);
        // sshd refuses a session beyond MaxSessions ("open failed"), also for a moment after a channel
        // closed: wait and retry until the deadline.
        if (/open failed/i.test(error.message) && attempt < OPEN_RETRIES)
          return void setTimeout(() => this.open(attempt + 1), Math.min(50 * 2 ** attempt, 1_000));
        this.cannotRun(error.message);
      });
    } catch (error) {
      this.cannotRun((error as Error).message);
    }
  }

  private opened(channel: ClientChannel): void {
    this.stream = channel;
    // The deadline or the interruption came while the channel was opening.
    if (this.settled) return this.stop();
    let stdout = '';
    let exitCode: number | null = null;
    let exitSignal: string | undefined;
    channel.setEncoding('utf8');
    channel.on('data', (chunk: string) => (stdout += chunk));
    channel.stderr.setEncoding('utf8');
    channel.stderr.on('data', (chunk: string) => {
      this.stderr += chunk;
      if (this.stderr.length > STDERR_CAP * 2) this.stderr = this.stderr.slice(-STDERR_CAP);
    });
    channel.on('exit', (code: number | null, sig?: string) => {
      exitCode = code ?? null;
      exitSignal = sig ?? undefined;
    });
    channel.on('error', (e: Error) =>
      this.giveUp(new BatonError(`${this.session.name}: \`${this.what}\`: ${e.message}`)),
    );
    channel.on('close', (code?: number | null, sig?: string) => {
      clearTimeout(this.grace);
      this.release!();
      if (exitCode === null && typeof code === 'number') exitCode = code;
      exitSignal ??= sig ?? undefined;
      const stderr = this.stderr.length > STDERR_CAP ? this.stderr.slice(-STDERR_CAP) : this.stderr;
      this.settle(() =>
        exitCode === 0
          ? this.resolve({ stdout, stderr, exitCode: 0 })
          : this.reject(
              new RemoteCommandError(this.session.name, this.what, exitCode, tail(stderr || stdout), exitSignal),
            ),
      );
    });
    if (this.options.stdin !== undefined) channel.end(this.options.stdin);
    else channel.end();
  }
}
