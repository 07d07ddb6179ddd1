/** Runs that fail on the fleet: failed batches, dropped SSH, containers that cannot start, capacity, InService never reached: each ends as crash-kit.ts says a run must. */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { dockerExec } from '../fleet/docker.ts';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runBaton } from './baton.ts';
import {
  aNewTag,
  common,
  deployArgs,
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
  it('a swap back whose kept container cannot start (its secret file gone): the live one runs again, nothing renamed, back in service, exit 1', async () => {
    await resetTo('v3');
    // v1 with a secret file mounted from a tmpfs, then v2 without: each host keeps that v1 for rollback.
    const secret = [
      '-e',
      'container.secretFilesDir=/dev/shm',
      '-e',
      'container.secretFiles={"/run/secrets/token": "kept-token"}',
    ];
    const withSecret = await runBaton(deployArgs('v1', ...secret));
    expect(withSecret.code, withSecret.stdout + withSecret.stderr).toBe(0);
    await resetTo('v2');
    // As a reboot empties a tmpfs: the kept container's mount source is gone, so it cannot start.
    const [first] = sandbox.fleet.hosts;
    await dockerExec(first!.container, 'rm -rf /dev/shm/baton-secrets.*');
    const traffic = load();
    const back = await runBaton(['rollback', ...common(), '--reporter', 'json', '--limit', 'all']);
    expect(back.code, back.stdout + back.stderr).toBe(1);
    const failed = back.events.find(
      (e) =>
        e.type === 'step' &&
        e.scope === 'host' &&
        e.host === first!.name &&
        e.step === 'swap to previous container' &&
        e.status === 'failed',
    ) as { detail: string };
    expect(failed.detail).toContain('the kept container live-previous could not start');
    expect(failed.detail).toContain('nothing was renamed, live runs again');
    const finished = back.events.filter((e) => e.type === 'host-finished') as { host: string; result: string }[];
    expect(finished).toEqual([expect.objectContaining({ host: first!.name, result: 'rolled-back' })]);
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v2')));
    const containers = (await dockerExec(first!.container, "docker ps -a --format '{{.Names}}' | sort"))
      .trim()
      .split('\n');
    expect(containers).toEqual(['live', 'live-previous']);
    // The kept one never restarts by itself; the live one as configured.
    expect(
      (
        await dockerExec(
          first!.container,
          "docker inspect --format '{{.HostConfig.RestartPolicy.Name}}' live live-previous",
        )
      )
        .trim()
        .split('\n'),
    ).toEqual(['unless-stopped', 'no']);
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
    const run = await runBaton(deployArgs('v2', '--playbook', playbookFile, '--on-failure', 'stop'), {
      env: { SMOKE_FAIL_HOST: names()[2]! },
    });
    expect(run.code, run.stdout + run.stderr).toBe(6);
    const warning = run.events.find((e) => e.type === 'warning' && e.message.startsWith('THE FLEET IS MIXED')) as {
      message: string;
    };
    expect(warning.message).toContain(`baton rollback --deployment sandbox --limit ${names()[0]},${names()[1]}`);
    expect(await liveImages()).toEqual([image('v2'), image('v2'), before[2]]);
    const back = await runBaton([
      'rollback',
      ...common(),
      '--reporter',
      'json',
      '--limit',
      `${names()[0]},${names()[1]}`,
    ]);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(await liveImages()).toEqual(before);
    await expectFleetWhole(await traffic.stop());
  });

  it('a failed rollout leaves a retry file, like Ansible, that a second run with --limit @file completes', async () => {
    await resetTo('v1');
    const dir = mkdtempSync(join(tmpdir(), 'baton-retry-'));
    const playbookFile = join(import.meta.dirname, 'fixtures', 'smoke-tested-deploy.ts');
    const failed = await runBaton(deployArgs('v2', '--playbook', playbookFile, '--on-failure', 'stop'), {
      cwd: dir,
      env: { SMOKE_FAIL_HOST: names()[2]! },
    });
    expect(failed.code, failed.stdout + failed.stderr).toBe(6);
    const retry = join(dir, 'smoke-tested-deploy.retry');
    expect(readFileSync(retry, 'utf8')).toBe(`${names()[2]}\n`);
    expect(
      failed.events.some((e) => e.type === 'warning' && e.message.endsWith('--limit @smoke-tested-deploy.retry')),
    ).toBe(true);
    const traffic = load();
    const again = await runBaton(deployArgs('v2', '--playbook', playbookFile, '--limit', `@${retry}`), { cwd: dir });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.events.filter((e) => e.type === 'host-finished').map((e) => (e as { host: string }).host)).toEqual([
      names()[2],
    ]);
    expect(await liveImages()).toEqual(names().map(() => image('v2')));
    await expectFleetWhole(await traffic.stop());
  });

  it('sshd sessions on a host killed mid-step: Baton opens the connection again and puts the host back, exit 1', async () => {
    const traffic = load();
    const host = sandbox.fleet.hosts[0]!;
    const before = await liveImages();
    const playbookFile = join(import.meta.dirname, 'fixtures', 'smoke-tested-deploy.ts');
    const run = await runBaton(deployArgs(before[0] === image('v2') ? 'v3' : 'v2', '--playbook', playbookFile), {
      env: { KILL_SSHD_HOST: host.name },
    });
    expect(run.code, run.stdout + run.stderr).toBe(1);
    // The command cut off fails at once (not at its deadline); the compensation runs on a new session.
    const chaos = run.events.find((e) => e.type === 'step' && e.step === 'chaos' && e.status === 'failed') as {
      detail: string;
      ms: number;
    };
    expect(chaos.detail).toContain('the SSH connection closed');
    expect(chaos.ms).toBeLessThan(5_000);
    expect(run.events.find((e) => e.type === 'host-finished')).toMatchObject({
      host: host.name,
      result: 'rolled-back',
    });
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

  it('InService never reached: the host is put back where it can be, kept out where it cannot, exit 3; recover finishes it', async () => {
    const traffic = load();
    const [first] = names();
    await sandbox.emulator.injectFault({ action: 'RegisterInstancesWithLoadBalancer', kind: 'stuck-registration' });
    const run = await runBaton(deployArgs(await aNewTag(), '-e', 'timeouts.inService=3s'));
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
    const run = await runBaton(
      deployArgs(
        'v2',
        '-e',
        'timeouts.inService=3s',
        '-e',
        'rollout.minInService=2',
        '-e',
        'rollout.maxFailPercentage=100',
      ),
    );
    expect(run.code, run.stdout + run.stderr).toBe(3);
    const [first, second] = names();
    expect(
      run.events
        .filter((e) => e.type === 'host-finished')
        .map((e) => `${(e as { host: string }).host} ${(e as { result: string }).result}`),
    ).toEqual([`${first} failed`]);
    const said = run.events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
    expect(
      said.some((m) =>
        m.startsWith(
          `stopped before batch 2/3: classic ELB web-api-sandbox has 2 members in service; taking ${second} out would leave 1, fewer than rollout.minInService (2)`,
        ),
      ),
      said.join('\n'),
    ).toBe(true);
    // Never more than one host out of the classic ELB at once.
    const deregistered = (await sandbox.emulator.calls())
      .filter((c) => c.action === 'DeregisterInstancesFromLoadBalancer')
      .map((c) => c.params['Instances.member.1.InstanceId']);
    expect(new Set(deregistered)).toEqual(new Set([sandbox.fleet.hosts[0]!.instanceId]));
    await sandbox.emulator.clearFaults();
    const recovered = await runBaton(['recover', ...common(), '--reporter', 'json']);
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    await expectFleetWhole(await traffic.stop());
  });
});
