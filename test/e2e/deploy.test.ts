/**
 * `baton deploy` end to end, through the CLI, on the sandbox fleet: a bastion and three app hosts
 * (real sshd and dockerd), the registry, HAProxy carrying real traffic, and the AWS emulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoScalingClient, ResumeProcessesCommand } from '@aws-sdk/client-auto-scaling';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, dockerExec } from '../fleet/docker.ts';
import { ensureAppImages } from '../fleet/images.ts';
import { startLoad } from '../fleet/load.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import type { DeployEvent } from '../../src/rollout/events.ts';
import { runBaton } from './baton.ts';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ hosts: 3 });
});
afterAll(async () => {
  await sandbox?.stop();
});

const image = (tag: string) => `${sandbox.fleet.appRepository}:${tag}`;
const deployArgs = (tag: string, ...more: string[]) => ['deploy', '--config', sandbox.configFile, '--deployment', 'sandbox', '--image', image(tag), '--reporter', 'json', ...more];

async function live(container: string) {
  const out = await dockerExec(container, 'docker inspect live');
  const [c] = JSON.parse(out) as { Config: { Image: string; Labels: Record<string, string> }; State: { Running: boolean }; Mounts: { Source: string; Destination: string }[] }[];
  return { image: c!.Config.Image, running: c!.State.Running, labels: c!.Config.Labels, mounts: c!.Mounts.map((m) => `${m.Source}:${m.Destination}`) };
}

async function liveImages() {
  return Promise.all(sandbox.fleet.hosts.map(async (h) => (await live(h.container)).image));
}

describe('baton deploy', () => {
  it('rolls v1 -> v2 across 3 hosts under load without dropping a request', async () => {
    await sandbox.emulator.clearCalls();
    const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 100, maxSeconds: 120 });
    const run = await runBaton(deployArgs('v2'));
    const traffic = await load.stop();
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
    expect(traffic.ok).toBeGreaterThan(100);
    expect(traffic.byBody.v2).toBeGreaterThan(0);

    for (const host of sandbox.fleet.hosts) {
      const c = await live(host.container);
      expect(c.image).toBe(image('v2'));
      expect(c.running).toBe(true);
      expect(c.mounts).toContain('/dev/log:/dev/log');
      expect(c.labels['baton.image']).toBe(image('v2'));
      expect(c.labels['baton.deployment']).toBe('sandbox');
      expect(c.labels['baton.deployer']).toBeTruthy();
    }
    const states = await sandbox.emulator.instanceStates();
    for (const host of sandbox.fleet.hosts) {
      expect(states.classic[host.instanceId]).toBe('InService');
      expect(states.targetGroup[host.instanceId]).toBe('healthy');
    }
    const stats = await sandbox.haproxyServers();
    expect(stats.every((s) => s.status === 'UP')).toBe(true);

    const calls = (await sandbox.emulator.calls()).map((c) => c.action);
    const first = (a: string) => calls.indexOf(a);
    const last = (a: string) => calls.lastIndexOf(a);
    expect(first('SuspendProcesses')).toBeGreaterThanOrEqual(0);
    expect(first('SuspendProcesses')).toBeLessThan(first('DeregisterInstancesFromLoadBalancer'));
    expect(first('DisableAlarmActions')).toBeLessThan(first('DeregisterInstancesFromLoadBalancer'));
    expect(last('ResumeProcesses')).toBeGreaterThan(last('RegisterInstancesWithLoadBalancer'));
    expect(last('EnableAlarmActions')).toBeGreaterThan(last('RegisterTargets'));

    const summary = run.events.find((e) => e.type === 'run-finished');
    expect(summary).toMatchObject({ outcome: 'deployed', exitCode: 0 });
  });

  it('puts the first host back when the new image fails its health check, and leaves the others alone', async () => {
    const before = await liveImages();
    await sandbox.emulator.clearCalls();
    const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 100, maxSeconds: 120 });
    const run = await runBaton(deployArgs('unhealthy'));
    const traffic = await load.stop();
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
    expect(await liveImages()).toEqual(before);
    const finished = run.events.filter((e) => e.type === 'host-finished');
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ result: 'rolled-back', host: sandbox.fleet.hosts[0]!.name });
    expect((finished[0] as { error: string }).error).toMatch(/health|HTTP 404/);
    const calls = (await sandbox.emulator.calls()).map((c) => c.action);
    expect(calls.lastIndexOf('ResumeProcesses')).toBeGreaterThan(calls.lastIndexOf('RegisterInstancesWithLoadBalancer'));
    expect(calls).toContain('EnableAlarmActions');
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
    expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
  });

  it('stops before any host leaves service when the image does not exist', async () => {
    await sandbox.emulator.clearCalls();
    const before = await liveImages();
    const run = await runBaton(deployArgs('no-such-tag'));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/could not pull .*no-such-tag/);
    expect(run.stdout).toMatch(/manifest unknown|not found/i);
    const calls = (await sandbox.emulator.calls()).map((c) => c.action);
    expect(calls).not.toContain('DeregisterInstancesFromLoadBalancer');
    expect(calls).not.toContain('DeregisterTargets');
    expect(await liveImages()).toEqual(before);
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
  });

  it('on Ctrl-C during the second host, finishes that host, stops, and undoes the guards', async () => {
    const second = sandbox.fleet.hosts[1]!.name;
    let interrupted = false;
    const run = await runBaton(deployArgs('v3'), {
      onEvent: (e, child) => {
        if (!interrupted && e.type === 'step' && e.scope === 'host' && e.host === second && e.step === 'replace container' && e.status === 'started') {
          interrupted = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(interrupted).toBe(true);
    expect(run.code).toBe(130);
    const images = await liveImages();
    expect(images[0]).toBe(image('v3'));
    expect([image('v2'), image('v3')]).toContain(images[1]);
    expect(images[2]).toBe(image('v2'));
    const states = await sandbox.emulator.instanceStates();
    for (const host of sandbox.fleet.hosts) expect(states.classic[host.instanceId]).toBe('InService');
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
    expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
  });

  it('--check prints the plan and what each step would do, and changes nothing', async () => {
    await sandbox.emulator.clearCalls();
    const before = await liveImages();
    const run = await runBaton(deployArgs('v1', '--check', '--serial', '2'));
    expect(run.code, run.stderr).toBe(0);
    const started = run.events.find((e) => e.type === 'run-started');
    expect(started).toMatchObject({ check: true, batches: [['app-1', 'app-2'], ['app-3']] });
    const plan = run.events.find((e) => e.type === 'plan') as Extract<DeployEvent, { type: 'plan' }>;
    expect(plan.preTasks.map((t) => t.step)).toEqual(['suspend autoscaling', 'silence alarms', 'pre-pull']);
    expect(plan.preTasks[0]!.would).toMatch(/^suspend Launch, Terminate, .* in web-api-sandbox/);
    expect(plan.hosts.map((h) => `${h.batch} ${h.host}`)).toEqual(['1 app-1', '1 app-2', '2 app-3']);
    const steps = Object.fromEntries(plan.hosts[0]!.steps.map((st) => [st.step, st.would]));
    expect(steps.deregister).toMatch(/^deregister from classic ELB web-api-sandbox, target group web-api-sandbox and wait until drained/);
    expect(steps['replace container']).toContain(`keep it as live-previous for rollback, run ${image('v1')} as live`);
    expect(steps['health check']).toContain('GET http://127.0.0.1:8080/health = 200');
    expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
    expect(await liveImages()).toEqual(before);
  });

  it("runs a user's own TypeScript playbook without a build step", async () => {
    const playbookFile = join(import.meta.dirname, 'fixtures', 'stamped-deploy.ts');
    const run = await runBaton(deployArgs('v1', '--playbook', playbookFile));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.events.find((e) => e.type === 'run-started')).toMatchObject({ playbook: 'stamped deploy', batches: [['app-1', 'app-2', 'app-3']] });
    for (const host of sandbox.fleet.hosts) {
      expect((await dockerExec(host.container, 'cat /tmp/baton-release')).trim()).toBe(image('v1'));
    }
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v1')));
  });

  it('says loudly, with the command that fixes it, when autoscaling cannot be resumed, and exits 3', async () => {
    await sandbox.emulator.injectFault({ action: 'ResumeProcesses', kind: 'error5xx', times: 50 });
    try {
      const run = await runBaton(deployArgs('v2', '--serial', '100%'));
      expect(run.code, run.stdout + run.stderr).toBe(3);
      const undo = run.events.find((e) => e.type === 'undo-failed');
      expect(undo).toMatchObject({ what: 'resume autoscaling' });
      expect((undo as { fix: string }).fix).toBe(
        'aws autoscaling resume-processes --region us-east-1 --auto-scaling-group-name web-api-sandbox --scaling-processes Launch Terminate AddToLoadBalancer AZRebalance HealthCheck ReplaceUnhealthy',
      );
      expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
      expect(await sandbox.emulator.suspendedProcesses()).not.toEqual([]);
    } finally {
      await sandbox.emulator.clearFaults();
    }
    // What the operator would do: run the printed command (here, the same call through the SDK).
    const asg = new AutoScalingClient({ region: 'us-east-1', endpoint: sandbox.emulator.url, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    await asg.send(new ResumeProcessesCommand({ AutoScalingGroupName: 'web-api-sandbox' }));
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
  });

  it('speaks TeamCity service messages when run as a TeamCity build step', async () => {
    const args = ['deploy', '--config', sandbox.configFile, '--deployment', 'sandbox', '--image', image('v3')];
    const run = await runBaton(args, { env: { TEAMCITY_VERSION: '2025.07 (build 190000)' } });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const messages = run.stdout.split('\n').filter((l) => l.startsWith('##teamcity['));
    for (const host of sandbox.fleet.hosts) {
      expect(messages).toContainEqual(expect.stringMatching(new RegExp(`^##teamcity\\[blockOpened name='${host.name}' flowId='${host.name}'`)));
      expect(messages).toContainEqual(expect.stringMatching(new RegExp(`^##teamcity\\[buildStatisticValue key='baton.host.${host.name}.outOfServiceMs' value='\\d+'\\]$`)));
    }
    expect(messages).toContainEqual(expect.stringMatching(/^##teamcity\[blockOpened name='batch 1\/3: app-1'/));
    expect(messages).toContain(`##teamcity[setParameter name='baton.deployed.image' value='${image('v3')}']`);
    expect(messages.at(-1)).toBe(`##teamcity[buildStatus text='{build.status.text}; deployed ${image('v3')} to sandbox: 3/3 hosts (exit 0)']`);
  });

  it('rolls out by hand to the hosts an Ansible --limit pattern selects', async () => {
    const listed = await runBaton(deployArgs('v1', '--limit', 'tag_deployment_sandbox:!app-2', '--list-hosts'));
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.events.find((e) => e.type === 'run-started')).toMatchObject({ hosts: ['app-1', 'app-3'] });

    const nothing = await runBaton(deployArgs('v1', '--limit', 'app-9'));
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('--limit "app-9" matches no host.\n  hosts: app-1, app-2, app-3');

    await sandbox.emulator.clearCalls();
    const before = await liveImages();
    const run = await runBaton(deployArgs('v1', '--limit', 'app-2'));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(await liveImages()).toEqual([before[0], image('v1'), before[2]]);
    const deregistered = (await sandbox.emulator.calls()).filter((c) => c.action === 'DeregisterInstancesFromLoadBalancer').map((c) => c.params['Instances.member.1.InstanceId']);
    expect(deregistered).toEqual([sandbox.fleet.hosts[1]!.instanceId]);
  });

  it('baton status shows what each host runs, by whom, its load balancer state and its rollback candidate', async () => {
    const run = await runBaton(['status', '--config', sandbox.configFile, '--deployment', 'sandbox', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const rows = JSON.parse(run.stdout) as { host: string; image: string; deployedBy: string; deployedAt: string; loadBalancers: { name: string; state: string }[]; rollbackCandidate: string }[];
    const images = await liveImages();
    expect(rows.map((r) => r.image)).toEqual(images);
    const app2 = rows.find((r) => r.host === 'app-2')!;
    expect(app2).toMatchObject({ image: image('v1'), rollbackCandidate: image('v3') });
    expect(app2.deployedBy).toBeTruthy();
    expect(Date.parse(app2.deployedAt)).toBeGreaterThan(0);
    expect(app2.loadBalancers).toEqual([
      { name: 'classic ELB web-api-sandbox', state: 'in-service' },
      { name: 'target group web-api-sandbox', state: 'in-service' },
    ]);
    const table = await runBaton(['status', '--config', sandbox.configFile, '--deployment', 'sandbox', '--limit', 'app-2']);
    expect(table.stdout.split('\n')[0]).toMatch(/^host\s+live image\s+since\s+by\s+load balancers\s+rollback candidate$/);
    expect(table.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('baton rollback puts every host back on its kept container, under load, and keeps the other for the way back', async () => {
    const status = async () => JSON.parse((await runBaton(['status', '--config', sandbox.configFile, '--deployment', 'sandbox', '--json'])).stdout) as { image: string; rollbackCandidate: string }[];
    const before = await status();
    const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 100, maxSeconds: 120 });
    const run = await runBaton(['rollback', '--config', sandbox.configFile, '--deployment', 'sandbox', '--reporter', 'json']);
    const traffic = await load.stop();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
    const after = await status();
    expect(after.map((h) => h.image)).toEqual(before.map((h) => h.rollbackCandidate));
    expect(after.map((h) => h.rollbackCandidate)).toEqual(before.map((h) => h.image));
    const finished = run.events.filter((e) => e.type === 'host-finished');
    expect(finished.map((e) => (e as { newImage: string }).newImage)).toEqual(before.map((h) => h.rollbackCandidate));
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
  });

  it('deploys a remote-run/<user>/<feature> build into that user\'s own deployment, and refuses any other', async () => {
    const commit = '5eed0123456789abcdef0123456789abcdef0123';
    const tag = 'sandbox-new-login-5eed01234567';
    const apps = await ensureAppImages();
    const pushed = `${sandbox.fleet.registryPushUrl}/baton/app:${tag}`;
    await docker(['tag', apps.v2, pushed]);
    await docker(['push', '-q', pushed]);
    await docker(['rmi', pushed]);

    const personal = ['deploy', '--config', sandbox.configFile, '--branch', 'remote-run/sandbox/new-login', '--commit', commit, '--image-repository', sandbox.fleet.appRepository, '--reporter', 'json'];
    const run = await runBaton(personal);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.events.find((e) => e.type === 'run-started')).toMatchObject({ deployment: 'sandbox', image: image(tag) });
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image(tag)));

    await sandbox.emulator.clearCalls();
    const refused = await runBaton(['deploy', '--config', sandbox.configFile, '--branch', 'remote-run/alice/new-login', '--deployment', 'sandbox', '--image', image('v1')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('a build of remote-run/alice/new-login deploys into deployment "alice" only; "sandbox" is not alice\'s own deployment');
    expect(await sandbox.emulator.calls()).toEqual([]);
  });

  it('deploys to hosts from a static Ansible inventory, bastion from ProxyJump, selected with --limit', async () => {
    const { fleet } = sandbox;
    const inventory = join(fleet.dir, 'hosts.ini');
    writeFileSync(
      inventory,
      [
        '[app]',
        ...fleet.hosts.map((h) => `${h.name} ansible_host=${h.privateIp} instance_id=${h.instanceId}`),
        '',
        '[app:vars]',
        'ansible_user=deploy',
        `ansible_ssh_common_args='-o ProxyJump=deploy@127.0.0.1:${fleet.bastion.port}'`,
        '',
      ].join('\n'),
    );
    await sandbox.emulator.clearCalls();
    const before = await liveImages();
    const run = await runBaton(deployArgs('v2', '-i', inventory, '--limit', 'app[1]', '-e', 'ssh.bastion.port=1'));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(await liveImages()).toEqual([before[0], image('v2'), before[2]]);
    const calls = (await sandbox.emulator.calls()).map((c) => c.action);
    expect(calls).not.toContain('DescribeInstances');
    expect(calls).toContain('DeregisterInstancesFromLoadBalancer');
  });

  it('refuses bad configuration with its path, before any write call', async () => {
    await sandbox.emulator.clearCalls();
    const run = await runBaton(deployArgs('v2', '-e', 'rollout.serial=12x'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('rollout.serial');
    expect(run.stderr).toContain('12x');
    expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
  });

  it('refuses an unknown host key with its fingerprint, before any write call', async () => {
    await sandbox.emulator.clearCalls();
    const run = await runBaton(deployArgs('v2', '-e', 'ssh.knownHosts=/dev/null'));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
    expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
  });
});
