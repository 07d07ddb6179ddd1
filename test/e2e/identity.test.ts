/**
 * Hosts are instances, not names: an Auto Scaling group gives every instance the same Name tag, and
 * each must still be deployed exactly once, with its own instance id in every load balancer call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveImage } from '../fleet/docker.ts';
import { startLoad } from '../fleet/load.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import { runBaton } from './baton.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ hosts: 3, nameTags: ['web', 'web', 'api'] });
});
afterAll(async () => {
  await sandbox?.stop();
});

const image = (tag: string) => `${sandbox.fleet.appRepository}:${tag}`;
const args = (...more: string[]) => ['--config', sandbox.configFile, '--deployment', 'sandbox', ...more];

describe('instances that share a Name tag', () => {
  it('are each deployed exactly once, every call naming its own instance id, under load', async () => {
    const [a, b, c] = sandbox.fleet.hosts;
    const listed = await runBaton(['deploy', ...args('--image', image('v2'), '--list-hosts', '--reporter', 'json')]);
    expect(listed.events.find((e) => e.type === 'run-started')).toMatchObject({
      hosts: ['api', `web (${a!.instanceId})`, `web (${b!.instanceId})`],
    });

    await sandbox.emulator.clearCalls();
    const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 50, maxSeconds: 120 });
    const run = await runBaton(['deploy', ...args('--image', image('v2'), '--reporter', 'json')]);
    const traffic = await load.stop();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
    const finished = run.events
      .filter((e) => e.type === 'host-finished')
      .map((e) => `${(e as { host: string }).host} ${(e as { result: string }).result}`);
    expect(finished.sort()).toEqual([
      'api deployed',
      `web (${a!.instanceId}) deployed`,
      `web (${b!.instanceId}) deployed`,
    ]);
    for (const h of [a!, b!, c!]) expect(await liveImage(h.container)).toBe(image('v2'));
    const calls = await sandbox.emulator.calls();
    const deregistered = calls
      .filter((x) => x.action === 'DeregisterInstancesFromLoadBalancer')
      .map((x) => x.params['Instances.member.1.InstanceId']);
    const registered = calls.filter((x) => x.action === 'RegisterTargets').map((x) => x.params['Targets.member.1.Id']);
    expect(deregistered.sort()).toEqual([a!.instanceId, b!.instanceId, c!.instanceId].sort());
    expect(registered.sort()).toEqual([a!.instanceId, b!.instanceId, c!.instanceId].sort());
  });

  it('are selected together by their shared name, or one by one by instance id', async () => {
    const [a, b] = sandbox.fleet.hosts;
    const hosts = async (pattern: string) =>
      (
        (
          await runBaton([
            'deploy',
            ...args('--image', image('v3'), '--list-hosts', '--reporter', 'json', '--limit', pattern),
          ])
        ).events.find((e) => e.type === 'run-started') as { hosts: string[] }
      ).hosts;
    expect(await hosts('web')).toEqual([`web (${a!.instanceId})`, `web (${b!.instanceId})`]);
    expect(await hosts(b!.instanceId)).toEqual([`web (${b!.instanceId})`]);
    expect(await hosts('api')).toEqual(['api']);

    const one = await runBaton([
      'deploy',
      ...args('--image', image('v3'), '--reporter', 'json', '--limit', b!.instanceId),
    ]);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(await liveImage(a!.container)).toBe(image('v2'));
    expect(await liveImage(b!.container)).toBe(image('v3'));

    const status = JSON.parse((await runBaton(['status', ...args('--json')])).stdout) as {
      host: string;
      instanceId: string;
      image: string;
    }[];
    expect(status.map((r) => `${r.host} ${r.image}`)).toEqual([
      'api ' + image('v2'),
      `web (${a!.instanceId}) ${image('v2')}`,
      `web (${b!.instanceId}) ${image('v3')}`,
    ]);
  });
});

const execFileAsync = promisify(execFile);

describe('the package', () => {
  it('installs from npm pack into a project of its own, whose TypeScript playbook imports from baton and deploys the sandbox', async () => {
    const project = mkdtempSync(join(tmpdir(), 'baton-user-'));
    const root = join(import.meta.dirname, '..', '..');
    // dist is built by the test command already: pack it as it is (prepack would build it again).
    // Never a synchronous child here: the emulator answering the deploy runs in this very process.
    const { stdout: packed } = await execFileAsync(
      'npm',
      ['pack', '--ignore-scripts', '--silent', '--pack-destination', project],
      { cwd: root },
    );
    const tarball = packed.trim().split('\n').pop()!;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'ops', private: true, type: 'module' }));
    writeFileSync(join(project, '.npmrc'), 'omit-lockfile-registry-resolved=true\nfund=false\naudit=false\n');
    await execFileAsync('npm', ['install', '--silent', join(project, tarball)], { cwd: project, timeout: 300_000 });
    writeFileSync(
      join(project, 'playbook.ts'),
      [
        "import { deregister, healthCheck, playbook, prePull, register, replaceContainer, silenceAlarms, suspendAutoscaling, type HostTask } from 'baton';",
        "const note: HostTask = { name: 'note', async run(ctx) { return `${ctx.target.host.name} gets ${ctx.image}`; } };",
        "export default playbook({ name: 'ops deploy', preTasks: [suspendAutoscaling(), silenceAlarms(), prePull()], tasks: [deregister(), replaceContainer(), note, healthCheck(), register()] });",
      ].join('\n'),
    );
    const bin = join(project, 'node_modules', '.bin', 'baton');
    expect((await runBaton(['--version'], { bin, cwd: project })).stdout.trim()).toBe(
      (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
    );
    const run = await runBaton(
      ['deploy', ...args('--image', image('v1'), '--playbook', join(project, 'playbook.ts'), '--reporter', 'json')],
      { bin, cwd: project },
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.events.find((e) => e.type === 'run-started')).toMatchObject({ playbook: 'ops deploy' });
    expect(run.events.filter((e) => e.type === 'step' && e.step === 'note' && e.status === 'ok')).toHaveLength(3);
    for (const h of sandbox.fleet.hosts) expect(await liveImage(h.container)).toBe(image('v1'));
  });
});

describe('the OpenSSH client configuration', () => {
  it('reaches the hosts as ~/.ssh/config says: Host aliases, HostName, Port, User, IdentityFile, UserKnownHostsFile, ProxyJump over two hops', async () => {
    const { fleet } = sandbox;
    const dir = mkdtempSync(join(tmpdir(), 'baton-sshcfg-'));
    // The bastion a second time, by its name on the fleet's networks, reached through itself: two hops.
    const knownHosts = join(dir, 'known_hosts');
    const bastionKeys = readFileSync(fleet.knownHostsFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`[127.0.0.1]:${fleet.bastion.port} `));
    writeFileSync(
      knownHosts,
      `${readFileSync(fleet.knownHostsFile, 'utf8')}${bastionKeys.map((l) => l.replace(/^\S+/, 'bastion')).join('\n')}\n`,
    );
    const sshConfig = join(dir, 'config');
    writeFileSync(
      sshConfig,
      [
        'Host sandbox-edge',
        '  HostName 127.0.0.1',
        `  Port ${fleet.bastion.port}`,
        'Host sandbox-inner',
        '  HostName bastion',
        '  ProxyJump sandbox-edge',
        `Host ${fleet.hosts.map((h) => h.privateIp).join(' ')}`,
        '  ProxyJump sandbox-inner',
        'Host *',
        '  User deploy',
        `  IdentityFile ${fleet.sshKeyFile}`,
        `  UserKnownHostsFile ${knownHosts}`,
        '',
      ].join('\n'),
    );
    // A configuration with no SSH settings of its own but the file to read.
    const config = readFileSync(sandbox.configFile, 'utf8').replace(
      /^ssh:\n( {2}.*\n)+/m,
      `ssh:\n  config: ${sshConfig}\n`,
    );
    const configFile = join(dir, 'baton.yaml');
    writeFileSync(configFile, config);
    expect(config).not.toMatch(/identityFile|bastion:|knownHosts/);
    const run = await runBaton([
      'deploy',
      '--config',
      configFile,
      '--deployment',
      'sandbox',
      '--image',
      image('v1'),
      '--reporter',
      'json',
    ]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    for (const h of fleet.hosts) expect(await liveImage(h.container)).toBe(image('v1'));

    // ProxyCommand cannot be honoured: refused before anything changes, naming the file and line.
    writeFileSync(
      sshConfig,
      `Host ${fleet.hosts[0]!.privateIp}\n  ProxyCommand nc %h %p\n${readFileSync(sshConfig, 'utf8')}`,
    );
    await sandbox.emulator.clearCalls();
    const refused = await runBaton([
      'deploy',
      '--config',
      configFile,
      '--deployment',
      'sandbox',
      '--image',
      image('v2'),
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${sshConfig}:2: ProxyCommand for ${fleet.hosts[0]!.privateIp} is not supported`);
    expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
  });
});
