/**
 * `baton deploy` end to end, through the CLI, on the sandbox fleet: a bastion and three app hosts
 * (real sshd and dockerd), the registry, HAProxy carrying real traffic, and the AWS emulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { docker, dockerExec } from '../fleet/docker.ts';
import { ensureAppImages } from '../fleet/images.ts';
import { startLoad } from '../fleet/load.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import type { DeployEvent } from '../../src/events/events.ts';
import { runBaton, runBatonInTerminal, type BatonRun } from './baton.ts';
import { checkBlocks, parseServiceMessages } from './service-messages.ts';
import { problemIdentity } from '../../src/report/teamcity.ts';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ hosts: 3 });
});
afterAll(async () => {
  await sandbox?.stop();
});

const image = (tag: string) => `${sandbox.fleet.appRepository}:${tag}`;
const deployArgs = (tag: string, ...more: string[]) => [
  'deploy',
  '--config',
  sandbox.configFile,
  '--deployment',
  'sandbox',
  '--image',
  image(tag),
  '--reporter',
  'json',
  ...more,
];

async function live(container: string) {
  const out = await dockerExec(container, 'docker inspect live');
  const [c] = JSON.parse(out) as {
    Config: { Image: string; Labels: Record<string, string> };
    State: { Running: boolean };
    Mounts: { Source: string; Destination: string }[];
  }[];
  return {
    image: c!.Config.Image,
    running: c!.State.Running,
    labels: c!.Config.Labels,
    mounts: c!.Mounts.map((m) => `${m.Source}:${m.Destination}`),
  };
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
    expect(calls.lastIndexOf('ResumeProcesses')).toBeGreaterThan(
      calls.lastIndexOf('RegisterInstancesWithLoadBalancer'),
    );
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
        if (
          !interrupted &&
          e.type === 'step' &&
          e.scope === 'host' &&
          e.host === second &&
          e.step === 'replace container' &&
          e.status === 'started'
        ) {
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
    expect(steps.deregister).toMatch(
      /^deregister from classic ELB web-api-sandbox, target group web-api-sandbox and wait until drained/,
    );
    expect(steps['replace container']).toContain(`keep it as live-previous for rollback, run ${image('v1')} as live`);
    expect(steps['health check']).toContain('GET http://127.0.0.1:8080/health = 200');
    expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
    expect(await liveImages()).toEqual(before);
  });

  it('refuses a host in no load balancer it can see (no instance_id), before any change, unless --no-load-balancer', async () => {
    const { fleet } = sandbox;
    const inventory = join(fleet.dir, 'no-instance-ids.ini');
    writeFileSync(
      inventory,
      [
        '[app]',
        ...fleet.hosts.map((h) => `${h.name} ansible_host=${h.privateIp}`),
        '',
        '[app:vars]',
        'ansible_user=deploy',
        '',
      ].join('\n'),
    );
    await sandbox.emulator.clearCalls();
    const refused = await runBaton(deployArgs('v3', '-i', inventory));
    expect(refused.code, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toContain(
      `--no-load-balancer: ${fleet.hosts[0]!.name} is in no load balancer Baton can see (it has no instance_id in the inventory, so its load balancers cannot be found): it would be stopped while a load balancer may still send it traffic`,
    );
    expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
    // An image no host runs, so each host's plan lists its steps.
    const planned = await runBaton(deployArgs('crash', '-i', inventory, '--no-load-balancer', '--check'));
    expect(planned.code, planned.stdout + planned.stderr).toBe(0);
    const plan = planned.events.find((e) => e.type === 'plan') as {
      hosts: { steps: { step: string; would: string }[] }[];
    };
    expect(plan.hosts[0]!.steps.find((s) => s.step === 'deregister')!.would).toBe('nothing: in no load balancer');
  });

  it("runs a user's own TypeScript playbook without a build step", async () => {
    const playbookFile = join(import.meta.dirname, 'fixtures', 'stamped-deploy.ts');
    const run = await runBaton(deployArgs('v1', '--playbook', playbookFile));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.events.find((e) => e.type === 'run-started')).toMatchObject({
      playbook: 'stamped deploy',
      batches: [['app-1', 'app-2', 'app-3']],
    });
    for (const host of sandbox.fleet.hosts) {
      expect((await dockerExec(host.container, 'cat /tmp/baton-release')).trim()).toBe(image('v1'));
    }
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v1')));
  });

  it('runs a playbook of tasks only (no preTasks, no postTasks) everywhere: --list-hosts, --check and a deploy', async () => {
    const playbookFile = join(import.meta.dirname, 'fixtures', 'tasks-only.ts');
    const listed = await runBaton(deployArgs('v2', '--playbook', playbookFile, '--list-hosts'));
    expect(listed.code, listed.stdout + listed.stderr).toBe(0);
    expect(listed.events.find((e) => e.type === 'run-started')).toMatchObject({ playbook: 'tasks only', preTasks: [] });
    const checked = await runBaton(deployArgs('v2', '--playbook', playbookFile, '--check'));
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    const run = await runBaton(deployArgs('v2', '--playbook', playbookFile));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v2')));
    // And back, so the tests after it find the fleet as the one before left it.
    const back = await runBaton(deployArgs('v1', '--playbook', playbookFile));
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v1')));
  });

  it('says loudly, with the command that fixes it, when autoscaling cannot be resumed, exits 3, and leaves it for baton recover', async () => {
    await sandbox.emulator.injectFault({ action: 'ResumeProcesses', kind: 'error5xx', times: 50 });
    try {
      const run = await runBaton(deployArgs('v2', '--serial', '100%'));
      expect(run.code, run.stdout + run.stderr).toBe(3);
      const undo = run.events.find((e) => e.type === 'undo-failed');
      expect(undo).toMatchObject({
        what: 'Auto Scaling group web-api-sandbox: Launch, Terminate, AddToLoadBalancer, AZRebalance, HealthCheck, ReplaceUnhealthy suspended',
      });
      expect((undo as { fix: string }).fix).toBe(
        'aws autoscaling resume-processes --region us-east-1 --auto-scaling-group-name web-api-sandbox --scaling-processes Launch Terminate AddToLoadBalancer AZRebalance HealthCheck ReplaceUnhealthy',
      );
      expect(
        run.events.some(
          (e) => e.type === 'warning' && e.message.includes('`baton recover --deployment sandbox` undoes them'),
        ),
      ).toBe(true);
      expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
      expect(await sandbox.emulator.suspendedProcesses()).not.toEqual([]);
      // Nothing new starts over what is left open.
      const blocked = await runBaton(deployArgs('v3'));
      expect(blocked.code).toBe(4);
      expect(blocked.stderr).toContain(
        'left 1 change open on the fleet:\n  - Auto Scaling group web-api-sandbox: Launch, Terminate, AddToLoadBalancer, AZRebalance, HealthCheck, ReplaceUnhealthy suspended',
      );
    } finally {
      await sandbox.emulator.clearFaults();
    }
    const recovered = await runBaton([
      'recover',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '--reporter',
      'json',
    ]);
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
    expect(
      JSON.parse(
        (await runBaton(['lock', 'status', '--config', sandbox.configFile, '--deployment', 'sandbox', '--json']))
          .stdout,
      ),
    ).toMatchObject({ locked: false, journal: null });
  });

  it('speaks TeamCity service messages, parsed back message by message, for a deploy that succeeds and one that fails', async () => {
    const tc = { TEAMCITY_VERSION: '2025.07 (build 190000)' };
    const args = (tag: string) => [
      'deploy',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '--image',
      image(tag),
    ];
    const run = await runBaton(args('v3'), { env: tc });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const messages = parseServiceMessages(run.stdout);
    expect(checkBlocks(messages)).toEqual([
      'batch 1/3: app-1',
      'app-1',
      'batch 2/3: app-2',
      'app-2',
      'batch 3/3: app-3',
      'app-3',
    ]);
    expect(messages.slice(0, 3)).toEqual([
      { name: 'progressMessage', attrs: {}, value: 'inventory' },
      {
        name: 'message',
        attrs: {
          text: expect.stringMatching(/^inventory: ok \(.+\) — 3 hosts: app-1, app-2, app-3$/),
          timestamp: expect.any(String),
        },
      },
      {
        name: 'message',
        attrs: {
          text: `deploy ${image('v3')} to sandbox (deploy): 3 hosts in 3 batches`,
          timestamp: expect.any(String),
        },
      },
    ]);
    expect(messages.filter((m) => m.name === 'progressMessage').map((m) => m.value)).toEqual([
      'inventory',
      'lock',
      'connect',
      'discover',
      'check: suspend autoscaling',
      'check: silence alarms',
      'check: pre-pull',
      'check: deregister',
      'check: health check',
      'suspend autoscaling',
      'silence alarms',
      'pre-pull',
      'prune images',
      'enable alarm actions',
      'resume autoscaling',
    ]);
    for (const host of sandbox.fleet.hosts) {
      const flow = messages.filter((m) => m.attrs.flowId === host.name);
      expect(flow[0]).toMatchObject({ name: 'blockOpened', attrs: { name: host.name } });
      expect(flow.filter((m) => m.attrs.text?.endsWith(': started')).map((m) => m.attrs.text)).toEqual(
        ['deregister', 'replace container', 'health check', 'register'].map((st) => `${st}: started`),
      );
      expect(flow.filter((m) => m.name === 'message' && m.attrs.status === 'ERROR')).toEqual([]);
      expect(flow.at(-2)!.attrs.text).toMatch(/^deployed, out of service \d+(\.\d+)?m?s$/);
      expect(flow.at(-1)).toMatchObject({ name: 'blockClosed', attrs: { name: host.name } });
      expect(
        Number(
          messages.find(
            (m) => m.name === 'buildStatisticValue' && m.attrs.key === `baton.host.${host.name}.outOfServiceMs`,
          )!.attrs.value,
        ),
      ).toBeGreaterThan(0);
    }
    expect(
      Number(messages.find((m) => m.name === 'buildStatisticValue' && m.attrs.key === 'baton.deploy.ms')!.attrs.value),
    ).toBeGreaterThan(0);
    expect(messages.filter((m) => m.name === 'buildProblem')).toEqual([]);
    expect(messages.filter((m) => m.name === 'setParameter')).toEqual([
      { name: 'setParameter', attrs: { name: 'baton.deployed.image', value: image('v3') } },
    ]);
    expect(messages.at(-1)).toEqual({
      name: 'buildStatus',
      attrs: { text: `{build.status.text}; deployed ${image('v3')} to sandbox: 3/3 hosts (exit 0)` },
    });

    // A deploy that fails before any host leaves service: one build problem with a stable identity.
    const failed = await runBaton(args('no-such-tag'), { env: tc });
    expect(failed.code).toBe(1);
    const lines = parseServiceMessages(failed.stdout);
    checkBlocks(lines);
    expect(lines.find((m) => m.name === 'message' && m.attrs.status === 'ERROR')!.attrs.text).toMatch(
      /^pre-pull: failed .*could not pull .*no-such-tag/s,
    );
    const problems = lines.filter((m) => m.name === 'buildProblem');
    expect(problems).toEqual([
      {
        name: 'buildProblem',
        attrs: {
          description: `rolled-back ${image('no-such-tag')} to sandbox: 0/3 hosts (exit 1)`,
          identity: problemIdentity('sandbox', 'run', 'rolled-back'),
        },
      },
    ]);
    expect(problems[0]!.attrs.identity).toMatch(/^[A-Za-z_]\w{0,59}$/);
    expect(lines.filter((m) => m.name === 'setParameter')).toEqual([]);
    expect(lines.at(-1)).toEqual({
      name: 'buildStatus',
      attrs: { text: `{build.status.text}; rolled-back ${image('no-such-tag')} to sandbox: 0/3 hosts (exit 1)` },
    });
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
    const deregistered = (await sandbox.emulator.calls())
      .filter((c) => c.action === 'DeregisterInstancesFromLoadBalancer')
      .map((c) => c.params['Instances.member.1.InstanceId']);
    expect(deregistered).toEqual([sandbox.fleet.hosts[1]!.instanceId]);
  });

  it('baton status shows what each host runs, by whom, its load balancer state and its rollback candidate', async () => {
    const run = await runBaton(['status', '--config', sandbox.configFile, '--deployment', 'sandbox', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const rows = JSON.parse(run.stdout) as {
      host: string;
      image: string;
      deployedBy: string;
      deployedAt: string;
      loadBalancers: { name: string; state: string }[];
      rollbackCandidate: string;
    }[];
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
    const table = await runBaton([
      'status',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '--limit',
      'app-2',
    ]);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^host\s+live image\s+since\s+by\s+load balancers\s+rollback candidate$/,
    );
    expect(table.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('baton rollback puts back only what the last deploy changed, under load, and keeps the other container for the way back', async () => {
    const status = async () =>
      JSON.parse(
        (await runBaton(['status', '--config', sandbox.configFile, '--deployment', 'sandbox', '--json'])).stdout,
      ) as { image: string; rollbackCandidate: string }[];
    const before = await status();
    const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 100, maxSeconds: 120 });
    // The last deploy (`--limit app-2`) changed app-2 alone: app-1 and app-3 keep their image.
    const run = await runBaton([
      'rollback',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '--reporter',
      'json',
    ]);
    const traffic = await load.stop();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
    const warning = run.events.find((e) => e.type === 'warning') as { message: string };
    expect(warning.message).toMatch(
      /^rolling back only what the last deploy \(.+\) changed: app-2; every other host keeps its image/,
    );
    const after = await status();
    expect(after.map((h) => h.image)).toEqual([before[0]!.image, before[1]!.rollbackCandidate, before[2]!.image]);
    expect(after[1]!.rollbackCandidate).toBe(before[1]!.image);
    expect(run.events.filter((e) => e.type === 'host-finished').map((e) => (e as { host: string }).host)).toEqual([
      'app-2',
    ]);
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);

    // Named with --limit, every host goes back, as asked.
    const all = await runBaton([
      'rollback',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '--reporter',
      'json',
      '--limit',
      'all',
    ]);
    expect(all.code, all.stdout + all.stderr).toBe(0);
    expect((await status()).map((h) => h.image)).toEqual(after.map((h) => h.rollbackCandidate));
  });

  it("deploys a remote-run/<user>/<feature> build into that user's own deployment, and refuses any other", async () => {
    const commit = '5eed0123456789abcdef0123456789abcdef0123';
    const tag = 'sandbox-new-login-5eed01234567';
    const apps = await ensureAppImages();
    const pushed = `${sandbox.fleet.registryPushUrl}/baton/app:${tag}`;
    await docker(['tag', apps.v2, pushed]);
    await docker(['push', '-q', pushed]);
    await docker(['rmi', pushed]);

    const personal = [
      'deploy',
      '--config',
      sandbox.configFile,
      '--branch',
      'remote-run/sandbox/new-login',
      '--commit',
      commit,
      '--image-repository',
      sandbox.fleet.appRepository,
      '--reporter',
      'json',
    ];
    const run = await runBaton(personal);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.events.find((e) => e.type === 'run-started')).toMatchObject({
      deployment: 'sandbox',
      image: image(tag),
    });
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image(tag)));

    await sandbox.emulator.clearCalls();
    const refused = await runBaton([
      'deploy',
      '--config',
      sandbox.configFile,
      '--branch',
      'remote-run/alice/new-login',
      '--deployment',
      'sandbox',
      '--image',
      image('v1'),
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'a build of remote-run/alice/new-login deploys into deployment "alice" only; "sandbox" is not alice\'s own deployment',
    );
    expect(await sandbox.emulator.calls()).toEqual([]);

    // Under TeamCity, without --branch: the branch comes from the build's configuration parameters file.
    const configProperties = join(sandbox.fleet.dir, 'teamcity-config.properties');
    const buildProperties = join(sandbox.fleet.dir, 'teamcity-build.properties');
    writeFileSync(configProperties, 'teamcity.build.branch=remote-run/alice/new-login\n');
    writeFileSync(buildProperties, `teamcity.configuration.properties.file=${configProperties}\n`);
    const teamcity = await runBaton(
      ['deploy', '--config', sandbox.configFile, '--deployment', 'sandbox', '--image', image('v1')],
      {
        env: { TEAMCITY_VERSION: '2025.07 (build 190000)', TEAMCITY_BUILD_PROPERTIES_FILE: buildProperties },
      },
    );
    expect(teamcity.code).toBe(2);
    expect(teamcity.stderr).toContain('a build of remote-run/alice/new-login deploys into deployment "alice" only');
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

    // baton status reads the same inventory, and takes the same --limit.
    await sandbox.emulator.clearCalls();
    const status = await runBaton([
      'status',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '-i',
      inventory,
      '--limit',
      'app:!app-1',
      '-e',
      'ssh.bastion.port=1',
      '--json',
    ]);
    expect(status.code, status.stderr).toBe(0);
    const rows = JSON.parse(status.stdout) as { host: string; image: string; loadBalancers: { state: string }[] }[];
    expect(rows.map((r) => `${r.host} ${r.image}`)).toEqual([
      `${fleet.hosts[1]!.name} ${image('v2')}`,
      `${fleet.hosts[2]!.name} ${before[2]}`,
    ]);
    expect(
      rows.every((r) => r.loadBalancers.length === 2 && r.loadBalancers.every((l) => l.state === 'in-service')),
    ).toBe(true);
    expect((await sandbox.emulator.calls()).map((c) => c.action)).not.toContain('DescribeInstances');
  });

  it('reproduces the EC2 tag selection from a YAML inventory and from an aws_ec2 inventory file, and deploys from each', async () => {
    const { fleet } = sandbox;
    const yamlFile = join(fleet.dir, 'hosts.yml');
    writeFileSync(
      yamlFile,
      [
        'all:',
        '  children:',
        '    app:',
        '      hosts:',
        ...fleet.hosts.flatMap((h) => [
          `        ${h.name}:`,
          `          ansible_host: ${h.privateIp}`,
          `          instance_id: ${h.instanceId}`,
        ]),
        '      vars:',
        '        ansible_user: deploy',
        `        ansible_ssh_common_args: '-o ProxyJump=deploy@127.0.0.1:${fleet.bastion.port}'`,
        '',
      ].join('\n'),
    );
    const ec2File = join(fleet.dir, 'sandbox.aws_ec2.yml');
    writeFileSync(
      ec2File,
      [
        'plugin: amazon.aws.aws_ec2',
        'regions: [us-east-1]',
        'filters:',
        '  tag:stack: web',
        '  tag:release: api',
        '  tag:deployment: sandbox',
        'hostnames: [tag:Name, private-ip-address]',
        'compose:',
        '  ansible_host: private_ip_address',
        'keyed_groups:',
        '  - key: tags.deployment',
        '    prefix: deployment',
        '',
      ].join('\n'),
    );
    const selection = async (...more: string[]) => {
      const run = await runBaton(deployArgs('v3', '--list-hosts', '--serial', '2', ...more));
      expect(run.code, run.stderr).toBe(0);
      const started = run.events.find((e) => e.type === 'run-started') as { hosts: string[]; batches: string[][] };
      return { hosts: started.hosts, batches: started.batches };
    };
    const byTags = await selection();
    expect(byTags).toEqual({ hosts: ['app-1', 'app-2', 'app-3'], batches: [['app-1', 'app-2'], ['app-3']] });
    expect(await selection('-i', yamlFile)).toEqual(byTags);
    expect(await selection('-i', ec2File)).toEqual(byTags);

    const before = await liveImages();
    const fromYaml = await runBaton(deployArgs('v3', '-i', yamlFile, '--limit', 'app[0]'));
    expect(fromYaml.code, fromYaml.stdout + fromYaml.stderr).toBe(0);
    await sandbox.emulator.clearCalls();
    const fromEc2 = await runBaton(deployArgs('v3', '-i', ec2File, '--limit', 'deployment_sandbox:&app-3'));
    expect(fromEc2.code, fromEc2.stdout + fromEc2.stderr).toBe(0);
    expect(await liveImages()).toEqual([image('v3'), before[1], image('v3')]);
    const describe = (await sandbox.emulator.calls()).find((c) => c.action === 'DescribeInstances')!;
    expect(describe.params).toMatchObject({ 'Filter.1.Name': 'tag:stack', 'Filter.1.Value.1': 'web' });
    const deregistered = (await sandbox.emulator.calls())
      .filter((c) => c.action === 'DeregisterInstancesFromLoadBalancer')
      .map((c) => c.params['Instances.member.1.InstanceId']);
    expect(deregistered).toEqual([fleet.hosts[2]!.instanceId]);
  });

  it('refuses bad configuration with its path, before any write call', async () => {
    await sandbox.emulator.clearCalls();
    const run = await runBaton(deployArgs('v2', '-e', 'rollout.serial=12x'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('rollout.serial');
    expect(run.stderr).toContain('12x');
    expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
  });

  it.each([
    [
      'an image with shell text',
      ['--image', 'registry:5000/baton/app:1;rm -rf /'],
      '--image: "registry:5000/baton/app:1;rm -rf /" is not an image reference',
    ],
    [
      'an image that docker would read as an option',
      ['--image=--quiet'],
      '--image: "--quiet" starts with "-", which docker would read as an option',
    ],
    [
      'an HTTP path with a space',
      ['-e', 'health.http.path=/a b'],
      '-e health.http.path=/a b: health.http.path: "/a b" is not a URL path',
    ],
    [
      'an env value with a line break',
      ['-e', 'container.env.TOKEN="a\\nb"'],
      'container.env.TOKEN: holds a line break or a NUL',
    ],
    [
      'a duration past a day',
      ['-e', 'ssh.commandTimeout=600h'],
      'ssh.commandTimeout: "600h" is too long (at most 24h)',
    ],
    ['a canary past a day', ['--canary', '600h'], '--canary: "600h" is too long (at most 24h)'],
    [
      'a lock staleness past a day',
      ['-e', 'state.staleAfter=600h'],
      'state.staleAfter: "600h" is too long (at most 24h)',
    ],
    [
      'a deployment name with a slash',
      ['--deployment', 'sand/box'],
      '--deployment: "sand/box" may hold only letters, digits',
    ],
    ['a stack name with a wildcard', ['-e', 'stack=web*'], 'stack: "web*" may hold only letters, digits'],
    ['a prototype key', ['-e', 'ssh={"__proto__":{"acceptNewHostKeys":true}}'], 'ssh.__proto__: is not a setting'],
    [
      'accepting new host keys from a setting',
      ['-e', 'ssh.acceptNewHostKeys=true'],
      'ssh.acceptNewHostKeys: is taken only from the --accept-new-host-keys flag',
    ],
    [
      'accepting new host keys into /dev/null',
      ['--accept-new-host-keys', '-e', 'ssh.knownHosts=/dev/null'],
      '--accept-new-host-keys: records new host keys in ssh.knownHosts, and /dev/null is not a regular file',
    ],
  ])('refuses %s with exit 2, naming it, before any AWS call or SSH connection', async (_, args, message) => {
    await sandbox.emulator.clearCalls();
    const given = (flag: string) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
    const base = [
      'deploy',
      '--config',
      sandbox.configFile,
      '--reporter',
      'json',
      ...(given('--deployment') ? [] : ['--deployment', 'sandbox']),
      ...(given('--image') ? [] : ['--image', image('v2')]),
    ];
    const run = await runBaton([...base, ...args]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('nothing on the fleet was changed');
    expect(run.stderr).not.toContain('    at ');
    // Not even a read: the inventory was never fetched, so no host could have been connected to.
    expect(await sandbox.emulator.calls()).toEqual([]);
  });

  it('refuses an unknown host key with its fingerprint, before any write call', async () => {
    await sandbox.emulator.clearCalls();
    const run = await runBaton(deployArgs('v2', '-e', 'ssh.knownHosts=/dev/null'));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
    expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
  });

  const terminalArgs = (tag: string, ...more: string[]) => [
    'deploy',
    '--config',
    sandbox.configFile,
    '--deployment',
    'sandbox',
    '--image',
    image(tag),
    ...more,
  ];
  const batchPrompt = (i: number, host: string) =>
    new RegExp(
      `batch ${i}/3 \\(${host}\\): deploy\\? \\[y\\]es, \\[n\\]o: stop here, \\[c\\]ontinue without asking: $`,
    );

  it('--step asks before each batch at a terminal; "c" goes on without asking, "n" stops there', async () => {
    const all = await runBatonInTerminal(terminalArgs('v3', '--step'), [
      { prompt: batchPrompt(1, 'app-1'), reply: 'y' },
      { prompt: batchPrompt(2, 'app-2'), reply: 'c' },
    ]);
    expect(all.code, all.output).toBe(0);
    expect(all.output.match(/: deploy\? \[y\]es/g)).toHaveLength(2);
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v3')));

    const stopped = await runBatonInTerminal(terminalArgs('v1', '--step'), [
      { prompt: batchPrompt(1, 'app-1'), reply: 'y' },
      { prompt: batchPrompt(2, 'app-2'), reply: 'n' },
    ]);
    expect(stopped.code, stopped.output).toBe(130);
    expect(stopped.output).toContain('stopped before batch 2/3: app-2, app-3 keep the image they run');
    expect(await liveImages()).toEqual([image('v1'), image('v3'), image('v3')]);
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
    expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
  });

  it('--canary watches the first batch for a while, or until confirmed at the terminal, before the rest', async () => {
    const watched = await runBaton(deployArgs('v2', '--canary', '2s'));
    expect(watched.code, watched.stdout + watched.stderr).toBe(0);
    const at = (match: (e: DeployEvent) => boolean) => watched.events.findIndex(match);
    const pause = at((e) => e.type === 'step' && e.step === 'canary: watch app-1 for 2.0s' && e.status === 'ok');
    expect(pause).toBeGreaterThan(at((e) => e.type === 'batch' && e.index === 1 && e.status === 'finished'));
    expect(pause).toBeLessThan(at((e) => e.type === 'batch' && e.index === 2 && e.status === 'started'));
    expect((watched.events[pause] as { ms: number }).ms).toBeGreaterThanOrEqual(1_900);

    const confirmed = await runBatonInTerminal(terminalArgs('v1', '--canary', 'confirm'), [
      { prompt: /canary app-1 is live on the new image\. Go on with the other 2 batches\? \[y\/N\] $/, reply: 'y' },
    ]);
    expect(confirmed.code, confirmed.output).toBe(0);
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v1')));
  });

  it('refuses --step and --canary confirm where nobody can answer, and a --canary that is no duration', async () => {
    await sandbox.emulator.clearCalls();
    const piped = await runBaton(deployArgs('v2', '--step'));
    expect(piped.code).toBe(2);
    expect(piped.stderr).toContain(
      'baton: --step: asks at a terminal, and standard input is not one: use --canary <duration> to pause after the first batch',
    );
    const teamcity = await runBaton(deployArgs('v2', '--canary', 'confirm'), { env: { TEAMCITY_VERSION: '2025.07' } });
    expect(teamcity.code).toBe(2);
    expect(teamcity.stderr).toContain(
      'baton: --canary confirm: asks at a terminal, and a TeamCity build never prompts',
    );
    const bad = await runBaton(deployArgs('v2', '--canary', 'soon'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('baton: --canary: "soon" is neither a duration (like 30s or 5m) nor "confirm"');
    expect(await sandbox.emulator.calls()).toEqual([]);
  });

  it('tells a webhook when a deploy starts and ends, and warns without failing when the webhook is down', async () => {
    const posts: { path: string; body: { text: string; baton: { event: string; outcome?: string } } }[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        posts.push({ path: req.url ?? '', body: JSON.parse(body) as (typeof posts)[number]['body'] });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/services/T1/B2/s3cr3t-token`;
    try {
      const before = await liveImages();
      const tag = before[1] === image('v2') ? 'v3' : 'v2';
      const run = await runBaton(deployArgs(tag, '--limit', 'app-2'), {
        env: { BATON_WEBHOOK_URL: url, BATON_DEPLOYER: 'erin' },
      });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(posts.map((p) => p.path)).toEqual(['/services/T1/B2/s3cr3t-token', '/services/T1/B2/s3cr3t-token']);
      expect(posts[0]!.body.text).toBe(`:rocket: erin started deploying ${image(tag)} to web/api sandbox (1 host)`);
      expect(posts[1]!.body.text).toMatch(
        new RegExp(
          `^:white_check_mark: erin deployed ${image(tag).replace(/[.:/]/g, '\\$&')} to web/api sandbox: 1/1 hosts in \\d+\\.\\d s$`,
        ),
      );
      expect(posts[1]!.body.baton).toMatchObject({
        event: 'finished',
        outcome: 'deployed',
        deployment: 'sandbox',
        deployer: 'erin',
      });
    } finally {
      hook.closeAllConnections();
      await new Promise((resolve) => hook.close(resolve));
    }
    // The same port, now closed: the deploy goes on and says so, without the token.
    const down = await runBaton(deployArgs('v1', '--limit', 'app-2'), { env: { BATON_WEBHOOK_URL: url } });
    expect(down.code, down.stdout + down.stderr).toBe(0);
    const warnings = down.events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
    expect(warnings).toContain(`webhook notification to ${new URL(url).origin} failed: ECONNREFUSED (the run goes on)`);
    expect(down.stdout + down.stderr).not.toContain('s3cr3t');
  });

  /**
   * alice deploys; once her first batch starts she is paused (SIGSTOP, well within her lease) and bob
   * starts his run; alice goes on once bob is refused, or once he says he waits. However slow the
   * machine, bob meets alice's lock: she cannot finish before he asks for it.
   */
  async function whileAliceDeploys(alices: string[], bobs: string[]): Promise<[BatonRun, BatonRun]> {
    let bob: Promise<BatonRun> | undefined;
    const alice = await runBaton(alices, {
      env: { BATON_DEPLOYER: 'alice' },
      onEvent: (e, aliceChild) => {
        if (bob || e.type !== 'batch' || e.index !== 1 || e.status !== 'started') return;
        aliceChild.kill('SIGSTOP');
        const goOn = () => aliceChild.kill('SIGCONT');
        bob = runBaton(bobs, {
          env: { BATON_DEPLOYER: 'bob' },
          onEvent: (b) => b.type === 'warning' && b.message.startsWith('waiting up to') && goOn(),
        });
        void bob.finally(goOn);
      },
    });
    return [alice, await bob!];
  }

  const stateArgs = (...command: string[]) => [...command, '--config', sandbox.configFile, '--deployment', 'sandbox'];

  it('lets one of two concurrent deploys run and tells the other who holds the lock; neither corrupts the fleet', async () => {
    await sandbox.emulator.clearCalls();
    const [first, refused] = await whileAliceDeploys(deployArgs('v2'), deployArgs('v3'));
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(refused.code, refused.stdout + refused.stderr).toBe(4);
    expect(refused.stderr).toContain(`baton: web/api sandbox is being deployed by alice (deploy ${image('v2')}; pid `);
    expect(refused.stderr).toContain(
      'Wait for it to finish; if that run is gone: `baton lock release --force --deployment sandbox`',
    );
    expect(refused.stderr).toContain('nothing on the fleet was changed');
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v2')));
    const calls = await sandbox.emulator.calls();
    expect(calls.filter((c) => c.action === 'SuspendProcesses')).toHaveLength(1);
    expect(
      calls.filter(
        (c) =>
          c.action === 'PutObject' &&
          c.params.Key === 'baton/web/api/sandbox/lock.json' &&
          c.outcome === 'PreconditionFailed',
      ),
    ).toHaveLength(1);
    const status = await runBaton(stateArgs('lock', 'status'));
    expect(status.stdout).toBe(
      'web/api sandbox: not locked (s3://baton-state-sandbox/baton/web/api/sandbox/lock.json)\n',
    );

    // With --lock-wait, the second run waits for the first and then deploys.
    const [again, waited] = await whileAliceDeploys(deployArgs('v1'), deployArgs('v2', '--lock-wait', '2m'));
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(waited.code, waited.stdout + waited.stderr).toBe(0);
    const announced = waited.events.find((e) => e.type === 'warning') as { message: string } | undefined;
    expect(announced?.message, waited.stdout + waited.stderr).toMatch(
      /^waiting up to 2m0s for the deploy lock: web\/api sandbox is being deployed by alice /,
    );
    const alicesEnd = Date.parse(again.events.find((e) => e.type === 'run-finished')!.at);
    const bobsFirstHost = Date.parse(waited.events.find((e) => e.type === 'batch')!.at);
    expect(bobsFirstHost).toBeGreaterThan(alicesEnd);
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v2')));
  });

  it('refuses to deploy over a killed run, shows what it left in its journal, and baton recover undoes it', async () => {
    let killed = false;
    const run = await runBaton(deployArgs('v3'), {
      env: { BATON_DEPLOYER: 'carol' },
      onEvent: (e, child) => {
        if (!killed && e.type === 'step' && e.step === 'pre-pull' && e.status === 'ok') {
          killed = true;
          child.kill('SIGKILL');
        }
      },
    });
    expect(killed).toBe(true);
    expect(run.code).toBeNull();
    expect(await sandbox.emulator.suspendedProcesses()).not.toEqual([]);
    expect(await sandbox.emulator.alarmsEnabled()).toBe(false);

    const status = await runBaton(stateArgs('lock', 'status'));
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(
      `web/api sandbox is locked by a run that did not finish: carol (deploy ${image('v3')}; pid `,
    );
    expect(status.stdout).toMatch(/The lock is stale: its process \(pid \d+ on .+\) is gone\./);
    const resume =
      'aws autoscaling resume-processes --region us-east-1 --auto-scaling-group-name web-api-sandbox --scaling-processes Launch Terminate AddToLoadBalancer AZRebalance HealthCheck ReplaceUnhealthy';
    const enable =
      'aws cloudwatch enable-alarm-actions --region us-east-1 --alarm-names web-api-sandbox-5xx web-api-sandbox-latency';
    expect(status.stdout).toContain(
      `left 2 changes open on the fleet:\n  - alarm actions disabled: web-api-sandbox-5xx, web-api-sandbox-latency`,
    );
    expect(status.stdout).toContain(`by hand: ${resume}`);
    expect(status.stdout).toContain(`by hand: ${enable}`);

    const fleetStatus = await runBaton(['status', '--config', sandbox.configFile, '--deployment', 'sandbox']);
    expect(fleetStatus.stdout).toContain('\nweb/api sandbox is locked by a run that did not finish: carol');

    const blocked = await runBaton(deployArgs('v3'), { env: { BATON_DEPLOYER: 'dave' } });
    expect(blocked.code).toBe(4);
    expect(blocked.stderr).toContain('web/api sandbox is locked by a run that did not finish: carol');
    expect(blocked.stderr).toContain('`baton recover --deployment sandbox`');

    await sandbox.emulator.clearCalls();
    const plan = await runBaton([
      'recover',
      '--check',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '--reporter',
      'json',
    ]);
    expect(plan.code, plan.stderr).toBe(0);
    const steps = (plan.events.find((e) => e.type === 'plan') as Extract<DeployEvent, { type: 'plan' }>).preTasks;
    expect(steps.map((t) => t.step)).toEqual(['enable alarm actions', 'resume autoscaling']);
    expect(
      (await sandbox.emulator.calls()).filter((c) => c.write || (c.service === 's3' && c.action !== 'GetObject')),
    ).toEqual([]);

    const recovered = await runBaton(
      ['recover', '--config', sandbox.configFile, '--deployment', 'sandbox', '--reporter', 'json'],
      { env: { BATON_DEPLOYER: 'dave' } },
    );
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    expect(recovered.events.find((e) => e.type === 'run-finished')).toMatchObject({
      outcome: 'recovered',
      exitCode: 0,
    });
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
    expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
    expect((await runBaton(stateArgs('lock', 'status'))).stdout).toBe(
      'web/api sandbox: not locked (s3://baton-state-sandbox/baton/web/api/sandbox/lock.json)\n',
    );

    const unforced = await runBaton(stateArgs('lock', 'release'));
    expect(unforced.code).toBe(2);
    expect(unforced.stderr).toContain('--force');

    const next = await runBaton(deployArgs('v3'), { env: { BATON_DEPLOYER: 'dave' } });
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
    expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
  });

  it('baton history shows every run: who, when, image before and after, hosts, result and duration', async () => {
    const run = await runBaton([...stateArgs('history'), '--json', '--last', '4']);
    expect(run.code, run.stderr).toBe(0);
    const entries = run.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            kind: string;
            deployer: string;
            image: string;
            outcome: string;
            exitCode: number;
            ms: number;
            hosts: { host: string; result: string; oldImage: string; newImage: string }[];
          },
      );
    expect(entries.map((e) => `${e.deployer} ${e.kind} ${e.image} ${e.outcome}`)).toEqual([
      `dave deploy ${image('v3')} deployed`,
      `dave recover undefined recovered`,
      `carol deploy ${image('v3')} did not finish`,
      `bob deploy ${image('v2')} deployed`,
    ]);
    expect(entries[0]!.hosts.map((h) => `${h.host} ${h.oldImage} -> ${h.newImage} ${h.result}`)).toEqual(
      sandbox.fleet.hosts.map((h) => `${h.name} ${image('v2')} -> ${image('v3')} deployed`),
    );
    expect(entries[0]!.ms).toBeGreaterThan(0);

    const table = await runBaton([...stateArgs('history'), '--last', '4']);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^STARTED\s+KIND\s+BY\s+IMAGE\s+HOSTS\s+RESULT\s+TOOK$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^\\S+ \\S+\\s+deploy\\s+dave\\s+${image('v2').replace(/[.:/]/g, '\\$&')} -> ${image('v3').replace(/[.:/]/g, '\\$&')}\\s+3/3\\s+deployed\\s+\\d+\\.\\ds$`,
      ),
    );
    expect(lines[2]).toMatch(/\s+recover\s+dave\s+.*\s+recovered\s+\d+\.\ds$/);
    expect(lines[3]).toMatch(/\s+carol\s+.*\s+did not finish\s*$/);
  });

  it('of two deploys started at the same instant, exactly one takes the lock: a real race, not one run after the other', async () => {
    await sandbox.emulator.clearCalls();
    const before = await liveImages();
    const target = before[0] === image('v3') ? 'v1' : 'v3';
    // Both processes are spawned in the same tick, and race for the same lock object.
    const [a, b] = await Promise.all([
      runBaton(deployArgs(target), { env: { BATON_DEPLOYER: 'ann' } }),
      runBaton(deployArgs(target), { env: { BATON_DEPLOYER: 'ben' } }),
    ]);
    const codes = [a.code, b.code].sort();
    expect(codes, a.stderr + b.stderr).toEqual([0, 4]);
    const loser = a.code === 4 ? a : b;
    expect(loser.stderr).toMatch(/baton: web\/api sandbox is being deployed by (ann|ben) \(deploy /);
    const calls = await sandbox.emulator.calls();
    const creates = calls.filter(
      (c) =>
        c.action === 'PutObject' && c.params.Key === 'baton/web/api/sandbox/lock.json' && c.params.IfNoneMatch === '*',
    );
    // Both asked to create the lock; S3's condition let one through.
    expect(creates.map((c) => c.outcome).sort()).toEqual(['PreconditionFailed', 'ok']);
    expect(calls.filter((c) => c.action === 'SuspendProcesses')).toHaveLength(1);
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image(target)));
  });

  it('deploys a tag pushed again to another image, under load, and rolls it back to the build it replaced', async () => {
    const push = sandbox.fleet.registryPushUrl;
    /** Pushes the build of `from` as `moving`; returns its image id (the same on every daemon). */
    const pushAsMoving = async (from: string) => {
      await docker(['pull', '-q', `${push}/baton/app:${from}`]);
      await docker(['tag', `${push}/baton/app:${from}`, `${push}/baton/app:moving`]);
      await docker(['push', '-q', `${push}/baton/app:moving`]);
      return (await docker(['image', 'inspect', '--format', '{{.Id}}', `${push}/baton/app:${from}`])).trim();
    };
    const hostIds = () =>
      Promise.all(
        sandbox.fleet.hosts.map(async (h) =>
          (await dockerExec(h.container, "docker inspect -f '{{.Image}}' live")).trim(),
        ),
      );
    const v2 = await pushAsMoving('v2');
    const first = await runBaton(deployArgs('moving'));
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(await hostIds()).toEqual(sandbox.fleet.hosts.map(() => v2));
    const v3 = await pushAsMoving('v3');
    expect(v3).not.toBe(v2);
    const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 50, maxSeconds: 120 });
    const again = await runBaton(deployArgs('moving'));
    const traffic = await load.stop();
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
    // Same tag, another image: every host is deployed, and says which image it ran and runs now.
    const finished = again.events.filter((e) => e.type === 'host-finished') as Extract<
      DeployEvent,
      { type: 'host-finished' }
    >[];
    expect(finished.map((e) => [e.result, e.oldImageId, e.imageId])).toEqual(
      sandbox.fleet.hosts.map(() => ['deployed', v2, v3]),
    );
    expect(finished.every((e) => /^sha256:[0-9a-f]{64}$/.test(e.digest ?? ''))).toBe(true);
    expect(await hostIds()).toEqual(sandbox.fleet.hosts.map(() => v3));
    const history = JSON.parse(
      (
        await runBaton(['history', '--config', sandbox.configFile, '--deployment', 'sandbox', '--json', '--last', '1'])
      ).stdout
        .trim()
        .split('\n')[0]!,
    ) as { hosts: { imageId?: string; digest?: string }[] };
    expect(history.hosts.map((h) => h.imageId)).toEqual(sandbox.fleet.hosts.map(() => v3));
    // Deploying it once more changes nothing: each host runs that very image.
    const same = await runBaton(deployArgs('moving'));
    expect(same.events.filter((e) => e.type === 'host-finished').map((e) => (e as { result: string }).result)).toEqual(
      sandbox.fleet.hosts.map(() => 'unchanged'),
    );
    // And a rollback to the kept container of the same tag is no no-op: back on the v2 build.
    const back = await runBaton([
      'rollback',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '--reporter',
      'json',
      '--limit',
      'all',
    ]);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(await hostIds()).toEqual(sandbox.fleet.hosts.map(() => v2));
    await docker(['rmi', `${push}/baton/app:moving`, `${push}/baton/app:v2`, `${push}/baton/app:v3`]).catch(
      () => undefined,
    );
  });
});
