/**
 * Secrets on the sandbox: one container env value from HashiCorp Vault (the Vault emulator, read through
 * node-vault-client) and one from an Ansible Vault `!vault` value written by Debian's ansible-vault. The
 * values must reach the container and nothing else: no process's argv on any host (sampled during the
 * run), no file left on a host, no byte of Baton's output under any reporter, the S3 history and lock,
 * or the webhook; also when the new container prints them to its log and fails.
 */
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerBin, dockerExec, liveImage } from '../fleet/docker.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import { startVaultEmulator, type VaultEmulator } from '../vault-emulator/server.ts';
import { runBaton, type BatonRun } from './baton.ts';

const execFileAsync = promisify(execFile);
const DB_PASSWORD = 'vault-db-Pa55word-7f3a';
const API_TOKEN = 'ansible-api-T0ken-91c2';
const TOKEN = 'hvs.sandbox-deployer-token';
const TLS_KEY = '-----BEGIN PRIVATE KEY-----\nc2FuZGJveC10bHMta2V5\n-----END PRIVATE KEY-----';

let sandbox: Sandbox;
let vault: VaultEmulator;
let dir: string;
let webhook: { server: Server; url: string; bodies: string[] };

beforeAll(async () => {
  sandbox = await startSandbox({ hosts: 2 });
  vault = await startVaultEmulator({
    mounts: {
      secret: {
        version: 2,
        secrets: {
          api: [{ password: 'an-older-one' }, { password: DB_PASSWORD }],
          registry: { password: sandbox.fleet.privateRegistry.password },
          tls: { key: TLS_KEY },
        },
      },
    },
    // Renewable, as real tokens are: node-vault-client's renewal timer must not keep Baton alive.
    tokens: {
      [TOKEN]: {
        paths: ['secret/data/api', 'secret/data/registry', 'secret/data/tls'],
        renewable: true,
        ttlSeconds: 3600,
      },
    },
  });
  dir = mkdtempSync(join(tmpdir(), 'baton-secrets-'));
  writeFileSync(join(dir, 'vault-pass'), 'sandbox vault password\n', { mode: 0o600 });
  // The !vault value as a team has it: written by Debian's ansible-vault, not by Baton.
  const { stdout: vaulted } = await execFileAsync('ansible-vault', [
    'encrypt_string',
    '--vault-id',
    `ops@${join(dir, 'vault-pass')}`,
    '--name',
    'API_TOKEN',
    API_TOKEN,
  ]);
  const env = [
    '    DB_PASSWORD: vault:secret/data/api#password',
    ...vaulted
      .trimEnd()
      .split('\n')
      .map((l) => `    ${l}`),
  ].join('\n');
  const config = readFileSync(sandbox.configFile, 'utf8').replace(
    /^container:\n/m,
    `vault:\n  address: ${vault.url}\ncontainer:\n  env:\n${env}\n`,
  );
  writeFileSync(join(dir, 'baton.yaml'), config);
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  webhook = { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, bodies };
});
afterAll(async () => {
  webhook?.server.close();
  await Promise.all([sandbox?.stop(), vault?.close()]);
});

const image = (tag: string) => `${sandbox.fleet.appRepository}:${tag}`;
const env = { VAULT_TOKEN: TOKEN, BATON_WEBHOOK_URL: '' };
const args = (...more: string[]) => [
  '--config',
  join(dir, 'baton.yaml'),
  '--deployment',
  'sandbox',
  '--vault-password-file',
  join(dir, 'vault-pass'),
  ...more,
];

/**
 * Every host's process command lines, sampled until stopped: a secret in argv would show here. One shell
 * loop inside each host reads /proc about ten times a second (a docker exec per sample cost thousands
 * of docker clients a run); it ends when told to, or after 10 minutes whatever happens.
 */
let samplings = 0;
function sampleCommandLines() {
  const stopFile = `/tmp/stop-sampling-${process.pid}-${++samplings}`;
  const loop = [
    'end=$(( $(date +%s) + 600 ))',
    `while [ ! -e ${stopFile} ] && [ $(date +%s) -lt $end ]; do`,
    "  for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done; echo '-- sample'; sleep 0.05",
    'done',
  ].join('\n');
  const seen = new Set<string>();
  const samplers = sandbox.fleet.hosts.map((h) => {
    const child = spawn(dockerBin, ['exec', h.container, 'sh', '-c', loop], { stdio: ['ignore', 'pipe', 'ignore'] });
    let partial = '';
    let samples = 0;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (line === '-- sample') samples++;
        else if (line.trim()) seen.add(line);
      }
    });
    return { host: h, samples: new Promise<number>((resolve) => child.on('close', () => resolve(samples))) };
  });
  return async () => {
    await Promise.all(samplers.map(({ host }) => dockerExec(host.container, `touch ${stopFile}`)));
    // The fewest samples any host took: each host must have been watched throughout.
    const samples = Math.min(...(await Promise.all(samplers.map((s) => s.samples))));
    return { lines: [...seen], samples };
  };
}

/** Files a deploy might leave behind on a host that hold a secret. */
async function filesHolding(secret: string): Promise<string[]> {
  const found = await Promise.all(
    sandbox.fleet.hosts.map(async (h) =>
      (await dockerExec(h.container, `grep -rlsF -- '${secret}' /tmp /dev/shm /home/deploy /run/user /var/tmp || true`))
        .split('\n')
        .filter(Boolean)
        .map((f) => `${h.name}:${f}`),
    ),
  );
  return found.flat();
}

function expectNowhere(run: BatonRun, where: string): void {
  for (const secret of [DB_PASSWORD, API_TOKEN]) {
    expect(run.stdout.includes(secret), `${where} stdout holds a secret`).toBe(false);
    expect(run.stderr.includes(secret), `${where} stderr holds a secret`).toBe(false);
  }
}

describe('secrets from HashiCorp Vault and Ansible Vault', () => {
  it('reach the container and nowhere else: no argv on any host, no file, no output, no S3 object, no webhook body', async () => {
    const stopSampling = sampleCommandLines();
    const run = await runBaton(['deploy', ...args('--image', image('v2'), '--reporter', 'json')], {
      env: { ...env, BATON_WEBHOOK_URL: webhook.url },
    });
    const plain = await runBaton(['deploy', ...args('--image', image('v3'), '--reporter', 'plain')], { env });
    const teamcity = await runBaton(['deploy', ...args('--image', image('v2'), '--reporter', 'teamcity')], { env });
    const sampled = await stopSampling();
    for (const [r, name] of [
      [run, 'json'],
      [plain, 'plain'],
      [teamcity, 'teamcity'],
    ] as const) {
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expectNowhere(r, name);
    }
    for (const h of sandbox.fleet.hosts) {
      const inside = await dockerExec(h.container, 'docker exec live env');
      expect(inside).toContain(`DB_PASSWORD=${DB_PASSWORD}\n`);
      expect(inside).toContain(`API_TOKEN=${API_TOKEN}\n`);
    }
    expect(sampled.samples).toBeGreaterThan(3);
    // The sampling saw Baton's own commands at work on the hosts.
    expect(sampled.lines.filter((l) => /docker (pull|run|stop|inspect)|--env-file/.test(l)).length).toBeGreaterThan(0);
    for (const secret of [DB_PASSWORD, API_TOKEN]) {
      expect(sampled.lines.filter((l) => l.includes(secret))).toEqual([]);
      expect(await filesHolding(secret)).toEqual([]);
    }
    const buckets = JSON.stringify((await sandbox.emulator.state()).buckets);
    expect(buckets).toContain('history');
    expect(webhook.bodies.length).toBeGreaterThan(0);
    for (const secret of [DB_PASSWORD, API_TOKEN]) {
      expect(buckets.includes(secret)).toBe(false);
      expect(webhook.bodies.join('\n').includes(secret)).toBe(false);
    }
    // The token went to Vault in a header only, and the secret was read once per run.
    expect(vault.requests.filter((r) => r.path.startsWith('/v1/secret/data/api')).length).toBe(3);
  });

  it('pull from a registry that needs a login: the password from Vault, or a token from ECR, never in argv or a file', async () => {
    const { privateRegistry } = sandbox.fleet;
    const privateImage = (tag: string) => `${privateRegistry.appRepository}:${tag}`;
    const without = await runBaton(['deploy', ...args('--image', privateImage('v2'), '--reporter', 'plain')], { env });
    expect(without.code, without.stdout + without.stderr).toBe(1);
    expect(without.stdout + without.stderr).toMatch(/could not pull .*(no basic auth credentials|unauthorized)/s);
    for (const h of sandbox.fleet.hosts) expect(await liveImage(h.container)).not.toBe(privateImage('v2'));

    const stopSampling = sampleCommandLines();
    const login = ['-e', 'registry.username=deployer', '-e', 'registry.password=vault:secret/data/registry#password'];
    const withVault = await runBaton(
      ['deploy', ...args('--image', privateImage('v2'), '--reporter', 'plain', ...login)],
      { env },
    );
    expect(withVault.code, withVault.stdout + withVault.stderr).toBe(0);
    await sandbox.emulator.clearCalls();
    const withEcr = await runBaton(
      ['deploy', ...args('--image', privateImage('v3'), '--reporter', 'plain', '-e', 'registry.ecr=true')],
      { env },
    );
    expect(withEcr.code, withEcr.stdout + withEcr.stderr).toBe(0);
    const sampled = await stopSampling();
    expect((await sandbox.emulator.calls()).filter((c) => c.action === 'GetAuthorizationToken')).toHaveLength(1);
    for (const h of sandbox.fleet.hosts) expect(await liveImage(h.container)).toBe(privateImage('v3'));
    for (const secret of [privateRegistry.password, privateRegistry.ecrPassword]) {
      expect(sampled.lines.filter((l) => l.includes(secret))).toEqual([]);
      expect(await filesHolding(secret)).toEqual([]);
      for (const r of [withVault, withEcr]) expect((r.stdout + r.stderr).includes(secret)).toBe(false);
    }
    // The hosts' own docker configuration holds no login either.
    for (const h of sandbox.fleet.hosts)
      expect(await dockerExec(h.container, 'cat /home/deploy/.docker/config.json 2>/dev/null || true')).not.toContain(
        'registry:5001',
      );
  });

  it('can be files instead of env: on a tmpfs, mounted read-only, invisible to docker inspect, removed once no container mounts them', async () => {
    const withFiles = join(dir, 'baton-files.yaml');
    writeFileSync(
      withFiles,
      readFileSync(join(dir, 'baton.yaml'), 'utf8').replace(
        /^container:\n/m,
        'container:\n  secretFilesDir: /dev/shm\n  secretFiles:\n    /run/secrets/tls.key: vault:secret/data/tls#key\n',
      ),
    );
    const filesArgs = (...more: string[]) => [
      '--config',
      withFiles,
      '--deployment',
      'sandbox',
      '--vault-password-file',
      join(dir, 'vault-pass'),
      ...more,
    ];
    const line = TLS_KEY.split('\n')[1]!;
    const stopSampling = sampleCommandLines();
    const run = await runBaton(['deploy', ...filesArgs('--image', image('v2'), '--reporter', 'plain')], { env });
    const sampled = await stopSampling();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(line);
    expect(sampled.lines.filter((l) => l.includes(line))).toEqual([]);
    for (const h of sandbox.fleet.hosts) {
      expect(await dockerExec(h.container, 'docker exec live cat /run/secrets/tls.key')).toBe(TLS_KEY);
      expect(await dockerExec(h.container, 'docker inspect live')).not.toContain(line);
      // On the host, the one copy is the mounted file on the tmpfs, in a folder for the deploy user alone.
      const held = await filesHolding(line);
      expect(
        held.filter((f) => f.startsWith(`${h.name}:`)).map((f) => f.replace(/baton-secrets\.\w+/, 'baton-secrets.X')),
      ).toEqual([`${h.name}:/dev/shm/baton-secrets.X/0`]);
      expect(
        (await dockerExec(h.container, `stat -c '%a %U' /dev/shm/baton-secrets.* /dev/shm/baton-secrets.*/0`)).trim(),
      ).toBe('700 deploy\n444 deploy');
    }
    // Two deploys later no container mounts them: the prune after a deploy removes the folder (once it
    // is old enough not to be one a run in flight has just made).
    for (const tag of ['v3', 'v1'])
      expect(
        (await runBaton(['deploy', ...filesArgs('--image', image(tag), '--reporter', 'plain')], { env })).code,
      ).toBe(0);
    await Promise.all(
      sandbox.fleet.hosts.map((h) => dockerExec(h.container, "touch -d '-20 minutes' /dev/shm/baton-secrets.*")),
    );
    expect(
      (await runBaton(['deploy', ...filesArgs('--image', image('v2'), '--reporter', 'plain')], { env })).code,
    ).toBe(0);
    const left = await filesHolding(line);
    // What is left is the folders of live and live-previous, the two containers that mount one.
    expect(left.length).toBe(sandbox.fleet.hosts.length * 2);
  });

  it('are masked in the log lines of a new container that prints them and fails', async () => {
    const run = await runBaton(
      [
        'deploy',
        ...args(
          '--image',
          image('v3'),
          '--reporter',
          'json',
          '-e',
          'container.env.PRINT_ENV=1',
          '-e',
          'container.env.CRASH=1',
        ),
      ],
      { env },
    );
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expectNowhere(run, 'failed deploy');
    expect(run.stdout).toMatch(/DB_PASSWORD=\*\*\*/);
    expect(run.stdout).toMatch(/API_TOKEN=\*\*\*/);
    const buckets = JSON.stringify((await sandbox.emulator.state()).buckets);
    expect(buckets.includes(DB_PASSWORD) || buckets.includes(API_TOKEN)).toBe(false);
  });

  it('stop before anything changes when Vault refuses, naming the path and the reason, never the token', async () => {
    await sandbox.emulator.clearCalls();
    const denied = await runBaton(['deploy', ...args('--image', image('v2'), '--reporter', 'plain')], {
      env: { VAULT_TOKEN: 'hvs.not-a-token' },
    });
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/vault:secret\/data\/api#password: permission denied/);
    expect(denied.stdout + denied.stderr).not.toContain('hvs.not-a-token');
    const noPassword = await runBaton(
      ['deploy', '--config', join(dir, 'baton.yaml'), '--deployment', 'sandbox', '--image', image('v2')],
      { env },
    );
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toMatch(
      /container\.env\.API_TOKEN: is encrypted with Ansible Vault \(vault id ops\); give its password/,
    );
    vault.seal(true);
    try {
      const sealed = await runBaton(['deploy', ...args('--image', image('v2'))], { env });
      expect(sealed.code).toBe(2);
      expect(sealed.stderr).toMatch(/vault:secret\/data\/api#password: Vault at .* is sealed/);
    } finally {
      vault.seal(false);
    }
    expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
  });
});
