/**
 * The sandbox fleet: everything real that a rolling deploy touches, on the local Docker engine.
 *
 *   127.0.0.1 ──ssh──▶ bastion ──(private network)──▶ app-1..N  (sshd, dockerd, syslogd on /dev/log)
 *   127.0.0.1 ──http─▶ lb (HAProxy, runtime API) ────▶ app-N:8080
 *   127.0.0.1 ──push─▶ registry (Debian's docker-registry) ◀── pulled by every app host
 *
 * In a fleet of two or more, the last app host is hardened as production hosts often are: its sshd
 * refuses TCP forwarding (`AllowTcpForwarding no`), so nothing can be tunnelled to its ports.
 * App hosts sit on an internal network only: the bastion is the one way in, as in a VPC. Every container
 * and network carries the label `baton.fleet=<id>`, so `stopFleet` removes exactly what `startFleet` made.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, dockerBin, dockerExec, dockerInDockerFlags } from './docker.ts';
import { ensureAppImages, ensureBaseImage, type AppVariant } from './images.ts';
import { haproxyConfig, waitForServersUp } from './lb.ts';
import { knownHostsFor } from './known-hosts.ts';
import { fleetRoot, sweepStaleFleets } from './lifecycle.ts';
import { machineSnapshot } from './machine.ts';

export interface FleetHost {
  readonly name: string;
  readonly instanceId: string;
  readonly privateIp: string;
  readonly container: string;
  /** False for the hardened host: its sshd has `AllowTcpForwarding no`, as many production app hosts do. */
  readonly tcpForwarding: boolean;
}

export interface Fleet {
  readonly id: string;
  /** Where the fleet's files live: SSH key, known_hosts, HAProxy config, fleet.json. */
  readonly dir: string;
  readonly bastion: { readonly host: string; readonly port: number; readonly user: string };
  readonly hosts: readonly FleetHost[];
  readonly sshKeyFile: string;
  readonly knownHostsFile: string;
  /** `registry:5000/baton/app`, as app hosts pull it; append `:v2` etc. */
  readonly appRepository: string;
  /**
   * The same images behind a login: `registry:5001/baton/app`. `username`/`password` log in; so do
   * user `AWS` and `ecrPassword`, which the AWS emulator's ECR hands out as its token.
   */
  readonly privateRegistry: {
    readonly server: string;
    readonly appRepository: string;
    readonly username: string;
    readonly password: string;
    readonly ecrPassword: string;
  };
  readonly registryPushUrl: string;
  readonly lb: {
    /** The classic ELB's listener, through HAProxy. */
    readonly elbUrl: string;
    /** The ELBv2 target group's listener, through HAProxy. */
    readonly targetGroupUrl: string;
    readonly runtimeApi: { readonly host: string; readonly port: number };
  };
}

export interface FleetOptions {
  /** App hosts, 1 to 16 (default 3). */
  hosts?: number;
  /** The image every host runs as `live` at start (default v1). */
  initial?: AppVariant;
  /** Remove the fleet automatically once this process has died (tests); CLI fleets stay until `down`. */
  ephemeral?: boolean;
  log?: (line: string) => void;
  /** Where the start writes its phases, timed: a caller that gives up on it can say how far it got. */
  phases?: string[];
}

/** A start slower than this says where its time went. */
const SLOW_START_MS = 60_000;

const REGISTRY_ALIAS = 'registry:5000';
const PRIVATE_REGISTRY_ALIAS = 'registry:5001';
const roles = join(import.meta.dirname, 'image');

export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const count = options.hosts ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 16)
    throw new Error(`hosts: ${count} is not a whole number from 1 to 16`);
  const started = Date.now();
  const phases = options.phases ?? [];
  const log = (line: string) => {
    phases.push(`${((Date.now() - started) / 1000).toFixed(1)} s ${line}`);
    options.log?.(line);
  };
  await sweepStaleFleets(log);
  const id = `f${randomBytes(3).toString('hex')}`;
  const dir = join(fleetRoot, id);
  mkdirSync(dir, { recursive: true });
  const label = [
    '--label',
    `baton.fleet=${id}`,
    '--label',
    `baton.fleet.owner=${options.ephemeral ? process.pid : 'cli'}`,
  ];
  const name = (role: string) => `baton-${id}-${role}`;
  const made: string[] = [];
  try {
    const sshKeyFile = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `baton-sandbox-${id}`, '-f', sshKeyFile]);
    const authorizedKeys = readFileSync(`${sshKeyFile}.pub`, 'utf8').trim();
    const [base, apps] = await Promise.all([ensureBaseImage(log), ensureAppImages(log)]);
    const privateRegistry = {
      server: PRIVATE_REGISTRY_ALIAS,
      appRepository: `${PRIVATE_REGISTRY_ALIAS}/baton/app`,
      username: 'deployer',
      password: randomBytes(12).toString('hex'),
      ecrPassword: randomBytes(24).toString('base64url'),
    };
    const htpasswd = [
      `${privateRegistry.username}:${bcrypt(privateRegistry.password)}`,
      `AWS:${bcrypt(privateRegistry.ecrPassword)}`,
    ].join('\n');

    const privateNet = name('private');
    const edgeNet = name('edge');
    await docker(['network', 'create', '--internal', ...label, privateNet]);
    await docker(['network', 'create', ...label, edgeNet]);
    log('networks created');

    const common = [...label, '-v', `${roles}:/fleet:ro`, '-e', `AUTHORIZED_KEYS=${authorizedKeys}`];
    const run = async (role: string, args: string[], script: string, networks: string[]) => {
      const [first, ...rest] = networks;
      await docker([
        'run',
        '-d',
        '--name',
        name(role),
        '--hostname',
        role,
        '--network',
        first!,
        '--network-alias',
        role,
        ...common,
        ...args,
        base,
        script,
      ]);
      made.push(name(role));
      for (const net of rest) await docker(['network', 'connect', '--alias', role, net, name(role)]);
    };
    const hostNames = Array.from({ length: count }, (_, i) => `app-${i + 1}`);
    const hardened = (host: string) => count >= 2 && host === hostNames.at(-1);
    log(`starting bastion, registry and ${count} app hosts`);
    await Promise.all([
      run('bastion', ['-p', '127.0.0.1::22'], '/fleet/roles/bastion.sh', [edgeNet, privateNet]),
      run('registry', ['-p', '127.0.0.1::5000', '-e', `PRIVATE_HTPASSWD=${htpasswd}`], '/fleet/roles/registry.sh', [
        edgeNet,
        privateNet,
      ]),
      ...hostNames.map((host) =>
        run(
          host,
          [
            ...dockerInDockerFlags(),
            // The host's images and containers in memory: nothing of a test host needs to outlive
            // it, and its dockerd's writes (layers, containerd's metadata, logs) stay off the disk.
            '--tmpfs',
            '/var/lib/docker:rw,exec,dev,suid,size=1g',
            // Syslog (a line per request under load) and dockerd's log, likewise.
            '--tmpfs',
            '/var/log:rw,size=64m',
            '-e',
            `REGISTRY=${REGISTRY_ALIAS}`,
            '-e',
            `PRIVATE_REGISTRY=${PRIVATE_REGISTRY_ALIAS}`,
            ...(hardened(host) ? ['-e', 'ALLOW_TCP_FORWARDING=no'] : []),
          ],
          '/fleet/roles/host.sh',
          [privateNet],
        ),
      ),
    ]);
    log('containers created');
    const hosts: FleetHost[] = await Promise.all(
      hostNames.map(async (host, i) => ({
        name: host,
        instanceId: instanceIdFor(id, i),
        privateIp: await privateIp(name(host), privateNet),
        container: name(host),
        tcpForwarding: !hardened(host),
      })),
    );
    // App hosts take the longest (each boots a dockerd): fill the registry and start the LB meanwhile.
    const registryPushUrl = `127.0.0.1:${await publishedPort(name('registry'), 5000)}`;
    const pushed = (async () => {
      await waitForLog(name('registry'), 'registry ready');
      await waitForRegistry(registryPushUrl);
      log('pushing the app images to the registry');
      await Promise.all(
        Object.entries(apps).map(([variant, tag]) => pushImage(tag, `${registryPushUrl}/baton/app:${variant}`)),
      );
      log('app images pushed');
    })();
    const lbDir = join(dir, 'lb');
    mkdirSync(lbDir);
    writeFileSync(join(lbDir, 'haproxy.cfg'), haproxyConfig(hosts));
    const balanced = (async () => {
      await run(
        'lb',
        ['-v', `${lbDir}:/fleet-lb:ro`, '-p', '127.0.0.1::8080', '-p', '127.0.0.1::8081', '-p', '127.0.0.1::9999'],
        '/fleet/roles/lb.sh',
        [edgeNet, privateNet],
      );
      await waitForLog(name('lb'), 'lb ready');
      log('load balancer ready');
    })();
    const ready = Promise.all(
      ['bastion', ...hostNames].map(async (role) => {
        await waitForLog(name(role), `${role === 'bastion' ? role : 'host'} ready`);
        log(`${role} ready`);
      }),
    );
    await Promise.all([pushed, balanced, ready]);
    log('every container ready');

    const bastionPort = await publishedPort(name('bastion'), 22);
    const knownHostsFile = join(dir, 'known_hosts');
    writeFileSync(knownHostsFile, await knownHostsFor(name('bastion'), `[127.0.0.1]:${bastionPort}`, hosts));
    const [elbPort, tgPort, apiPort] = await Promise.all([8080, 8081, 9999].map((p) => publishedPort(name('lb'), p)));

    const appRepository = `${REGISTRY_ALIAS}/baton/app`;
    const initial = `${appRepository}:${options.initial ?? 'v1'}`;
    log(`running ${initial} as live on every host`);
    await Promise.all(
      hosts.map((h) =>
        dockerExec(
          h.container,
          `docker pull -q ${initial} >/dev/null && docker run -d --name live --restart unless-stopped -p 8080:8080 -v /dev/log:/dev/log --label baton.image=${initial} ${initial}`,
        ),
      ),
    );
    const runtimeApi = { host: '127.0.0.1', port: apiPort! };
    log('waiting for HAProxy to see every host up');
    await waitForServersUp(runtimeApi, hosts.length * 2);

    const fleet: Fleet = {
      id,
      dir,
      bastion: { host: '127.0.0.1', port: bastionPort, user: 'deploy' },
      hosts,
      sshKeyFile,
      knownHostsFile,
      appRepository,
      privateRegistry,
      registryPushUrl,
      lb: { elbUrl: `http://127.0.0.1:${elbPort}`, targetGroupUrl: `http://127.0.0.1:${tgPort}`, runtimeApi },
    };
    writeFileSync(join(dir, 'fleet.json'), JSON.stringify(fleet, null, 2));
    // A slow start says where its time went, so a CI log shows which step to look at.
    if (Date.now() - started > SLOW_START_MS)
      process.stderr.write(
        `fleet ${id}: slow start (${phases.join('; ')}; ready at ${((Date.now() - started) / 1000).toFixed(1)} s; machine: ${machineSnapshot()})\n`,
      );
    return fleet;
  } catch (error) {
    await stopFleet(id).catch(() => {});
    throw new Error(
      `fleet ${id} did not start (${phases.join('; ')}; machine: ${machineSnapshot()}): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** Removes every container, volume and network labelled with this fleet's id, and its files. */
export async function stopFleet(id: string): Promise<void> {
  const containers = (await docker(['ps', '-aq', '--filter', `label=baton.fleet=${id}`])).split('\n').filter(Boolean);
  if (containers.length) await docker(['rm', '-f', '-v', ...containers]);
  const networks = (await docker(['network', 'ls', '-q', '--filter', `label=baton.fleet=${id}`]))
    .split('\n')
    .filter(Boolean);
  if (networks.length) await docker(['network', 'rm', ...networks]);
  rmSync(join(fleetRoot, id), { recursive: true, force: true });
}

/** A bcrypt hash for the registry's htpasswd (cost 4: the registry checks it on every request). */
function bcrypt(password: string): string {
  return execFileSync(
    'python3',
    [
      '-W',
      'ignore',
      '-c',
      'import crypt, sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))',
    ],
    { input: password, encoding: 'utf8' },
  ).trim();
}

/** EC2-shaped instance ids, stable for a fleet: `i-` and 17 hex digits. */
export function instanceIdFor(fleetId: string, index: number): string {
  return `i-0${fleetId.slice(1).padStart(8, '0')}${index.toString(16).padStart(8, '0')}`;
}

async function pushImage(local: string, remote: string): Promise<void> {
  await docker(['tag', local, remote]);
  await docker(['push', '-q', remote]);
  await docker(['rmi', remote]);
}

async function publishedPort(container: string, port: number): Promise<number> {
  const out = await docker(['port', container, `${port}/tcp`]);
  const match = /127\.0\.0\.1:(\d+)/.exec(out);
  if (!match) throw new Error(`${container}: port ${port} is not published on 127.0.0.1 (${out.trim()})`);
  return Number(match[1]);
}

async function privateIp(container: string, network: string): Promise<string> {
  return (
    await docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container])
  ).trim();
}

/**
 * Waits for `text` in the container's output, following it with one `docker logs --follow` (polling
 * `docker logs` would start a docker client ten times a second per container: with three fleets
 * starting at once, enough processes to starve the machine of the CPU the fleets need to start).
 */
function waitForLog(container: string, text: string, timeoutMs = 180_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(dockerBin, ['logs', '--follow', container], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      if (error) reject(error);
      else resolve();
    };
    const fail = async (why: string) => {
      const output = await docker(['logs', '--tail', '20', container], { timeoutMs: 10_000 }).catch((e) => String(e));
      finish(new Error(`${container} did not print "${text}" (${why}):\n${output}`));
    };
    const timer = setTimeout(() => void fail(`not within ${timeoutMs / 1000} s`), timeoutMs);
    const onData = (chunk: Buffer) => {
      // Keep only a tail: enough to find the text across chunk boundaries.
      seen = (seen + chunk.toString()).slice(-4096);
      if (seen.includes(text)) finish();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => finish(error));
    child.on('close', () => void fail('it exited'));
  });
}

async function waitForRegistry(address: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`http://${address}/v2/`)).ok) return;
    } catch {
      // Not up yet: asked again below.
    }
    if (Date.now() > deadline) throw new Error(`the registry at ${address} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
