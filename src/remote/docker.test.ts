import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeCommand, op, renderCommand } from './command.ts';
import { dockerAwaitChanges, dockerPruneSecrets, dockerRun, dockerSetAside, dockerSwapWithPrevious } from './docker.ts';
import * as imageCommands from './docker.ts';
import { spawn, spawnSync } from 'node:child_process';

/** Runs a rendered command in a real sh, with a fake `docker` that prints its argv and its env file. */
function runWithFakeDocker(command: ReturnType<typeof dockerRun>) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-docker-'));
  const tmp = join(dir, 'tmp');
  execFileSync('mkdir', [tmp]);
  writeFileSync(
    join(dir, 'docker'),
    `#!/bin/sh\n{ for a in "$@"; do printf '<%s>\\n' "$a"; done\nwhile [ $# -gt 0 ]; do [ "$1" = --env-file ] && cat "$2"; shift; done; } >> "$DOCKER_LOG"\n`,
    { mode: 0o755 },
  );
  const log = join(dir, 'docker.log');
  writeFileSync(log, '');
  execFileSync('sh', ['-c', renderCommand(command.command)], {
    input: command.stdin ?? '',
    env: { PATH: `${dir}:/usr/bin:/bin`, TMPDIR: tmp, DOCKER_LOG: log, HOME: dir },
  });
  return { out: readFileSync(log, 'utf8'), leftInTmp: readdirSync(tmp) };
}

const spec = {
  name: 'live',
  image: 'registry:5000/app:v2',
  ports: ['8080:8080'],
  volumes: ['/data:/data'],
  restart: 'unless-stopped',
  labels: { 'baton.deployer': "o'brien" },
};

describe('docker commands', () => {
  it('quotes every argument once, whatever it holds', () => {
    const { out } = runWithFakeDocker({ command: op('docker', 'x', 'it\'s $HOME `id` "q"') });
    expect(out).toBe(`<x>\n<it's $HOME \`id\` "q">\n`);
  });

  it('runs the new container with /dev/log mounted, ports, volumes, restart policy and labels', () => {
    const { out } = runWithFakeDocker(dockerRun({ ...spec, env: {} }));
    expect(out.split('\n')).toEqual(
      expect.arrayContaining([
        '<run>',
        '<--detach>',
        '<live>',
        '<unless-stopped>',
        '<8080:8080>',
        '</data:/data>',
        '</dev/log:/dev/log>',
        "<baton.deployer=o'brien>",
        '<registry:5000/app:v2>',
      ]),
    );
  });

  it('passes the environment to docker on its stdin, never argv, and writes no file at all', () => {
    const run = dockerRun({ ...spec, env: { DB_PASSWORD: 's3cret value', MODE: 'prod' } });
    expect(renderCommand(run.command)).not.toContain('s3cret');
    expect(describeCommand(run.command)).not.toContain('s3cret');
    const { out, leftInTmp } = runWithFakeDocker(run);
    expect(out).toContain('</dev/stdin>');
    expect(out).toContain('DB_PASSWORD=s3cret value\nMODE=prod\n');
    expect(out).not.toMatch(/<DB_PASSWORD/);
    expect(leftInTmp).toEqual([]);
  });

  it('sets the live container aside in one round trip: drop the old candidate, stop gracefully, keep it', () => {
    const { out } = runWithFakeDocker({ command: dockerSetAside('live', 'live-previous', 5) });
    expect(out).toBe(
      [
        '<rm>',
        '<--force>',
        '<live-previous>',
        '<stop>',
        '<--time>',
        '<5>',
        '<live>',
        '<update>',
        '<--restart>',
        '<no>',
        '<live>',
        '<rename>',
        '<live>',
        '<live-previous>',
        '',
      ].join('\n'),
    );
  });

  it('refuses an env value with a line break', () => {
    expect(() => dockerRun({ ...spec, env: { A: 'x\ny' } })).toThrow(/container.env.A/);
  });

  it('holds a lock on the host while a change runs: what puts the host back waits for it to finish', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-lock-'));
    // A docker whose `stop` takes a while, as a real one does: the set-aside's connection may drop meanwhile.
    writeFileSync(join(dir, 'docker'), `#!/bin/sh\n[ "$1" = stop ] && sleep 0.6\necho "$1" >> "$DOCKER_LOG"\n`, {
      mode: 0o755,
    });
    const log = join(dir, 'log');
    writeFileSync(log, '');
    const env = { PATH: `${dir}:/usr/bin:/bin`, DOCKER_LOG: log, HOME: dir };
    const run = (text: string) =>
      new Promise<void>((resolve) => spawn('sh', ['-c', text], { env, stdio: 'ignore' }).on('exit', () => resolve()));
    const setAside = run(renderCommand(dockerSetAside('live', 'live-previous', 5)));
    await new Promise((r) => setTimeout(r, 200));
    await run(`${renderCommand(dockerAwaitChanges('live'))} && echo awaited >> "$DOCKER_LOG"`);
    await setAside;
    expect(readFileSync(log, 'utf8')).toBe('rm\nstop\nupdate\nrename\nawaited\n');
  });

  it('writes secret files from stdin to a private folder on the tmpfs and mounts each read-only, never in argv', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-secrets-'));
    const shm = mkdtempSync('/dev/shm/baton-test-');
    writeFileSync(
      join(dir, 'docker'),
      `#!/bin/sh\nfor a in "$@"; do printf '<%s>\\n' "$a"; done >> "$DOCKER_LOG"\nwhile [ $# -gt 0 ]; do [ "$1" = --env-file ] && cat "$2" >> "$DOCKER_LOG"; shift; done\n`,
      { mode: 0o755 },
    );
    const log = join(dir, 'log');
    writeFileSync(log, '');
    const cert = '-----BEGIN CERT-----\nline two\n-----END CERT-----\n';
    const run = dockerRun({
      ...spec,
      env: { MODE: 'prod' },
      secretFiles: { '/run/secrets/db': 's3cret pass', '/etc/app/tls.pem': cert },
      secretFilesDir: shm,
    });
    expect(renderCommand(run.command) + describeCommand(run.command)).not.toMatch(/s3cret|CERT/);
    try {
      execFileSync('sh', ['-c', renderCommand(run.command)], {
        input: run.stdin,
        env: { PATH: `${dir}:/usr/bin:/bin`, DOCKER_LOG: log, HOME: dir },
      });
      const out = readFileSync(log, 'utf8');
      const mounts = [...out.matchAll(/<type=bind,readonly,source=([^,>]+),target=([^>]+)>/g)].map((m) => [
        m[2],
        readFileSync(m[1]!, 'utf8'),
        (statSync(m[1]!).mode & 0o777).toString(8),
      ]);
      expect(mounts).toEqual([
        ['/run/secrets/db', 's3cret pass', '444'],
        ['/etc/app/tls.pem', cert, '444'],
      ]);
      expect(out).toContain('MODE=prod\n');
      expect(out).toMatch(/<baton\.secrets=.*baton-secrets\./);
      expect((statSync(readdirSync(shm).map((d) => join(shm, d))[0]!).mode & 0o777).toString(8)).toBe('700');

      // A run that fails leaves no folder behind.
      writeFileSync(join(dir, 'docker'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
      expect(() =>
        execFileSync('sh', ['-c', renderCommand(run.command)], {
          input: run.stdin,
          env: { PATH: `${dir}:/usr/bin:/bin`, HOME: dir },
          stdio: 'ignore',
        }),
      ).toThrow();
      expect(readdirSync(shm)).toHaveLength(1);
    } finally {
      execFileSync('rm', ['-rf', shm]);
    }
  });
});

describe('the prune of secret folders', () => {
  it('keeps every folder a container mounts, whichever mount docker lists first and on whichever line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-prune-'));
    const shm = mkdtempSync('/dev/shm/baton-test-');
    try {
      const folders = ['baton-secrets.live', 'baton-secrets.prev', 'baton-secrets.gone'].map((d) => join(shm, d));
      for (const f of folders) execFileSync('sh', ['-c', `mkdir ${f} && touch ${f}/0 && touch -d '-20 minutes' ${f}`]);
      // docker inspect renders --format once per container, a line each; here each one's secret file is its first mount.
      const mounts = { a: `${folders[0]}/0 /dev/log`, b: `${folders[1]}/0 /dev/log` };
      const inspect =
        'inner=$(printf %s "$3" | sed "s/.*{{range .Mounts}}\\(.*\\){{end}}.*/\\1/"); shift 3; for id; do case $id in a) m="' +
        mounts.a +
        '";; b) m="' +
        mounts.b +
        '";; esac; for s in $m; do printf %s "$inner" | sed "s#{{.Source}}#$s#"; done; echo; done';
      writeFileSync(join(dir, 'docker'), `#!/bin/sh\ncase "$1" in ps) echo a; echo b;; inspect) ${inspect};; esac\n`, {
        mode: 0o755,
      });
      const removed = execFileSync('sh', ['-c', renderCommand(dockerPruneSecrets(shm))], {
        env: { PATH: `${dir}:/usr/bin:/bin`, HOME: dir },
        encoding: 'utf8',
      });
      expect(removed).toBe(`${folders[2]}\n`);
      expect(readdirSync(shm).sort()).toEqual(['baton-secrets.live', 'baton-secrets.prev']);
    } finally {
      execFileSync('rm', ['-rf', shm, dir]);
    }
  });
});

describe('image identity', () => {
  it('asks docker for the image id and its registry digests, the image after --', () => {
    const { dockerImageIdentity } = imageCommands;
    expect(renderCommand(dockerImageIdentity('registry:5000/app:v2'))).toBe(
      "docker image inspect --format '{{.Id}}{{range .RepoDigests}} {{.}}{{end}}' -- registry:5000/app:v2",
    );
  });
});

describe('the swap back to the kept container', () => {
  const swapIn = (failStart: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-swap-'));
    // A docker whose `start` of one container fails, as when its port is taken or a mount is gone.
    writeFileSync(
      join(dir, 'docker'),
      `#!/bin/sh\necho "$*" >> "$DOCKER_LOG"\n[ "$1 $2" = ${JSON.stringify(`start ${failStart}`)} ] && { echo "Error: bind source path does not exist" >&2; exit 1; }\nexit 0\n`,
      { mode: 0o755 },
    );
    const log = join(dir, 'log');
    writeFileSync(log, '');
    const result = spawnSync(
      'sh',
      ['-c', renderCommand(dockerSwapWithPrevious('live', 'live-previous', 5, 'unless-stopped'))],
      { env: { PATH: `${dir}:/usr/bin:/bin`, DOCKER_LOG: log, HOME: dir }, encoding: 'utf8' },
    );
    return { status: result.status, stderr: result.stderr, calls: readFileSync(log, 'utf8').trim().split('\n') };
  };

  it('starts the kept one before any name changes, then trades names and restart policies', () => {
    const { status, calls } = swapIn('none');
    expect(status).toBe(0);
    expect(calls).toEqual([
      'stop --time 5 live',
      'start live-previous',
      'update --restart no live',
      'update --restart unless-stopped live-previous',
      'rename live live-swapping',
      'rename live-previous live',
      'rename live-swapping live-previous',
    ]);
  });

  it('starts the live one again and renames nothing when the kept one cannot start', () => {
    const { status, stderr, calls } = swapIn('live-previous');
    expect(status).toBe(1);
    expect(calls).toEqual(['stop --time 5 live', 'start live-previous', 'start live']);
    expect(stderr).toContain(
      'the kept container live-previous could not start: Error: bind source path does not exist; nothing was renamed, live runs again',
    );
  });
});
