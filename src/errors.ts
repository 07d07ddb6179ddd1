/**
 * Baton's error vocabulary. Everything below the CLI throws one of these; the CLI's single error
 * boundary maps them to a message and an exit code. Messages say what failed, where, and what to do next.
 */

/** Exit codes, as documented in the README. */
export const ExitCode = {
  /** The rollout finished: every targeted host runs the new image and is in service. */
  Ok: 0,
  /** The rollout failed and was rolled back: the fleet serves the previous version. */
  RolledBack: 1,
  /** Bad input (configuration, flags, inventory, host keys): nothing on the fleet was changed. */
  BadInput: 2,
  /** Something needs an operator: an undo failed, or a host could not be put back. */
  NeedsOperator: 3,
  /**
   * Another run holds the deploy lock, or a run that did not finish left changes in the journal
   * (`baton recover` / `baton resume`): nothing on the fleet was changed.
   */
  Locked: 4,
  /**
   * The run stopped before it changed anything: the fleet or AWS could not be reached, or a read-only
   * check on them failed. Nothing to undo; try again once they answer.
   */
  Unchanged: 5,
  /**
   * A batch failed and the fleet is mixed on purpose (`rollout.onFailure: stop`): the hosts switched
   * before it run the new image, the others the previous one. The summary prints the commands.
   */
  Mixed: 6,
  /**
   * Every targeted host runs the new image and is in service, but a post-task (run once after the
   * rollout) failed: the rollout stands, nothing was rolled back; the output says which task and why.
   */
  PostTaskFailed: 7,
  /** Interrupted by Ctrl-C or SIGTERM: hosts in flight were finished or put back, guards undone. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class BatonError extends Error {
  readonly exitCode: ExitCode = ExitCode.RolledBack;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Invalid configuration; `path` is the dotted path of the bad value (`deployments.integration.serial`). */
export class ConfigError extends BatonError {
  override readonly exitCode = ExitCode.BadInput;
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly source?: string,
  ) {
    super(`${source ? `${source}: ` : ''}${path ? `${path}: ` : ''}${problem}`);
  }
}

/** Another run holds the deploy lock; the message names it and says what to do. */
export class LockedError extends BatonError {
  override readonly exitCode = ExitCode.Locked;
}

/** The inventory could not be read, or selected no host. */
export class InventoryError extends BatonError {
  override readonly exitCode = ExitCode.BadInput;
}

/** A host presented a key that is unknown, changed or revoked. */
export class HostKeyError extends BatonError {
  override readonly exitCode = ExitCode.BadInput;
  constructor(
    message: string,
    readonly host: string,
    readonly fingerprint: string,
  ) {
    super(message);
  }
}

/** A command on a host exited non-zero, or did not report an exit status. */
export class RemoteCommandError extends BatonError {
  constructor(
    readonly host: string,
    readonly command: string,
    readonly exitCode_: number | null,
    readonly stderrTail: string,
    readonly signal?: string,
  ) {
    const status =
      exitCode_ === null ? `no exit status${signal ? ` (signal ${signal})` : ''}` : `exit code ${exitCode_}`;
    super(`${host}: \`${command}\` failed with ${status}${stderrTail ? `:\n${indent(stderrTail)}` : ''}`);
  }
}

/** A bounded wait ran out; the message says what was being waited for. */
export class TimeoutError extends BatonError {
  constructor(
    readonly waitingFor: string,
    readonly afterMs: number,
    readonly lastSeen?: string,
  ) {
    super(
      `timed out after ${formatMs(afterMs)} waiting for ${waitingFor}${lastSeen ? ` (last seen: ${lastSeen})` : ''}`,
    );
  }
}

/** Something failed before the run changed anything (connect, discovery, a read-only check). */
export class NothingChangedError extends BatonError {
  override readonly exitCode = ExitCode.Unchanged;
}

/**
 * The run cannot prove it still holds its lease on the deploy lock (another run may have taken it
 * over): it changes nothing more on the fleet, undoes nothing, and leaves its journal to that run.
 */
export class LeaseLostError extends BatonError {
  override readonly exitCode = ExitCode.NeedsOperator;
}

/** The run was interrupted by the operator (Ctrl-C, SIGTERM). */
export class InterruptedError extends BatonError {}

export function indent(text: string, prefix = '  '): string {
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
}

/** A wait or an age, in seconds up to a minute, then minutes and seconds: 0.8s, 12s, 1m15s, 2h5m. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m${Math.floor((ms % 60_000) / 1000)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}
