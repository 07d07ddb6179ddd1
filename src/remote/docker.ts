/**
 * The docker commands Baton runs on a host, as data. Nothing here runs anything: each function returns
 * a Command (and, for `docker run`, the stdin that carries the environment), so the exact command lines
 * are unit-testable and can be printed by `--check`.
 */
import { op, script, type Command } from './command.ts';
import { joinShell, sh, words, type Shell } from './shell.ts';

/** Sets `tmpfs` to a tmpfs the user may write: $XDG_RUNTIME_DIR, else /dev/shm (empty if neither). */
const TMPFS = sh`tmpfs=; for d in "\${XDG_RUNTIME_DIR:-}" /dev/shm; do if [ -n "$d" ] && [ -d "$d" ] && [ -w "$d" ]; then tmpfs=$d; break; fi; done`;

/** A script's lines, as one piece of shell text. */
const lines = (...pieces: Shell[]): Shell => joinShell(pieces, '\n');

/** A script ended by a signal exits with the status a shell would give it, so its EXIT trap runs. */
const TRAP_SIGNALS = sh`trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM`;

/** A registry login for the pull: the password travels on stdin, never in argv. */
export interface RegistryLogin {
  readonly server: string;
  readonly username: string;
  readonly password: string;
}

/**
 * `docker pull`; `--` ends the options, so an image can never be read as one (the reference is also
 * checked at the edge). With a login, the credentials live only for this one command, in a private
 * DOCKER_CONFIG on a tmpfs ($XDG_RUNTIME_DIR, else /dev/shm; never /tmp or the user's ~/.docker): its
 * config.json, with the registry's `auth`, comes on stdin (no `docker login`, which would hand the
 * password to whatever credential helper the host has), and the folder is removed when the command
 * ends. One a killed command left behind is swept by the next pull on the host.
 */
export function dockerPull(image: string, login?: RegistryLogin): { command: Command; stdin?: string } {
  if (!login) return { command: op('docker', 'pull', '--quiet', '--', image) };
  const pull = sh`docker pull --quiet -- ${image}`;
  const text = lines(
    sh`set -e`,
    sh`umask 077`,
    TMPFS,
    sh`[ -n "$tmpfs" ] || { echo "no tmpfs to keep the registry login in for the pull (neither \\$XDG_RUNTIME_DIR nor /dev/shm is writable)" >&2; exit 1; }`,
    // A login a killed pull left (its own trap never ran): no pull lasts this long.
    sh`find "$tmpfs" -maxdepth 1 -name 'baton-login.*' -user "$(id -u)" -mmin +${Math.ceil(MAX_PULL_MINUTES)} -exec rm -rf {} + 2>/dev/null || true`,
    sh`DOCKER_CONFIG=$(mktemp -d "$tmpfs/baton-login.XXXXXX")`,
    sh`export DOCKER_CONFIG`,
    sh`trap 'rm -rf "$DOCKER_CONFIG"' EXIT`,
    TRAP_SIGNALS,
    sh`cat > "$DOCKER_CONFIG/config.json"`,
    pull,
  );
  const auth = Buffer.from(`${login.username}:${login.password}`).toString('base64');
  return {
    command: script(text, sh`${pull} (logged in to ${login.server} as ${login.username}, for this pull only)`),
    stdin: JSON.stringify({ auths: { [login.server]: { auth } } }),
  };
}

/** Longer than any pull may take (timeouts.pull is at most a day, but a day-long pull is no pull). */
const MAX_PULL_MINUTES = 60;

/** The image's id and registry digests, on one line: `sha256:… registry/app@sha256:… …` (no `join`: older docker cannot join them). */
export const dockerImageIdentity = (image: string): Command =>
  op('docker', 'image', 'inspect', '--format', '{{.Id}}{{range .RepoDigests}} {{.}}{{end}}', '--', image);

/** One JSON object: the container's full inspect document. Fails with "No such container" if absent. */
export const dockerInspectContainer = (name: string): Command =>
  op('docker', 'inspect', '--type', 'container', '--format', '{{json .}}', name);

export const dockerRename = (from: string, to: string): Command => op('docker', 'rename', from, to);

export const dockerRm = (name: string, options: { force?: boolean } = {}): Command =>
  op('docker', 'rm', ...(options.force ? ['--force'] : []), name);

export const dockerStart = (name: string): Command => op('docker', 'start', name);

export const dockerStop = (name: string, seconds: number): Command =>
  op('docker', 'stop', '--time', String(Math.max(0, Math.floor(seconds))), name);

/** How long a command waits for another's hold on the container's lock (a stop takes at most its timeout). */
const LOCK_WAIT_S = 300;

/**
 * Every command that changes a container holds a lock for it on the host (flock, where the host has
 * it) while it runs. A command whose SSH connection dropped goes on running on the host, unseen; what
 * puts the host back first waits for that lock (`dockerAwaitChanges`), so the two never interleave
 * (a restore starting `live` just before the set-aside it undoes renames it away).
 */
function locked(name: string, text: Shell, summary: Shell): Command {
  return script(
    lines(
      sh`lock="\${XDG_RUNTIME_DIR:-$HOME}"/${`.baton-${name}.lock`}`,
      sh`if command -v flock >/dev/null 2>&1; then exec 9>>"$lock" && flock -w ${LOCK_WAIT_S} 9 || { echo ${`another command still changes ${name}`}" (lock $lock)" >&2; exit 1; }; fi`,
      text,
    ),
    summary,
  );
}

/** Waits until no command changing the container (one a dropped connection left running) is still at it. */
export const dockerAwaitChanges = (name: string): Command =>
  locked(name, sh`true`, sh`wait until no command changes ${name}`);

export const dockerLogsTail = (name: string, lines: number): Command =>
  op('docker', 'logs', '--tail', String(lines), name);

export interface RunSpec {
  readonly name: string;
  readonly image: string;
  readonly ports: readonly string[];
  readonly volumes: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly restart: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Path in the container → content: files mounted read-only from a tmpfs on the host. */
  readonly secretFiles?: Readonly<Record<string, string>>;
  /** The tmpfs folder on the host the secret files are kept in (container.secretFilesDir). */
  readonly secretFilesDir?: string;
}

/** Secret files live in container.secretFilesDir on the host, one folder per container. */
export const SECRET_DIR_PREFIX = 'baton-secrets.';

/**
 * `docker run -d` for the new container. Neither its environment nor its secret files ever appear in
 * argv (where `ps` and the audit log would show them), and the environment in no file: everything comes
 * on the SSH channel's stdin. Secret files are written to a fresh folder (mode 0700) in
 * container.secretFilesDir, a tmpfs, and mounted read-only (they must outlive the command: the
 * container reads them; a failed run removes them);
 * the environment goes to the docker CLI as an env file on its own stdin (`--env-file /dev/stdin`).
 * (Docker itself keeps a container's env: `docker inspect` shows it. Secret files it does not.)
 */
export function dockerRun(spec: RunSpec): { command: Command; stdin?: string } {
  const volumes = spec.volumes.includes('/dev/log:/dev/log') ? spec.volumes : [...spec.volumes, '/dev/log:/dev/log'];
  const argv = [
    'docker',
    'run',
    '--detach',
    '--name',
    spec.name,
    '--restart',
    spec.restart,
    ...spec.ports.flatMap((p) => ['--publish', p]),
    ...volumes.flatMap((v) => ['--volume', v]),
    ...Object.entries(spec.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
  ];
  const entries = Object.entries(spec.env);
  for (const [key, value] of entries) {
    if (/[\r\n\0]/.test(value))
      throw new Error(
        `container.env.${key}: a value may not contain a line break or NUL (docker env files are line-based)`,
      );
  }
  const files = Object.entries(spec.secretFiles ?? {});
  const image = sh`-- ${spec.image}`;
  const summary = sh`${argv}${files.length ? sh` <${files.length} secret file(s) mounted read-only from a tmpfs>` : sh``}${entries.length ? sh` --env-file <${entries.length} variables from stdin>` : sh``} ${image}`;
  if (!entries.length && !files.length) return { command: locked(spec.name, sh`${argv} ${image}`, summary) };
  const steps: Shell[] = [];
  let stdin = '';
  let run = words(...argv);
  if (files.length) {
    if (!spec.secretFilesDir)
      throw new Error('container.secretFilesDir: set it to a tmpfs folder on the hosts to keep secret files in');
    const base = spec.secretFilesDir;
    // First on stdin: the number of files, then each file's content in base64 on a line of its own.
    steps.push(
      sh`set -e`,
      sh`umask 077`,
      sh`[ -d ${base} ] && [ -w ${base} ] || { echo "container.secretFilesDir: "${base}" is not a folder this user can write" >&2; exit 1; }`,
      sh`fs=$(stat -f -c %T ${base}); [ "$fs" = tmpfs ] || { echo "container.secretFilesDir: "${base}" is not on a tmpfs" >&2; exit 1; }`,
      sh`dir=$(mktemp -d ${`${base}/${SECRET_DIR_PREFIX}XXXXXX`})`,
      // Gone again unless the container that mounts it was created.
      sh`created=; trap '[ -n "$created" ] || rm -rf "$dir"' EXIT`,
      TRAP_SIGNALS,
      sh`IFS= read -r n`,
      sh`i=0; while [ "$i" -lt "$n" ]; do IFS= read -r line; printf %s "$line" | base64 -d > "$dir/$i"; i=$((i+1)); done`,
      // Readable by whatever user the container runs as; the folder keeps other users of the host out.
      sh`chmod 0444 "$dir"/*`,
    );
    stdin += `${files.length}\n${files.map(([, content]) => `${Buffer.from(content).toString('base64')}\n`).join('')}`;
    // --mount, not --volume: a source gone missing (a reboot emptied the tmpfs) fails the start instead of
    // mounting an empty folder in the secret's place.
    const mounts = files.map(
      ([target], i) => sh` --mount "type=bind,readonly,source=$dir/"${i}","${`target=${target}`}`,
    );
    run = sh`${run} --label "baton.secrets=$dir"${joinShell(mounts, '')}`;
  }
  if (entries.length) {
    // Through `cat`: docker's stdin is then a pipe, which /dev/stdin can open (a socket, as some sshd give, cannot).
    steps.push(sh`cat | ${run} --env-file /dev/stdin ${image}`);
    stdin += entries.map(([k, v]) => `${k}=${v}\n`).join('');
  } else steps.push(sh`${run} ${image} </dev/null`);
  if (files.length) steps.push(sh`created=1`);
  return { command: locked(spec.name, lines(...steps), summary), stdin };
}

/**
 * Removes the secret folders in `dir` that no container mounts any more (a replaced container's, one
 * whose run failed), once they are a few minutes old: a folder just made for a `docker run` in flight
 * on this host is not yet mounted. Removes nothing when docker cannot say what is mounted.
 */
export const dockerPruneSecrets = (dir: string): Command =>
  script(
    lines(
      sh`set -e`,
      sh`[ -d ${dir} ] || exit 0`,
      sh`ids=$(docker ps -aq)`,
      // One line per container: each source gets a space before it, so the first of a line matches too.
      sh`used=$(if [ -n "$ids" ]; then docker inspect --format '{{range .Mounts}} {{.Source}} {{end}}' $ids; fi)`,
      sh`find ${dir} -maxdepth 1 -name ${`${SECRET_DIR_PREFIX}*`} -type d -mmin +10 | while IFS= read -r d; do case " $used " in *" $d/"*) ;; *) rm -rf -- "$d"; echo "$d";; esac; done`,
    ),
    sh`remove the secret folders in ${dir} no container mounts`,
  );

const stopSeconds = (seconds: number) => Math.max(0, Math.floor(seconds));

/**
 * Takes the live container out of the way in one round trip: drops the rollback candidate kept from
 * the previous deploy, stops `name` gracefully, and keeps it as `previous` for rollback.
 */
export function dockerSetAside(name: string, previous: string, seconds: number): Command {
  // The kept container never restarts by itself (after a reboot it would race the new one for the port).
  return locked(
    name,
    lines(
      sh`set -e`,
      sh`docker rm --force ${previous} >/dev/null 2>&1 || true`,
      sh`docker stop --time ${stopSeconds(seconds)} ${name} >/dev/null`,
      sh`docker update --restart no ${name} >/dev/null`,
      sh`docker rename ${name} ${previous}`,
    ),
    sh`docker stop --time ${seconds} ${name} && docker rename ${name} ${previous} (replacing the older ${previous}; kept with --restart no)`,
  );
}

/** While two containers trade names, the one leaving `live` is called this (recover and fix commands know it). */
export const swappingName = (name: string) => `${name}-swapping`;

/**
 * Swaps the live container with the kept one in one round trip: `name` stops, `previous` starts as
 * `name`, and the stopped one is kept as `previous`. Its own inverse: running it again swaps back.
 */
export function dockerSwapWithPrevious(name: string, previous: string, seconds: number, restart: string): Command {
  // The kept one starts before any name changes: if it cannot (its port taken, a mount gone), the live
  // one starts again and nothing was renamed. Only then do the two trade names and restart policies.
  return locked(
    name,
    lines(
      sh`set -e`,
      sh`docker stop --time ${stopSeconds(seconds)} ${name} >/dev/null`,
      sh`if ! err=$(docker start ${previous} 2>&1 >/dev/null); then`,
      sh`  if docker start ${name} >/dev/null 2>&1; then again=${`${name} runs again`}; else again=${`${name} could not be started again either`}; fi`,
      sh`  printf '%s\n' ${`the kept container ${previous} could not start: `}"$err; nothing was renamed, $again" >&2`,
      sh`  exit 1`,
      sh`fi`,
      sh`docker update --restart no ${name} >/dev/null`,
      sh`docker update --restart ${restart} ${previous} >/dev/null`,
      sh`docker rename ${name} ${swappingName(name)}`,
      sh`docker rename ${previous} ${name}`,
      sh`docker rename ${swappingName(name)} ${previous}`,
    ),
    sh`docker stop ${name} && docker start ${previous} as ${name} (keeping the stopped one as ${previous}; if ${previous} cannot start, ${name} starts again)`,
  );
}

/** Sets a container's restart policy (the kept one never restarts by itself; the live one as configured). */
export const dockerUpdateRestart = (name: string, policy: string): Command =>
  op('docker', 'update', '--restart', policy, name);
