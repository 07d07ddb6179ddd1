/**
 * Remote commands as data: shell text built by `sh` (./shell.ts), where every value is one quoted word,
 * rendered for the remote shell exactly once. Secrets never belong here: they travel on stdin (see
 * dockerRun).
 */
import { describeShell, renderShell, words, wordsOf, type Shell } from './shell.ts';

export { sh } from './shell.ts';

/** A command for the remote host's shell, and what progress and errors say it is. */
export interface Command {
  /** The text the host's shell runs. */
  readonly shell: Shell;
  /** What logs and errors show, where the text itself is too long to read (a script): built by `sh` too. */
  readonly summary?: Shell;
}

/** A plain command: every element becomes exactly one argument on the remote side. */
export const op = (...argv: (string | number)[]): Command => ({ shell: words(...argv) });

/** A user-supplied argv (a health-check command from the configuration). */
export const custom = (argv: readonly string[]): Command => ({ shell: words(...argv) });

/** A script Baton wrote with `sh`, shown as `summary`. */
export const script = (shell: Shell, summary: Shell): Command => ({ shell, summary });

/** The text sent over the SSH exec channel. */
export const renderCommand = (command: Command): string => renderShell(command.shell);

/** What logs and error messages show for a command (secrets as `***`). */
export const describeCommand = (command: Command): string => describeShell(command.summary ?? command.shell);

/** The arguments of a plain command (`op`, `custom`); undefined for a script. */
export const argvOf = (command: Command): readonly string[] | undefined => wordsOf(command.shell);
