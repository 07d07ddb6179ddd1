/**
 * Every command Baton sends a host, and every fix command it prints, by its exact text: what a reviewer
 * reads here is byte for byte what the host's shell gets (and, beside it, what progress and errors say).
 * How the scripts behave is tested in a real sh (docker.test.ts, container-replaced.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { enableAlarmsCommand } from '../aws/alarms.ts';
import { resumeCommand } from '../aws/autoscaling.ts';
import { registerCommand } from '../aws/load-balancers.ts';
import { fixCommand } from '../changes/index.ts';
import { describeCommand, renderCommand, type Command } from './command.ts';
import * as docker from './docker.ts';
import { onHostGet } from './http-probe.ts';

const text = (command: Command) => renderCommand(command);
const said = (command: Command) => describeCommand(command);

describe('docker commands, as the host gets them', () => {
  it('plain commands: one quoted word per argument', () => {
    expect(text(docker.dockerPull('registry:5000/app:v2').command)).toBe('docker pull --quiet -- registry:5000/app:v2');
    expect(text(docker.dockerImageIdentity('app:v2'))).toBe(
      "docker image inspect --format '{{.Id}}{{range .RepoDigests}} {{.}}{{end}}' -- app:v2",
    );
    expect(text(docker.dockerInspectContainer('live'))).toBe(
      "docker inspect --type container --format '{{json .}}' live",
    );
    expect(text(docker.dockerRename('live', 'live previous'))).toBe("docker rename live 'live previous'");
    expect(text(docker.dockerRm('live'))).toBe('docker rm live');
    expect(text(docker.dockerRm('live', { force: true }))).toBe('docker rm --force live');
    expect(text(docker.dockerStart("it's"))).toBe("docker start 'it'\\''s'");
    expect(text(docker.dockerStop('live', 9.7))).toBe('docker stop --time 9 live');
    expect(text(docker.dockerLogsTail('live', 20))).toBe('docker logs --tail 20 live');
    expect(text(docker.dockerUpdateRestart('live', 'unless-stopped'))).toBe(
      'docker update --restart unless-stopped live',
    );
  });

  it('a pull with a login: the credentials on stdin, in a config folder that lives for this pull only', () => {
    const { command, stdin } = docker.dockerPull('registry:5001/app:v2', {
      server: 'registry:5001',
      username: 'deployer',
      password: 's3cret',
    });
    expect(text(command)).toBe(
      [
        'set -e',
        'umask 077',
        'tmpfs=; for d in "${XDG_RUNTIME_DIR:-}" /dev/shm; do if [ -n "$d" ] && [ -d "$d" ] && [ -w "$d" ]; then tmpfs=$d; break; fi; done',
        '[ -n "$tmpfs" ] || { echo "no tmpfs to keep the registry login in for the pull (neither \\$XDG_RUNTIME_DIR nor /dev/shm is writable)" >&2; exit 1; }',
        `find "$tmpfs" -maxdepth 1 -name 'baton-login.*' -user "$(id -u)" -mmin +60 -exec rm -rf {} + 2>/dev/null || true`,
        'DOCKER_CONFIG=$(mktemp -d "$tmpfs/baton-login.XXXXXX")',
        'export DOCKER_CONFIG',
        `trap 'rm -rf "$DOCKER_CONFIG"' EXIT`,
        "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM",
        'cat > "$DOCKER_CONFIG/config.json"',
        'docker pull --quiet -- registry:5001/app:v2',
      ].join('\n'),
    );
    expect(said(command)).toBe(
      'docker pull --quiet -- registry:5001/app:v2 (logged in to registry:5001 as deployer, for this pull only)',
    );
    expect(JSON.parse(stdin!)).toEqual({
      auths: { 'registry:5001': { auth: Buffer.from('deployer:s3cret').toString('base64') } },
    });
  });

  const LOCK = [
    'lock="${XDG_RUNTIME_DIR:-$HOME}"/.baton-live.lock',
    `if command -v flock >/dev/null 2>&1; then exec 9>>"$lock" && flock -w 300 9 || { echo 'another command still changes live'" (lock $lock)" >&2; exit 1; }; fi`,
  ];

  it('every change to a container holds its lock on the host; waiting for the lock is a command of its own', () => {
    expect(text(docker.dockerAwaitChanges('live'))).toBe([...LOCK, 'true'].join('\n'));
    expect(said(docker.dockerAwaitChanges('live'))).toBe('wait until no command changes live');
    expect(text(docker.dockerAwaitChanges('my app'))).toContain(`"/'.baton-my app.lock'\n`);
  });

  it('set aside: drop the older candidate, stop, never restart by itself, keep', () => {
    const command = docker.dockerSetAside('live', 'live-previous', 10);
    expect(text(command)).toBe(
      [
        ...LOCK,
        'set -e',
        'docker rm --force live-previous >/dev/null 2>&1 || true',
        'docker stop --time 10 live >/dev/null',
        'docker update --restart no live >/dev/null',
        'docker rename live live-previous',
      ].join('\n'),
    );
    expect(said(command)).toBe(
      'docker stop --time 10 live && docker rename live live-previous (replacing the older live-previous; kept with --restart no)',
    );
  });

  it('swap: the kept one starts before any rename, and the names and restart policies trade after', () => {
    const command = docker.dockerSwapWithPrevious('live', 'live-previous', 10, 'unless-stopped');
    expect(text(command)).toBe(
      [
        ...LOCK,
        'set -e',
        'docker stop --time 10 live >/dev/null',
        'if ! err=$(docker start live-previous 2>&1 >/dev/null); then',
        "  if docker start live >/dev/null 2>&1; then again='live runs again'; else again='live could not be started again either'; fi",
        "  printf '%s\n' 'the kept container live-previous could not start: '\"$err; nothing was renamed, $again\" >&2",
        '  exit 1',
        'fi',
        'docker update --restart no live >/dev/null',
        'docker update --restart unless-stopped live-previous >/dev/null',
        'docker rename live live-swapping',
        'docker rename live-previous live',
        'docker rename live-swapping live-previous',
      ].join('\n'),
    );
    expect(said(command)).toBe(
      'docker stop live && docker start live-previous as live (keeping the stopped one as live-previous; if live-previous cannot start, live starts again)',
    );
  });

  const spec = {
    name: 'live',
    image: 'registry:5000/app:v2',
    ports: ['8080:8080'],
    volumes: ['/data:/data'],
    restart: 'unless-stopped',
    labels: { 'baton.deployer': "o'brien" },
  };
  const RUN =
    "docker run --detach --name live --restart unless-stopped --publish 8080:8080 --volume /data:/data --volume /dev/log:/dev/log --label 'baton.deployer=o'\\''brien'";

  it('run with nothing secret: one command line, /dev/log mounted, the image after --', () => {
    const { command, stdin } = docker.dockerRun({ ...spec, env: {} });
    expect(text(command)).toBe([...LOCK, `${RUN} -- registry:5000/app:v2`].join('\n'));
    expect(said(command)).toBe(`${RUN} -- registry:5000/app:v2`);
    expect(stdin).toBeUndefined();
  });

  it('run with an environment: the variables on stdin, never in the command', () => {
    const { command, stdin } = docker.dockerRun({ ...spec, env: { DB_PASSWORD: 's3cret', MODE: 'prod' } });
    expect(text(command)).toBe([...LOCK, `cat | ${RUN} --env-file /dev/stdin -- registry:5000/app:v2`].join('\n'));
    expect(said(command)).toBe(`${RUN} --env-file <2 variables from stdin> -- registry:5000/app:v2`);
    expect(stdin).toBe('DB_PASSWORD=s3cret\nMODE=prod\n');
  });

  it('run with secret files: written from stdin to a fresh folder on the tmpfs, mounted read-only', () => {
    const { command, stdin } = docker.dockerRun({
      ...spec,
      env: {},
      secretFiles: { '/run/secrets/db': 's3cret' },
      secretFilesDir: '/dev/shm',
    });
    expect(text(command)).toBe(
      [
        ...LOCK,
        'set -e',
        'umask 077',
        '[ -d /dev/shm ] && [ -w /dev/shm ] || { echo "container.secretFilesDir: "/dev/shm" is not a folder this user can write" >&2; exit 1; }',
        'fs=$(stat -f -c %T /dev/shm); [ "$fs" = tmpfs ] || { echo "container.secretFilesDir: "/dev/shm" is not on a tmpfs" >&2; exit 1; }',
        'dir=$(mktemp -d /dev/shm/baton-secrets.XXXXXX)',
        `created=; trap '[ -n "$created" ] || rm -rf "$dir"' EXIT`,
        "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM",
        'IFS= read -r n',
        'i=0; while [ "$i" -lt "$n" ]; do IFS= read -r line; printf %s "$line" | base64 -d > "$dir/$i"; i=$((i+1)); done',
        'chmod 0444 "$dir"/*',
        `${RUN} --label "baton.secrets=$dir" --mount "type=bind,readonly,source=$dir/"0","target=/run/secrets/db -- registry:5000/app:v2 </dev/null`,
        'created=1',
      ].join('\n'),
    );
    expect(said(command)).toBe(`${RUN} <1 secret file(s) mounted read-only from a tmpfs> -- registry:5000/app:v2`);
    expect(stdin).toBe(`1\n${Buffer.from('s3cret').toString('base64')}\n`);
  });

  it('prune secret folders: only the unmounted ones, a few minutes old', () => {
    const command = docker.dockerPruneSecrets('/dev/shm');
    expect(text(command)).toBe(
      [
        'set -e',
        '[ -d /dev/shm ] || exit 0',
        'ids=$(docker ps -aq)',
        `used=$(if [ -n "$ids" ]; then docker inspect --format '{{range .Mounts}} {{.Source}} {{end}}' $ids; fi)`,
        `find /dev/shm -maxdepth 1 -name 'baton-secrets.*' -type d -mmin +10 | while IFS= read -r d; do case " $used " in *" $d/"*) ;; *) rm -rf -- "$d"; echo "$d";; esac; done`,
      ].join('\n'),
    );
    expect(said(command)).toBe('remove the secret folders in /dev/shm no container mounts');
  });
});

describe('the health check on the host', () => {
  it('asks the first HTTP client the host has, with no proxy and no retry, and marks its exit status', () => {
    const command = onHostGet(8080, '/health?full=1', 4500);
    expect(text(command)).toBe(
      [
        'if command -v curl >/dev/null 2>&1; then',
        `  curl -sS -o /dev/null -D - --noproxy '*' --max-time 5 -A baton -- 'http://127.0.0.1:8080/health?full=1' 2>&1`,
        'elif command -v wget >/dev/null 2>&1 && wget --version 2>/dev/null | grep -q "GNU Wget"; then',
        `  wget -S -O /dev/null --no-proxy -t 1 -T 5 -- 'http://127.0.0.1:8080/health?full=1' 2>&1`,
        'elif command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then',
        `  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET %s HTTP/1.0\\r\\nHost: 127.0.0.1:%s\\r\\nUser-Agent: baton\\r\\nConnection: close\\r\\n\\r\\n" "$2" "$1" >&3 && IFS= read -r line <&3 && printf "%s\\n" "$line"' _ 8080 '/health?full=1' 2>&1`,
        'elif command -v busybox >/dev/null 2>&1 && busybox --list | grep -qx wget; then',
        `  busybox wget -q -Y off -O /dev/null -T 5 'http://127.0.0.1:8080/health?full=1' 2>&1 && echo 'baton-probe: 2xx'`,
        'else',
        `  echo 'baton-probe: no http client'; false`,
        'fi',
        'echo baton-probe-exit="$?"',
      ].join('\n'),
    );
    expect(said(command)).toBe(`GET 'http://127.0.0.1:8080/health?full=1' on the host (curl, wget or bash)`);
  });
});

describe('fix commands an operator runs by hand', () => {
  const host = { name: 'web (i-1)', address: '10.0.0.1', instanceId: 'i-1' };
  it('AWS: one quoted word per argument', () => {
    expect(resumeCommand('web asg', ['Launch', 'Terminate'], 'eu-west-1')).toBe(
      "aws autoscaling resume-processes --region eu-west-1 --auto-scaling-group-name 'web asg' --scaling-processes Launch Terminate",
    );
    expect(enableAlarmsCommand(['5xx > 1%', 'latency'], 'eu-west-1')).toBe(
      "aws cloudwatch enable-alarm-actions --region eu-west-1 --alarm-names '5xx > 1%' latency",
    );
    expect(registerCommand('i-1', { kind: 'classic', name: 'web', drainTimeoutMs: 0 }, 'eu-west-1')).toBe(
      'aws elb register-instances-with-load-balancer --region eu-west-1 --load-balancer-name web --instances i-1',
    );
    expect(
      registerCommand(
        'i-1',
        { kind: 'target-group', name: 'api', arn: 'arn:aws:tg/api', port: 8080, drainTimeoutMs: 0 },
        'eu-west-1',
      ),
    ).toBe(
      'aws elbv2 register-targets --region eu-west-1 --target-group-arn arn:aws:tg/api --targets Id=i-1,Port=8080',
    );
  });

  it('a container: the script for the host quoted once more as one argument of ssh', () => {
    const change = {
      kind: 'container-replaced',
      host,
      container: 'live',
      from: 'app:v1',
      to: 'app:v2',
      keptAs: 'live-previous',
      keptId: 'c0ffee',
      restart: 'unless-stopped',
    } as const;
    expect(fixCommand(change, 'eu-west-1')).toBe(
      `ssh 10.0.0.1 'cur=$(docker inspect --format {{.Id}} live 2>/dev/null); case "$cur" in c0ffee*) ;; *) docker rm --force live; docker rename c0ffee live;; esac; docker update --restart unless-stopped live; docker start live'  # if app:v2 is not healthy`,
    );
    expect(fixCommand({ ...change, from: undefined }, 'eu-west-1')).toBe(
      'ssh 10.0.0.1 docker rm --force live  # if app:v2 is not healthy',
    );
  });
});
