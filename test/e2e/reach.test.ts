/**
 * Reaching hosts the way production allows: a target group that knows the hosts by IP, and a hardened
 * app host whose sshd refuses TCP forwarding (`AllowTcpForwarding no`, the sandbox's last host), where
 * the HTTP health check runs on the host itself, proven reachable before any host leaves service.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerExec, liveImage } from '../fleet/docker.ts';
import { startLoad } from '../fleet/load.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import { RESOURCES } from '../fleet/sandbox.ts';
import { runBaton, runBatonInTerminal } from './baton.ts';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ hosts: 3, targetType: 'ip' });
});
afterAll(async () => {
  await sandbox?.stop();
});

const image = (tag: string) => `${sandbox.fleet.appRepository}:${tag}`;
const args = (...more: string[]) => ['--config', sandbox.configFile, '--deployment', 'sandbox', ...more];
type Step = { type: 'step'; step: string; status: string; detail?: string };

describe('an IP target group and a host that refuses forwarding', () => {
  it('deploy with 0 failed requests under load through both load balancers, IP targets drained by IP', async () => {
    const hardened = sandbox.fleet.hosts.find((h) => !h.tcpForwarding)!;
    expect(hardened, 'the sandbox has a hardened host').toBeDefined();
    await sandbox.emulator.clearCalls();
    const loads = [sandbox.fleet.lb.elbUrl, sandbox.fleet.lb.targetGroupUrl].map((url) =>
      startLoad({ url, concurrency: 2, ratePerSecond: 25, maxSeconds: 120 }),
    );
    const run = await runBaton(['deploy', ...args('--image', image('v2'), '--reporter', 'json')]);
    const traffic = await Promise.all(loads.map((l) => l.stop()));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    for (const t of traffic) {
      expect(t.requests).toBeGreaterThan(20);
      expect(t.errors + t.non2xx, JSON.stringify(t.failures)).toBe(0);
    }
    for (const h of sandbox.fleet.hosts) expect(await liveImage(h.container)).toBe(image('v2'));

    // The health check was proven before anything changed, on the hardened host with its own client.
    const check = run.events.find(
      (e): e is typeof e & Step =>
        e.type === 'step' && (e as Step).step === 'check: health check' && (e as Step).status === 'ok',
    ) as Step | undefined;
    expect(check?.detail).toContain(`${hardened.name}: HTTP 200 (sshd refuses forwarding`);
    const firstWrite = run.events.findIndex((e) => e.type === 'guard');
    expect(run.events.indexOf(check as never)).toBeLessThan(firstWrite);

    // The target group was told about each host by its private IP and port, the classic ELB by instance id.
    const calls = await sandbox.emulator.calls();
    const targets = (action: string) =>
      calls
        .filter((c) => c.action === action)
        .map((c) => `${c.params['Targets.member.1.Id']}:${c.params['Targets.member.1.Port']}`);
    const ips = sandbox.fleet.hosts.map((h) => `${h.privateIp}:8080`).sort();
    expect(targets('DeregisterTargets').sort()).toEqual(ips);
    expect(targets('RegisterTargets').sort()).toEqual(ips);
    const state = await sandbox.emulator.state();
    expect(state.targetGroups[RESOURCES.targetGroup]).toEqual(
      Object.fromEntries(sandbox.fleet.hosts.map((h) => [h.privateIp, 'healthy'])),
    );
  });

  it('--check names the IP target and the on-host check', async () => {
    const hardened = sandbox.fleet.hosts.find((h) => !h.tcpForwarding)!;
    const run = await runBaton(['deploy', ...args('--image', image('v3'), '--check', '--reporter', 'plain')]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain(`target group ${RESOURCES.targetGroup} (IP ${hardened.privateIp}:8080)`);
    expect(run.stdout).toContain(`${hardened.name}: HTTP 200 (sshd refuses forwarding: checked on the host)`);
  });

  it('stop before anything changes when the hardened host has no HTTP client, naming the setting', async () => {
    const hardened = sandbox.fleet.hosts.find((h) => !h.tcpForwarding)!;
    // Leave the host no HTTP client: the deploy user's shell becomes dash, bash and busybox (its wget) are
    // hidden; the daemons already running keep theirs.
    const hide =
      'usermod -s /bin/sh deploy && mv /usr/bin/bash /usr/bin/bash.hidden && mv /usr/bin/busybox /usr/bin/busybox.hidden';
    const restore =
      'mv /usr/bin/bash.hidden /usr/bin/bash; mv /usr/bin/busybox.hidden /usr/bin/busybox; usermod -s /bin/bash deploy';
    await dockerExec(hardened.container, hide);
    try {
      await sandbox.emulator.clearCalls();
      const run = await runBaton(['deploy', ...args('--image', image('v3'), '--reporter', 'plain')]);
      expect(run.code, run.stdout + run.stderr).toBe(2);
      expect(run.stdout + run.stderr).toMatch(
        new RegExp(
          `health\\.http: ${hardened.name}: its sshd refuses TCP forwarding .*no HTTP client.*curl, wget or bash.*health\\.command`,
        ),
      );
      expect((await sandbox.emulator.calls()).filter((c) => c.write)).toEqual([]);
      for (const h of sandbox.fleet.hosts) expect(await liveImage(h.container)).toBe(image('v2'));
    } finally {
      await dockerExec(hardened.container, restore);
    }
  });

  it('prune old images of the repository after a deploy, keeping what containers use, never other repositories', async () => {
    const repo = sandbox.fleet.appRepository;
    const images = async (container: string) =>
      (await dockerExec(container, `docker image ls --format '{{.Repository}}:{{.Tag}}' | sort`))
        .split('\n')
        .filter(Boolean);
    for (const h of sandbox.fleet.hosts) await dockerExec(h.container, `docker tag ${repo}:v1 other/keep:1`);
    expect(await images(sandbox.fleet.hosts[0]!.container)).toContain(`${repo}:v1`);
    const run = await runBaton([
      'deploy',
      ...args('--image', image('v3'), '--reporter', 'json', '-e', 'container.keepImages=0'),
    ]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const pruned = run.events.find(
      (e): e is typeof e & Step =>
        e.type === 'step' && (e as Step).step === 'prune images' && (e as Step).status === 'ok',
    ) as Step | undefined;
    for (const h of sandbox.fleet.hosts) {
      expect(pruned?.detail).toContain(`${h.name}: removed :v1`);
      // live runs v3, live-previous keeps v2 for rollback: both stay; v1 goes; another repository's tag stays.
      expect(await images(h.container)).toEqual(['other/keep:1', `${repo}:v2`, `${repo}:v3`]);
    }
  });

  it('on a terminal, a failed rollout draws its failed batch and the batches it never reached, then exits', async () => {
    // --serial 1: three batches; the first host fails its health check and the run stops after it.
    const run = await runBatonInTerminal(
      [
        'deploy',
        ...args('--image', image('unhealthy'), '--serial', '1', '--reporter', 'tty', '-e', 'health.timeout=5s'),
      ],
      [],
      { timeoutMs: 120_000, columns: 120 },
    );
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain('1 of 1 hosts failed');
    expect(run.output).toMatch(/batch 3\/3: not run/);
    expect(run.output).toMatch(/rolled-back in .* \(exit 1\)/);
  });
});
