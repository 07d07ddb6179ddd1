/** Runs against a faulty world: AWS throttling and 5xx, S3's faults, the registry down, a full disk, a stuck deregistration, terminated instances: each ends as crash-kit.ts says a run must. */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { docker, dockerBin, dockerExec } from '../fleet/docker.ts';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runBaton } from './baton.ts';
import { EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import {
  aNewTag,
  common,
  deployArgs,
  deployUntil,
  expectFleetWhole,
  hostStep,
  image,
  liveImages,
  load,
  names,
  resetTo,
  sandbox,
  useCrashSandbox,
} from './crash-kit.ts';

useCrashSandbox();

describe('crash safety', () => {
  it('AWS throttling and 5xx bursts are retried: the deploy goes through', async () => {
    const traffic = load();
    for (const action of ['DeregisterInstancesFromLoadBalancer', 'DescribeTargetHealth', 'SuspendProcesses'])
      await sandbox.emulator.injectFault({ action, kind: 'throttle', times: 2 });
    for (const action of ['RegisterTargets', 'EnableAlarmActions'])
      await sandbox.emulator.injectFault({ action, kind: 'error5xx', times: 2 });
    await sandbox.emulator.clearCalls();
    const tag = await aNewTag();
    const run = await runBaton(deployArgs(tag));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image(tag)));
    // Each fault was met and retried through: two errors, then an answer.
    const calls = await sandbox.emulator.calls();
    for (const action of [
      'DeregisterInstancesFromLoadBalancer',
      'DescribeTargetHealth',
      'SuspendProcesses',
      'RegisterTargets',
      'EnableAlarmActions',
    ]) {
      const outcomes = calls.filter((c) => c.action === action).map((c) => c.outcome);
      expect(outcomes.slice(0, 3), action).toEqual([
        expect.not.stringMatching(/^ok/),
        expect.not.stringMatching(/^ok/),
        'ok',
      ]);
    }
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
    expect(
      run.events.some(
        (e) => e.type === 'warning' && /lost the deploy lock|could not (write|close) the journal/.test(e.message),
      ),
    ).toBe(false);
    const s3 = (await sandbox.emulator.calls()).filter((c) => c.service === 's3');
    expect(s3.filter((c) => c.outcome === 'ConditionalRequestConflict')).toHaveLength(5);
    expect(
      s3.filter((c) => c.outcome === 'ok, answer lost').map((c) => c.params.Key),
      JSON.stringify(s3.map((c) => [c.action, c.params.Key, c.params.IfMatch ?? c.params.IfNoneMatch, c.outcome])),
    ).toHaveLength(4);
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v1')));
    const [last] = (await runBaton(['history', ...common(), '--json', '--last', '1'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { outcome: string; exitCode: number });
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

  it('a host whose disk fills up during the pull: nothing leaves service, exit 1, the error says why', async () => {
    const traffic = load();
    // An image with a layer no host has yet, so the pull must write it.
    const tag = `disk-full-${Date.now().toString(36)}`;
    const pushed = `${sandbox.fleet.registryPushUrl}/baton/app:${tag}`;
    const dir = mkdtempSync(join(tmpdir(), 'baton-layer-'));
    writeFileSync(join(dir, 'blob'), randomBytes(512 * 1024));
    execFileSync('sh', ['-c', `tar -C "$1" -c blob | "$2" import - "$3" >/dev/null`, 'sh', dir, dockerBin, pushed]);
    await docker(['push', '-q', pushed]);
    // The registry has it now: the machine's own daemon keeps no tag of it, nor the folder.
    await docker(['image', 'rm', pushed]);
    rmSync(dir, { recursive: true });
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
    const run = await runBaton(
      deployArgs(
        before[0] === image('v2') ? 'v3' : 'v2',
        '-e',
        'timeouts.drain=1s',
        '-e',
        'timeouts.drainMargin=0',
        '-e',
        'timeouts.inService=30s',
      ),
    );
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

  it('a terminated instance in the journal never wedges it: recover closes its entries with a note, puts the rest back, and deploys start again', async () => {
    await resetTo('v1');
    const [, second] = names();
    const killed = await deployUntil(deployArgs('v2'), hostStep(second!, 'health check'), 'SIGKILL');
    expect(killed.code).toBeNull();
    const gone = sandbox.fleet.hosts[1]!.instanceId;
    const ec2 = new EC2Client({
      region: 'us-east-1',
      endpoint: sandbox.emulator.url,
      credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
    });
    try {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone] }));
    } finally {
      ec2.destroy();
    }
    const recovered = await runBaton(['recover', ...common(), '--reporter', 'json']);
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    const closed = recovered.events.flatMap((e) =>
      e.type === 'warning' && e.message.startsWith('closed without undo: ') ? [e.message] : [],
    );
    expect(closed).toEqual([
      `closed without undo: ${second} (${gone}): live (${image('v1')}) set aside as live-previous, ${image('v2')} starting in its place (instance ${gone} is terminated: nothing left to undo)`,
      `closed without undo: ${second} (${gone}) out of target group web-api-sandbox (instance ${gone} is terminated: nothing left to undo)`,
      `closed without undo: ${second} (${gone}) out of classic ELB web-api-sandbox (instance ${gone} is terminated: nothing left to undo)`,
    ]);
    expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
    expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
    const lock = JSON.parse((await runBaton(['lock', 'status', ...common(), '--json'])).stdout) as {
      locked: boolean;
      journal: unknown;
    };
    expect(lock).toMatchObject({ locked: false, journal: null });
    // The next deploy starts, on the instances that are left.
    const next = await runBaton(deployArgs('v2'));
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(
      next.events.filter((e) => e.type === 'host-finished').map((e) => (e as { host: string }).host),
    ).not.toContain(second);
  });
});
