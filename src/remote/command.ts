/**
 * Remote commands as data: an argv that is rendered for the remote shell exactly once, with every
 * argument single-quoted, so no value (an image tag, a label, a path) is ever parsed by the shell.
 * Secrets never belong here: they travel on stdin (see dockerRun).
 */

/** A command for the remote host's shell. `script` is trusted shell text written by Baton itself. */
export type Command =
  | { readonly kind: 'argv'; readonly argv: readonly string[] }
  | { readonly kind: 'script'; readonly script: string; readonly describe: string };

/** A plain command: every element becomes exactly one argument on the remote side. */
export const op = (...argv: string[]): Command => ({ kind: 'argv', argv });

/** A user-supplied argv (a health-check command from the configuration). */
export const custom = (argv: readonly string[]): Command => ({ kind: 'argv', argv: [...argv] });

/** Shell text written by Baton; `describe` is what logs and errors show. */
export const script = (text: string, describe: string): Command => ({ kind: 'script', script: text, describe });

/** POSIX single-quoting: safe for any byte string in sh, bash, dash and busybox ash. */
export function quote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The text sent over the SSH exec channel. */
export function renderCommand(command: Command): string {
  return command.kind === 'argv' ? command.argv.map(quote).join(' ') : command.script;
}

/** What logs and error messages show for a command. */
export function describeCommand(command: Command): string {
  return command.kind === 'argv' ? command.argv.map(quote).join(' ') : command.describe;
}
