/**
 * The docker commands Baton runs on a host, as data. Nothing here runs anything: each function returns
 * a Command (and, for `docker run`, the stdin that carries the environment), so the exact command lines
 * are unit-testable and can be printed by `--check`.
 */
import { op, quote, script, type Command } from './command.ts';

/** A registry login for the pull: the password travels on stdin, never in argv. */
export interface RegistryLogin {
  readonly server: string;
  readonly username: string;
  readonly password: string;
}

/**
 * `docker pull`; `--` ends the options, so an image can never be read as one (the reference is also
 * checked at the edge). With a login, the credentials live only for this one command: `docker login
 * --password-stdin` writes them into a private DOCKER_CONFIG on a tmpfs ($XDG_RUNTIME_DIR, else
 * /dev/shm; never /tmp or the user's ~/.docker), removed when the command ends, however it ends, short
 * of a kill -9 of the shell (and then it is in memory only, gone at reboot).
 */
export function dockerPull(image: string, login?: RegistryLogin): { command: Command; stdin?: string } {
  if (!login) return { command: op('docker', 'pull', '--quiet', '--', image) };
  const text = [
    'set -e',
    'umask 077',
    'tmpfs=',
    'for d in "${XDG_RUNTIME_DIR:-}" /dev/shm; do if [ -n "$d" ] && [ -d "$d" ] && [ -w "$d" ]; then tmpfs=$d; break; fi; done',
    '[ -n "$tmpfs" ] || { echo "no tmpfs to keep the registry login in for the pull (neither \$XDG_RUNTIME_DIR nor /dev/shm is writable)" >&2; exit 1; }',
    'DOCKER_CONFIG=$(mktemp -d "$tmpfs/baton-login.XXXXXX")',
    'export DOCKER_CONFIG',
    `trap 'rm -rf "$DOCKER_CONFIG"' EXIT`,
    "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM",
    `docker login --username ${quote(login.username)} --password-stdin ${quote(login.server)} >/dev/null`,
    `docker pull --quiet -- ${quote(image)}`,
  ].join('\n');
  return { command: script(text, `docker login --username ${quote(login.username)} --password-stdin ${quote(login.server)} && docker pull --quiet -- ${quote(image)}`), stdin: login.password };
}

/** One JSON object: the container's full inspect document. Fails with "No such container" if absent. */
export const dockerInspectContainer = (name: string): Command => op('docker', 'inspect', '--type', 'container', '--format', '{{json .}}', name);

export const dockerRename = (from: string, to: string): Command => op('docker', 'rename', from, to);

export const dockerRm = (name: string, options: { force?: boolean } = {}): Command => op('docker', 'rm', ...(options.force ? ['--force'] : []), name);

export const dockerStart = (name: string): Command => op('docker', 'start', name);

/** How long a command waits for another's hold on the container's lock (a stop takes at most its timeout). */
const LOCK_WAIT_S = 300;

/**
 * Every command that changes a container holds a lock for it on the host (flock, where the host has
 * it) while it runs. A command whose SSH connection dropped goes on running on the host, unseen; what
 * puts the host back first waits for that lock (`dockerAwaitChanges`), so the two never interleave
 * (a restore starting `live` just before the set-aside it undoes renames it away).
 */
function locked(name: string, text: string, describe: string): Command {
  const prelude = [
    `lock="\${XDG_RUNTIME_DIR:-$HOME}"/${quote(`.baton-${name}.lock`)}`,
    `if command -v flock >/dev/null 2>&1; then exec 9>>"$lock" && flock -w ${LOCK_WAIT_S} 9 || { echo "another command still changes ${name} (lock $lock)" >&2; exit 1; }; fi`,
  ].join('\n');
  return script(`${prelude}\n${text}`, describe);
}

/** Waits until no command changing the container (one a dropped connection left running) is still at it. */
export const dockerAwaitChanges = (name: string): Command => locked(name, 'true', `wait until no command changes ${name}`);

export const dockerLogsTail = (name: string, lines: number): Command => op('docker', 'logs', '--tail', String(lines), name);

export interface RunSpec {
  readonly name: string;
  readonly image: string;
  readonly ports: readonly string[];
  readonly volumes: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly restart: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * `docker run -d` for the new container. The environment never appears in argv (where `ps` and the
 * audit log would show it) nor in any file: the docker CLI reads it as an env file from its own stdin
 * (`--env-file /dev/stdin`), which is the SSH channel. Nothing is left on the host if the command, the
 * connection or Baton dies half-way. (Docker itself keeps a container's env: `docker inspect` shows it.)
 */
export function dockerRun(spec: RunSpec): { command: Command; stdin?: string } {
  const volumes = spec.volumes.includes('/dev/log:/dev/log') ? spec.volumes : [...spec.volumes, '/dev/log:/dev/log'];
  const argv = [
    'docker', 'run', '--detach', '--name', spec.name, '--restart', spec.restart,
    ...spec.ports.flatMap((p) => ['--publish', p]),
    ...volumes.flatMap((v) => ['--volume', v]),
    ...Object.entries(spec.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
  ];
  const entries = Object.entries(spec.env);
  const described = `${argv.map(quote).join(' ')}${entries.length ? ` --env-file <${entries.length} variables from stdin>` : ''} -- ${quote(spec.image)}`;
  if (!entries.length) return { command: locked(spec.name, `${argv.map(quote).join(' ')} -- ${quote(spec.image)}`, described) };
  for (const [key, value] of entries) {
    if (/[\r\n\0]/.test(value)) throw new Error(`container.env.${key}: a value may not contain a line break or NUL (docker env files are line-based)`);
  }
  return {
    // Through `cat`: docker's stdin is then a pipe, which /dev/stdin can open (a socket, as some sshd give, cannot).
    command: locked(spec.name, `cat | ${argv.map(quote).join(' ')} --env-file /dev/stdin -- ${quote(spec.image)}`, described),
    stdin: entries.map(([k, v]) => `${k}=${v}\n`).join(''),
  };
}

/**
 * Takes the live container out of the way in one round trip: drops the rollback candidate kept from
 * the previous deploy, stops `name` gracefully, and keeps it as `previous` for rollback.
 */
export function dockerSetAside(name: string, previous: string, seconds: number): Command {
  const [n, p] = [quote(name), quote(previous)];
  return locked(
    name,
    `set -e\ndocker rm --force ${p} >/dev/null 2>&1 || true\ndocker stop --time ${Math.max(0, Math.floor(seconds))} ${n} >/dev/null\ndocker rename ${n} ${p}`,
    `docker stop --time ${seconds} ${n} && docker rename ${n} ${p} (replacing the older ${p})`,
  );
}

/**
 * Swaps the live container with the kept one in one round trip: `name` stops, `previous` starts as
 * `name`, and the stopped one is kept as `previous`. Its own inverse: running it again swaps back.
 */
export function dockerSwapWithPrevious(name: string, previous: string, seconds: number): Command {
  const [n, p, t] = [quote(name), quote(previous), quote(`${name}-swapping`)];
  return locked(
    name,
    `set -e\ndocker stop --time ${Math.max(0, Math.floor(seconds))} ${n} >/dev/null\ndocker rename ${n} ${t}\ndocker rename ${p} ${n}\ndocker start ${n} >/dev/null\ndocker rename ${t} ${p}`,
    `docker stop ${n} && docker start ${p} as ${n} (keeping the stopped one as ${p})`,
  );
}
