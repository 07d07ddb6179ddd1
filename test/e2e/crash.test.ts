/**
 * Every way a run can end badly, through the CLI on the sandbox fleet, under load through the load
 * balancer: each ends with no failed request, every host in service on one version (or exactly the
 * mix the operator chose), the Auto Scaling processes and alarms as before the run, and no open
 * journal entry.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { docker, dockerBin, dockerExec } from '../fleet/docker.ts';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startLoad, type LoadResult } from '../fleet/load.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import { SANDBOX_STATE_BUCKET } from '../fleet/sandbox-config.ts';
import { runBaton, type BatonRun } from './baton.ts';
import { EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import type { DeployEvent } from '../../src/rollout/events.ts';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ hosts: 3 });
  // Every test starts from v1 everywhere, each host keeping a v1 container for rollback.
  const first = await runBaton(deployArgs('v1'));
  expect(first.code, first.stdout + first.stderr).toBe(0);
});
afterAll(async () => {
  await sandbox?.stop();
});

const image = (tag: string) => `${sandbox.fleet.appRepository}:${tag}`;
const common = () => ['--config', sandbox.configFile, '--deployment', 'sandbox'];
const deployArgs = (tag: string, ...more: string[]) => ['deploy', ...common(), '--image', image(tag), '--reporter', 'json', ...more];
const names = () => sandbox.fleet.hosts.map((h) => h.name);

async function liveImages(): Promise<string[]> {
  return Promise.all(sandbox.fleet.hosts.map(async (h) => (JSON.parse(await dockerExec(h.container, 'docker inspect live')) as { Config: { Image: string } }[])[0]!.Config.Image));
}

/** The fleet as it must be after any run: all in service, guards as before, nothing left open. */
async function expectFleetWhole(traffic: LoadResult): Promise<void> {
  expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
  const states = await sandbox.emulator.instanceStates();
  for (const host of sandbox.fleet.hosts) {
    expect(states.classic[host.instanceId], host.name).toBe('InService');
    expect(states.targetGroup[host.instanceId], host.name).toBe('healthy');
  }
  expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
  expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
  // In service by the load balancers' word is not enough: each host runs its live container.
  for (const host of sandbox.fleet.hosts) expect((await dockerExec(host.container, "docker inspect -f '{{.State.Running}}' live 2>&1 || true")).trim(), host.name).toBe('true');
  const lock = JSON.parse((await runBaton(['lock', 'status', ...common(), '--json'])).stdout) as { locked: boolean; journal: unknown };
  expect(lock).toMatchObject({ locked: false, journal: null });
}

const load = () => startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 50, maxSeconds: 180 });

/** Runs a deploy and sends `signal` to it once `when` matches an event. */
async function deployUntil(args: string[], when: (e: DeployEvent) => boolean, signal: NodeJS.Signals, env?: Record<string, string>): Promise<BatonRun> {
  let sent = false;
  const run = await runBaton(args, {
    ...(env && { env }),
    onEvent: (e, child) => {
      if (!sent && when(e)) {
        sent = true;
        child.kill(signal);
      }
    },
  });
  expect(sent, run.stdout + run.stderr).toBe(true);
  return run;
}

/** Every host on `tag` before a test that needs one version to start from. */
async function resetTo(tag: string): Promise<void> {
  const run = await runBaton(deployArgs(tag));
  expect(run.code, run.stdout + run.stderr).toBe(0);
}

const hostStep = (host: string, step: string) => (e: DeployEvent) => e.type === 'step' && e.scope === 'host' && e.host === host && e.step === step && e.status === 'started';

describe('crash safety', () => {
  beforeEach(async () => {
    await sandbox.emulator.clearFaults();
  });

  it('kill -9 while a host is out of service, then recover: the host is back in service on a healthy container', async () => {
    const traffic = load();
    const [, second] = names();
    const killed = await deployUntil(deployArgs('v2'), hostStep(second!, 'health check'), 'SIGKILL');
    expect(killed.code).toBeNull();
    const states = await sandbox.emulator.instanceStates();
    expect(states.classic[sandbox.fleet.hosts[1]!.instanceId]).not.toBe('InService');

    const status = await runBaton(['lock', 'status', ...common()]);
    expect(status.stdout).toContain(`  - ${second} (${sandbox.fleet.hosts[1]!.instanceId}): live (${image('v1')}) set aside as live-previous, ${image('v2')} starting in its place`);
    expect(status.stdout).toContain(`  - ${second} (${sandbox.fleet.hosts[1]!.instanceId}) out of classic ELB web-api-sandbox`);
    expect(status.stdout).toContain('aws elb register-instances-with-load-balancer --region us-east-1 --load-balancer-name web-api-sandbox --instances');

    const recovered = await runBaton(['recover', ...common(), '--reporter', 'json']);
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    const steps = recovered.events.filter((e) => e.type === 'step' && e.status === 'ok').map((e) => (e as { step: string }).step);
    // Newest first: the container before the load balancers, the guards last.
    expect(steps).toEqual(['make the container healthy', 'register again', 'register again', 'enable alarm actions', 'resume autoscaling']);
    await expectFleetWhole(await traffic.stop());
    // v2 passed its health check, so it stays: the first two hosts run v2, the third v1.
    expect(await liveImages()).toEqual([image('v2'), image('v2'), image('v1')]);
  });

  it('kill -9 with env values that are part of every AWS name, then recover: the journal keeps the names exact, recover uses them', async () => {
    await resetTo('v1');
    const traffic = load();
    // Resolved from the environment, so secrets by Baton's rule; and part of the region, every ARN,
    // the group, the load balancers and the alarms.
    const env = { E2E_REGION: 'us-east-1', E2E_SERVICE: 'api-sandbox' };
    const extra = ['-e', 'container.env.REGION=${E2E_REGION}', '-e', 'container.env.SERVICE=${E2E_SERVICE}'];
    const [, second] = names();
    const killed = await deployUntil(deployArgs('v2', ...extra), hostStep(second!, 'health check'), 'SIGKILL', env);
    expect(killed.code).toBeNull();
    const warnings = killed.events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
    expect(warnings.filter((w) => w.startsWith('the value of container.env.REGION (${E2E_REGION}) is a secret, but it is also part of'))).toHaveLength(1);
    expect(warnings.filter((w) => w.startsWith('the value of container.env.SERVICE (${E2E_SERVICE}) is a secret, but it is also part of'))).toHaveLength(1);
    // State is data: the journal holds the real names, and the guards' fix commands can be run as printed.
    const objects = (await sandbox.emulator.state()).buckets[SANDBOX_STATE_BUCKET]!;
    const journal = Object.entries(objects).find(([k]) => k.endsWith('/sandbox/journal.json'))![1];
    expect(journal).not.toContain('***');
    expect(journal).toContain('arn:aws:elasticloadbalancing:us-east-1:');
    expect(journal).toContain('"group": "web-api-sandbox"');
    expect(killed.events.filter((e) => e.type === 'guard').map((e) => (e as { fix: string }).fix).join('\n')).toContain('--auto-scaling-group-name web-api-sandbox');

    const status = await runBaton(['lock', 'status', ...common()], { env });
    expect(status.stdout).not.toContain('***');
    expect(status.stdout).toContain('aws elb register-instances-with-load-balancer --region us-east-1 --load-balancer-name web-api-sandbox --instances');
    const recovered = await runBaton(['recover', ...common(), ...extra, '--reporter', 'json'], { env });
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    expect(recovered.stdout).not.toContain('***');
    await expectFleetWhole(await traffic.stop());
  });

  it('a deploy paused (SIGSTOP) past its lease while another run resumes it, then continued: it changes nothing, the other run finishes', async () => {
    await resetTo('v1');
    await sandbox.emulator.clearCalls();
    const traffic = load();
    let paused: Promise<BatonRun> | undefined;
    let stopped: import('node:child_process').ChildProcess | undefined;
    // Paused right after its guards, during the pre-pull, with a short lease.
    const first = runBaton(deployArgs('v2', '-e', 'state.staleAfter=2s'), {
      onEvent: (e, child) => {
        if (!stopped && e.type === 'step' && e.scope === 'run' && e.step === 'pre-pull' && e.status === 'started') {
          stopped = child;
          child.kill('SIGSTOP');
        }
      },
    });
    while (!stopped) await new Promise((r) => setTimeout(r, 100));
    let continued = false;
    let resumed: BatonRun;
    try {
      // Past its lease (2s) and the bucket clock's second, by the bucket's whole-second clock.
      await new Promise((r) => setTimeout(r, 5_000));
      resumed = await runBaton(['resume', ...common(), '--reporter', 'json'], {
        onEvent: (e) => {
          // Continued while the resuming run rolls its first host, guards held.
          if (!continued && e.type === 'step' && e.scope === 'host' && e.step === 'deregister' && e.status === 'started') {
            continued = true;
            stopped!.kill('SIGCONT');
            paused = first;
          }
        },
      });
    } finally {
      if (!continued) {
        // Never left stopped behind, whatever failed: the next tests need the lock and the fleet.
        stopped.kill('SIGCONT');
        stopped.kill('SIGKILL');
        await first;
        await runBaton(['recover', ...common()]);
      }
    }
    expect(continued).toBe(true);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const old = await paused!;
    expect(old.code, old.stdout + old.stderr).toBe(3);
    const said = old.events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
    expect(said.some((m) => /^this run lost the deploy lock \(it is now held by .*\): another run may own the fleet now, so this one changes nothing more/.test(m)), said.join('\n')).toBe(true);
    expect(old.events.some((e) => e.type === 'host-finished')).toBe(false);
    // The resuming run's guards were never lifted under it: one resume and one enable, its own, at its end.
    const calls = (await sandbox.emulator.calls()).filter((c) => c.write);
    const seq = (action: string) => calls.filter((c) => c.action === action).map((c) => c.seq);
    const lastSuspend = Math.max(...seq('SuspendProcesses'));
    const firstDeregistration = Math.min(...calls.filter((c) => /^Deregister/.test(c.action)).map((c) => c.seq));
    expect(lastSuspend).toBeLessThan(firstDeregistration);
    expect(seq('ResumeProcesses').filter((n) => n > lastSuspend)).toHaveLength(1);
    expect(seq('EnableAlarmActions').filter((n) => n > lastSuspend)).toHaveLength(1);
    expect(Math.min(...seq('ResumeProcesses').filter((n) => n > lastSuspend))).toBeGreaterThan(Math.max(...calls.filter((c) => /^Register/.test(c.action)).map((c) => c.seq)));
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v2')));
  });

  it('a swap back whose kept container cannot start (its secret file gone): the live one runs again, nothing renamed, back in service, exit 1', async () => {
    await resetTo('v3');
    // v1 with a secret file mounted from a tmpfs, then v2 without: each host keeps that v1 for rollback.
    const secret = ['-e', 'container.secretFilesDir=/dev/shm', '-e', 'container.secretFiles={"/run/secrets/token": "kept-token"}'];
    const withSecret = await runBaton(deployArgs('v1', ...secret));
    expect(withSecret.code, withSecret.stdout + withSecret.stderr).toBe(0);
    await resetTo('v2');
    // As a reboot empties a tmpfs: the kept container's mount source is gone, so it cannot start.
    const [first] = sandbox.fleet.hosts;
    await dockerExec(first!.container, 'rm -rf /dev/shm/baton-secrets.*');
    const traffic = load();
    const back = await runBaton(['rollback', ...common(), '--reporter', 'json', '--limit', 'all']);
    expect(back.code, back.stdout + back.stderr).toBe(1);
    const failed = back.events.find((e) => e.type === 'step' && e.scope === 'host' && e.host === first!.name && e.step === 'swap to previous container' && e.status === 'failed') as { detail: string };
    expect(failed.detail).toContain('the kept container live-previous could not start');
    expect(failed.detail).toContain('nothing was renamed, live runs again');
    const finished = back.events.filter((e) => e.type === 'host-finished') as { host: string; result: string }[];
    expect(finished).toEqual([expect.objectContaining({ host: first!.name, result: 'rolled-back' })]);
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v2')));
    const containers = (await dockerExec(first!.container, "docker ps -a --format '{{.Names}}' | sort")).trim().split('\n');
    expect(containers).toEqual(['live', 'live-previous']);
    // The kept one never restarts by itself; the live one as configured.
    expect((await dockerExec(first!.container, "docker inspect --format '{{.HostConfig.RestartPolicy.Name}}' live live-previous")).trim().split('\n')).toEqual(['unless-stopped', 'no']);
  });

  it('kill -9 mid-rollout of a custom playbook from a static inventory (ProxyJump), serial 25% and -e, then resume: run again as it ran', async () => {
    await resetTo('v1');
    const { fleet } = sandbox;
    const inventory = join(fleet.dir, 'replay.ini');
    writeFileSync(
      inventory,
      ['[app]', ...fleet.hosts.map((h) => `${h.name} ansible_host=${h.privateIp} instance_id=${h.instanceId}`), '', '[app:vars]', 'ansible_user=deploy', `ansible_ssh_common_args='-o ProxyJump=deploy@127.0.0.1:${fleet.bastion.port}'`, ''].join('\n'),
    );
    const playbookFile = join(import.meta.dirname, 'fixtures', 'stamped-by-config.ts');
    // The configuration's own bastion is made wrong: only the inventory's ProxyJump reaches the hosts.
    const args = deployArgs('v2', '-i', inventory, '--playbook', playbookFile, '--serial', '25%', '-e', 'ssh.bastion.port=1', '-e', 'container.env.RELEASE=replayed');
    const traffic = load();
    const [, second] = names();
    const killed = await deployUntil(args, hostStep(second!, 'health check'), 'SIGKILL');
    expect(killed.code).toBeNull();
    // A value under container may be a secret: it was not recorded, so resume asks for it.
    const asks = await runBaton(['resume', ...common(), '--reporter', 'json']);
    expect(asks.code, asks.stdout + asks.stderr).toBe(2);
    expect(asks.stderr).toContain('the interrupted run was given -e container.env.RELEASE=..., whose value Baton does not record (it may be secret): give it again, as `baton resume ... -e container.env.RELEASE=<value>`');
    const resumed = await runBaton(['resume', ...common(), '--reporter', 'json', '-e', 'container.env.RELEASE=replayed']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`, as it ran (playbook ${playbookFile}, inventory ${inventory}, serial 25%, -e ssh.bastion.port=1)`);
    const started = resumed.events.find((e) => e.type === 'run-started') as { playbook: string; batches: string[][] };
    expect(started).toMatchObject({ playbook: 'stamped deploy by config', batches: names().map((n) => [n]) });
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v2')));
    // The playbook's own step ran on the first host (before the kill) and the last (resumed); the second
    // was killed after its swap, and recover kept its healthy v2: resume leaves it alone.
    for (const host of [fleet.hosts[0]!, fleet.hosts[2]!]) expect((await dockerExec(host.container, 'cat /tmp/baton-release')).trim()).toBe(image('v2'));
    expect(resumed.events.filter((e) => e.type === 'host-finished').map((e) => `${(e as { host: string }).host} ${(e as { result: string }).result}`)).toEqual([`${names()[0]} unchanged`, `${names()[1]} unchanged`, `${names()[2]} deployed`]);
    expect((await dockerExec(fleet.hosts[2]!.container, "docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' live")).split('\n')).toContain('RELEASE=replayed');
  });

  it('kill -9 mid-rollout, then resume: the rollout finishes with the same guards, skipping hosts already done', async () => {
    const traffic = load();
    const [, second] = names();
    const killed = await deployUntil(deployArgs('v3'), hostStep(second!, 'replace container'), 'SIGKILL');
    expect(killed.code).toBeNull();
    const resumed = await runBaton(['resume', ...common(), '--reporter', 'json']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`'s deploy of ${image('v3')} (started `);
    expect(resumed.stderr).toMatch(/^baton: resuming /);
    const finished = resumed.events.filter((e) => e.type === 'host-finished').map((e) => `${(e as { host: string }).host} ${(e as { result: string }).result}`);
    expect(finished).toContain(`${names()[0]} unchanged`);
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v3')));
  });

  it('SIGHUP during the pre-pull (the operator\'s session dropped): nothing leaves service, the guards are undone, exit 130', async () => {
    const traffic = load();
    const before = await liveImages();
    await sandbox.emulator.clearCalls();
    const run = await deployUntil(deployArgs('v2'), (e) => e.type === 'step' && e.step === 'pre-pull' && e.status === 'started', 'SIGHUP');
    expect(run.code, run.stdout + run.stderr).toBe(130);
    const calls = (await sandbox.emulator.calls()).map((c) => c.action);
    expect(calls).toContain('SuspendProcesses');
    expect(calls).not.toContain('DeregisterInstancesFromLoadBalancer');
    expect(await liveImages()).toEqual(before);
    await expectFleetWhole(await traffic.stop());
  });

  it('SIGTERM during a host: that host finishes, the run stops and undoes, exit 130', async () => {
    const traffic = load();
    const [first] = names();
    const run = await deployUntil(deployArgs('v1'), hostStep(first!, 'replace container'), 'SIGTERM');
    expect(run.code, run.stdout + run.stderr).toBe(130);
    expect(run.events.find((e) => e.type === 'host-finished')).toMatchObject({ host: first, result: 'deployed' });
    await expectFleetWhole(await traffic.stop());
    expect((await liveImages())[0]).toBe(image('v1'));
  });

  it('stdout closed under it (EPIPE): the run stops after the host in flight and undoes, without a stack trace', async () => {
    const traffic = load();
    const [first] = names();
    let closed = false;
    const run = await runBaton(deployArgs('v2'), {
      onEvent: (e, child) => {
        if (!closed && hostStep(first!, 'deregister')(e)) {
          closed = true;
          child.stdout!.destroy();
        }
      },
    });
    expect(closed).toBe(true);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toContain('baton: standard output is closed (EPIPE): stopping after the hosts in flight and undoing the guards');
    expect(run.stderr).not.toContain('    at ');
    await expectFleetWhole(await traffic.stop());
  });

  it('a later batch failing with onFailure rollback puts the switched hosts back: one version, exit 1', async () => {
    await resetTo('v1');
    const traffic = load();
    const before = await liveImages();
    const playbookFile = join(import.meta.dirname, 'fixtures', 'smoke-tested-deploy.ts');
    const run = await runBaton(deployArgs('v2', '--playbook', playbookFile), { env: { SMOKE_FAIL_HOST: names()[2]! } });
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.events.find((e) => e.type === 'run-finished')).toMatchObject({ outcome: 'rolled-back', exitCode: 1 });
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(before);
  });

  it('a later batch failing with --on-failure stop leaves the fleet mixed, says how, and exits 6; baton rollback then moves only those hosts', async () => {
    await resetTo('v1');
    const traffic = load();
    const before = await liveImages();
    const playbookFile = join(import.meta.dirname, 'fixtures', 'smoke-tested-deploy.ts');
    const run = await runBaton(deployArgs('v2', '--playbook', playbookFile, '--on-failure', 'stop'), { env: { SMOKE_FAIL_HOST: names()[2]! } });
    expect(run.code, run.stdout + run.stderr).toBe(6);
    const warning = run.events.find((e) => e.type === 'warning' && e.message.startsWith('THE FLEET IS MIXED')) as { message: string };
    expect(warning.message).toContain(`baton rollback --deployment sandbox --limit ${names()[0]},${names()[1]}`);
    expect(await liveImages()).toEqual([image('v2'), image('v2'), before[2]]);
    const back = await runBaton(['rollback', ...common(), '--reporter', 'json', '--limit', `${names()[0]},${names()[1]}`]);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(await liveImages()).toEqual(before);
    await expectFleetWhole(await traffic.stop());
  });

  it('a failed rollout leaves a retry file, like Ansible, that a second run with --limit @file completes', async () => {
    await resetTo('v1');
    const dir = mkdtempSync(join(tmpdir(), 'baton-retry-'));
    const playbookFile = join(import.meta.dirname, 'fixtures', 'smoke-tested-deploy.ts');
    const failed = await runBaton(deployArgs('v2', '--playbook', playbookFile, '--on-failure', 'stop'), { cwd: dir, env: { SMOKE_FAIL_HOST: names()[2]! } });
    expect(failed.code, failed.stdout + failed.stderr).toBe(6);
    const retry = join(dir, 'smoke-tested-deploy.retry');
    expect(readFileSync(retry, 'utf8')).toBe(`${names()[2]}\n`);
    expect(failed.events.some((e) => e.type === 'warning' && e.message.endsWith('--limit @smoke-tested-deploy.retry'))).toBe(true);
    const traffic = load();
    const again = await runBaton(deployArgs('v2', '--playbook', playbookFile, '--limit', `@${retry}`), { cwd: dir });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.events.filter((e) => e.type === 'host-finished').map((e) => (e as { host: string }).host)).toEqual([names()[2]]);
    expect(await liveImages()).toEqual(names().map(() => image('v2')));
    await expectFleetWhole(await traffic.stop());
  });

  it('sshd sessions on a host killed mid-step: Baton opens the connection again and puts the host back, exit 1', async () => {
    const traffic = load();
    const host = sandbox.fleet.hosts[0]!;
    const before = await liveImages();
    const playbookFile = join(import.meta.dirname, 'fixtures', 'smoke-tested-deploy.ts');
    const run = await runBaton(deployArgs(before[0] === image('v2') ? 'v3' : 'v2', '--playbook', playbookFile), { env: { KILL_SSHD_HOST: host.name } });
    expect(run.code, run.stdout + run.stderr).toBe(1);
    // The command cut off fails at once (not at its deadline); the compensation runs on a new session.
    const chaos = run.events.find((e) => e.type === 'step' && e.step === 'chaos' && e.status === 'failed') as { detail: string; ms: number };
    expect(chaos.detail).toContain('the SSH connection closed');
    expect(chaos.ms).toBeLessThan(5_000);
    expect(run.events.find((e) => e.type === 'host-finished')).toMatchObject({ host: host.name, result: 'rolled-back' });
    expect(await liveImages()).toEqual(before);
    await expectFleetWhole(await traffic.stop());
  });

  it('the bastion connection dropped mid-rollout: nothing is left behind that recover cannot undo', async () => {
    const traffic = load();
    const bastion = `baton-${sandbox.fleet.id}-bastion`;
    let dropped = false;
    const run = await runBaton(deployArgs('v3'), {
      onEvent: (e) => {
        if (!dropped && hostStep(names()[1]!, 'replace container')(e)) {
          dropped = true;
          // Its sessions die (the listener stays), Baton's single connection with them.
          void dockerExec(bastion, "pkill -f '[s]shd: deploy' || true").catch(() => undefined);
        }
      },
    });
    expect(dropped).toBe(true);
    expect([1, 3], run.stdout + run.stderr).toContain(run.code);
    if (run.code === 3) {
      const recovered = await runBaton(['recover', ...common(), '--reporter', 'json']);
      expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    }
    await expectFleetWhole(await traffic.stop());
  });

  it('an image that exits at start is rolled back at once, with its last log lines', async () => {
    const traffic = load();
    const before = await liveImages();
    const run = await runBaton(deployArgs('crash'));
    expect(run.code, run.stdout + run.stderr).toBe(1);
    const failed = run.events.find((e) => e.type === 'host-finished') as { result: string; error: string };
    expect(failed.result).toBe('rolled-back');
    expect(failed.error).toMatch(/the container live (exited|is gone|exited and was restarted)/);
    expect(failed.error).toContain("last lines of live's log");
    expect(await liveImages()).toEqual(before);
    await expectFleetWhole(await traffic.stop());
  });

  it('AWS throttling and 5xx bursts are retried: the deploy goes through', async () => {
    const traffic = load();
    for (const action of ['DeregisterInstancesFromLoadBalancer', 'DescribeTargetHealth', 'SuspendProcesses']) await sandbox.emulator.injectFault({ action, kind: 'throttle', times: 2 });
    for (const action of ['RegisterTargets', 'EnableAlarmActions']) await sandbox.emulator.injectFault({ action, kind: 'error5xx', times: 2 });
    const run = await runBaton(deployArgs('v1'));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v1')));
  });

  it("S3's own faults on the state bucket (409 conflicts, answers lost after the write, slow answers): the deploy goes through, its state exact", async () => {
    await resetTo('v3');
    await sandbox.emulator.clearCalls();
    const traffic = load();
    await sandbox.emulator.injectFault({ action: 'PutObject', kind: 'conflict409', key: 'journal.json', times: 3 });
    await sandbox.emulator.injectFault({ action: 'PutObject', kind: 'lost-answer', key: 'journal.json', times: 2 });
    await sandbox.emulator.injectFault({ action: 'PutObject', kind: 'lost-answer', key: 'lock.json', times: 2 });
    await sandbox.emulator.injectFault({ action: 'PutObject', kind: 'conflict409', key: 'lock.json', times: 2 });
    await sandbox.emulator.injectFault({ action: 'PutObject', kind: 'latency', key: 'history/', ms: 1_500, times: 2 });
    const run = await runBaton(deployArgs('v1'));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.events.some((e) => e.type === 'warning' && /lost the deploy lock|could not (write|close) the journal/.test(e.message))).toBe(false);
    const s3 = (await sandbox.emulator.calls()).filter((c) => c.service === 's3');
    expect(s3.filter((c) => c.outcome === 'ConditionalRequestConflict')).toHaveLength(5);
    expect(s3.filter((c) => c.outcome === 'ok, answer lost').map((c) => c.params.Key), JSON.stringify(s3.map((c) => [c.action, c.params.Key, c.params.IfMatch ?? c.params.IfNoneMatch, c.outcome]))).toHaveLength(4);
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v1')));
    const [last] = (await runBaton(['history', ...common(), '--json', '--last', '1'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { outcome: string; exitCode: number });
    expect(last).toMatchObject({ outcome: 'deployed', exitCode: 0 });
  });

  it('the registry down during the pre-pull: nothing leaves service, exit 1', async () => {
    const traffic = load();
    const registry = `baton-${sandbox.fleet.id}-registry`;
    await sandbox.emulator.clearCalls();
    await docker(['pause', registry]);
    try {
      const run = await runBaton(deployArgs('v2', '-e', 'timeouts.pull=5s'));
      expect(run.code, run.stdout + run.stderr).toBe(1);
      expect(run.stdout).toMatch(/could not pull .*v2; no host left service/);
    } finally {
      await docker(['unpause', registry]);
    }
    const calls = (await sandbox.emulator.calls()).map((c) => c.action);
    expect(calls).not.toContain('DeregisterInstancesFromLoadBalancer');
    await expectFleetWhole(await traffic.stop());
  });

  it('InService never reached: the host is put back where it can be, kept out where it cannot, exit 3; recover finishes it', async () => {
    const traffic = load();
    const [first] = names();
    await sandbox.emulator.injectFault({ action: 'RegisterInstancesWithLoadBalancer', kind: 'stuck-registration' });
    const run = await runBaton(deployArgs('v2', '-e', 'timeouts.inService=3s'));
    expect(run.code, run.stdout + run.stderr).toBe(3);
    const host = run.events.find((e) => e.type === 'host-finished') as { host: string; result: string; error: string };
    expect(host).toMatchObject({ host: first, result: 'failed' });
    expect(host.error).toMatch(/waiting for app-1 to be in service in classic ELB web-api-sandbox/);
    expect(run.events.filter((e) => e.type === 'host-finished')).toHaveLength(1);
    await sandbox.emulator.clearFaults();
    const recovered = await runBaton(['recover', ...common(), '--reporter', 'json']);
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    await expectFleetWhole(await traffic.stop());
  });

  it('a host stuck out with maxFailPercentage above 0: capacity is counted, the next batch never takes the load balancer below minInService', async () => {
    await resetTo('v1');
    await sandbox.emulator.clearCalls();
    const traffic = load();
    await sandbox.emulator.injectFault({ action: 'RegisterInstancesWithLoadBalancer', kind: 'stuck-registration' });
    const run = await runBaton(deployArgs('v2', '-e', 'timeouts.inService=3s', '-e', 'rollout.minInService=2', '-e', 'rollout.maxFailPercentage=100'));
    expect(run.code, run.stdout + run.stderr).toBe(3);
    const [first, second] = names();
    expect(run.events.filter((e) => e.type === 'host-finished').map((e) => `${(e as { host: string }).host} ${(e as { result: string }).result}`)).toEqual([`${first} failed`]);
    const said = run.events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
    expect(said.some((m) => m.startsWith(`stopped before batch 2/3: classic ELB web-api-sandbox has 2 members in service; taking ${second} out would leave 1, fewer than rollout.minInService (2)`)), said.join('\n')).toBe(true);
    // Never more than one host out of the classic ELB at once.
    const deregistered = (await sandbox.emulator.calls()).filter((c) => c.action === 'DeregisterInstancesFromLoadBalancer').map((c) => c.params['Instances.member.1.InstanceId']);
    expect(new Set(deregistered)).toEqual(new Set([sandbox.fleet.hosts[0]!.instanceId]));
    await sandbox.emulator.clearFaults();
    const recovered = await runBaton(['recover', ...common(), '--reporter', 'json']);
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    await expectFleetWhole(await traffic.stop());
  });

  it('a host whose disk fills up during the pull: nothing leaves service, exit 1, the error says why', async () => {
    const traffic = load();
    // An image with a layer no host has yet, so the pull must write it.
    const tag = `disk-full-${Date.now().toString(36)}`;
    const pushed = `${sandbox.fleet.registryPushUrl}/baton/app:${tag}`;
    const dir = mkdtempSync(join(tmpdir(), 'baton-layer-'));
    writeFileSync(join(dir, 'blob'), randomBytes(512 * 1024));
    execFileSync('sh', ['-c', `tar -C "$1" -c blob | "$2" import - "$3" >/dev/null`, 'sh', dir, dockerBin, pushed]);
    await docker(['push', '-q', pushed]);
    const host = sandbox.fleet.hosts[0]!;
    // Where dockerd writes a layer while pulling it: a 16 KiB filesystem.
    await dockerExec(host.container, 'mount -t tmpfs -o size=16k tmpfs /var/lib/docker/tmp');
    await sandbox.emulator.clearCalls();
    try {
      const run = await runBaton(deployArgs(tag, '-e', 'timeouts.pull=30s'));
      expect(run.code, run.stdout + run.stderr).toBe(1);
      expect(run.stdout).toMatch(/could not pull .*; no host left service/);
      expect(run.stdout).toMatch(/no space left on device/i);
    } finally {
      await dockerExec(host.container, 'umount /var/lib/docker/tmp');
    }
    expect((await sandbox.emulator.calls()).map((c) => c.action)).not.toContain('DeregisterInstancesFromLoadBalancer');
    await expectFleetWhole(await traffic.stop());
  });

  it('a deregistration that never completes: the host goes back in service unchanged, exit 1', async () => {
    const traffic = load();
    const before = await liveImages();
    await sandbox.emulator.injectFault({ action: 'DeregisterInstancesFromLoadBalancer', kind: 'stuck-deregistration' });
    // The wait is the load balancer's own draining timeout (30 s in the sandbox) plus the margin.
    const run = await runBaton(deployArgs(before[0] === image('v2') ? 'v3' : 'v2', '-e', 'timeouts.drain=1s', '-e', 'timeouts.drainMargin=0', '-e', 'timeouts.inService=30s'));
    await sandbox.emulator.clearFaults();
    expect(run.code, run.stdout + run.stderr).toBe(1);
    const host = run.events.find((e) => e.type === 'host-finished') as { result: string; error: string };
    expect(host.result).toBe('rolled-back');
    expect(host.error).toMatch(/waiting for app-1 to drain from classic ELB web-api-sandbox/);
    expect(await liveImages()).toEqual(before);
    await expectFleetWhole(await traffic.stop());
  });

  it('the group cannot launch an instance mid-rollout: Launch is suspended until the run ends', async () => {
    const before = (await sandbox.emulator.state()).instances;
    await sandbox.emulator.injectFault({ action: 'DescribeInstanceHealth', kind: 'launch-instance', times: 20 });
    const run = await runBaton(deployArgs('v3'));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect((await sandbox.emulator.calls()).filter((c) => c.action === 'Launch')).toEqual([]);
    expect((await sandbox.emulator.state()).instances).toEqual(before);
    await sandbox.emulator.clearFaults();
  });

  const phases: [string, (e: DeployEvent) => boolean][] = [
    ['the pre-pull', (e) => e.type === 'step' && e.step === 'pre-pull' && e.status === 'started'],
    ['deregister', (e) => hostStep(names()[0]!, 'deregister')(e)],
    ['replace container', (e) => hostStep(names()[0]!, 'replace container')(e)],
    ['health check', (e) => hostStep(names()[0]!, 'health check')(e)],
    ['register', (e) => hostStep(names()[0]!, 'register')(e)],
  ];

  it.each(phases)('kill -9 during %s, then recover: every host in service, nothing left open; then resume: one version', async (_, when) => {
    const traffic = load();
    const tag = (await liveImages())[0] === image('v1') ? 'v2' : 'v1';
    const killed = await deployUntil(deployArgs(tag), when, 'SIGKILL');
    expect(killed.code).toBeNull();
    const recovered = await runBaton(['recover', ...common(), '--reporter', 'json']);
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    await expectFleetWhole(await traffic.stop());
    // Recover puts hosts back in service as they are; resume then finishes the killed rollout.
    const again = load();
    const resumed = await runBaton(['resume', ...common(), '--reporter', 'json']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    await expectFleetWhole(await again.stop());
    expect(await liveImages()).toEqual(names().map(() => image(tag)));
  });

  it.each(phases)('Ctrl-C once and twice during %s: the host in flight is finished or put back, guards undone, exit 130', async (_, when) => {
    for (const times of [1, 2]) {
      const traffic = load();
      const tag = (await liveImages())[0] === image('v1') ? 'v2' : 'v1';
      let sent = false;
      const run = await runBaton(deployArgs(tag), {
        onEvent: (e, child) => {
          if (!sent && when(e)) {
            sent = true;
            child.kill('SIGINT');
            if (times === 2) setTimeout(() => child.kill('SIGINT'), 50);
          }
        },
      });
      expect(sent).toBe(true);
      expect(run.code, `${times}x: ${run.stdout}${run.stderr}`).toBe(130);
      await expectFleetWhole(await traffic.stop());
      // One host at most was changed; it runs one image or the other, never none.
      const images = await liveImages();
      expect(images.slice(1).every((i) => i === images[1])).toBe(true);
    }
  });

  it('a lock force-released under a running deploy stops it at the next safe point, with the guards undone', async () => {
    await resetTo('v1');
    const traffic = load();
    const [first] = names();
    let released: Promise<BatonRun> | undefined;
    const run = await runBaton(deployArgs('v3', '-e', 'state.staleAfter=2s'), {
      onEvent: (e) => {
        if (!released && hostStep(first!, 'deregister')(e)) released = runBaton(['lock', 'release', '--force', ...common()]);
      },
    });
    expect((await released!).code).toBe(0);
    expect(run.code, run.stdout + run.stderr).toBe(130);
    expect(run.events.some((e) => e.type === 'warning' && e.message.startsWith('this run lost the deploy lock (it was released by force)'))).toBe(true);
    // Stopped at the next safe point: the host in flight finished, the batches after it never started.
    const finished = run.events.filter((e) => e.type === 'host-finished') as { result: string }[];
    expect(finished.length).toBeLessThan(names().length);
    expect(finished.every((h) => h.result === 'deployed')).toBe(true);
    await expectFleetWhole(await traffic.stop());
  });

  // Last: it terminates an instance for good, which no later test could undo.
  it('a terminated instance in the journal never wedges it: recover closes its entries with a note, puts the rest back, and deploys start again', async () => {
    await resetTo('v1');
    const [, second] = names();
    const killed = await deployUntil(deployArgs('v2'), hostStep(second!, 'health check'), 'SIGKILL');
    expect(killed.code).toBeNull();
    const gone = sandbox.fleet.hosts[1]!.instanceId;
    const ec2 = new EC2Client({ region: 'us-east-1', endpoint: sandbox.emulator.url, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' } });
    try {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone] }));
    } finally {
      ec2.destroy();
    }
    const recovered = await runBaton(['recover', ...common(), '--reporter', 'json']);
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    const closed = recovered.events.flatMap((e) => (e.type === 'warning' && e.message.startsWith('closed without undo: ') ? [e.message] : []));
    expect(closed).toEqual([
      `closed without undo: ${second} (${gone}): live (${image('v1')}) set aside as live-previous, ${image('v2')} starting in its place (instance ${gone} is terminated: nothing left to undo)`,
      `closed without undo: ${second} (${gone}) out of target group web-api-sandbox (instance ${gone} is terminated: nothing left to undo)`,
      `closed without undo: ${second} (${gone}) out of classic ELB web-api-sandbox (instance ${gone} is terminated: nothing left to undo)`,
    ]);
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
    expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
    const lock = JSON.parse((await runBaton(['lock', 'status', ...common(), '--json'])).stdout) as { locked: boolean; journal: unknown };
    expect(lock).toMatchObject({ locked: false, journal: null });
    // The next deploy starts, on the instances that are left.
    const next = await runBaton(deployArgs('v2'));
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(next.events.filter((e) => e.type === 'host-finished').map((e) => (e as { host: string }).host)).not.toContain(second);
  });
});
