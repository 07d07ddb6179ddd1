/** Killed runs (kill -9, SIGSTOP past the lease) and what recover and resume make of them: each ends as crash-kit.ts says a run must. */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { dockerExec } from '../fleet/docker.ts';
import { writeFileSync } from 'node:fs';
import { SANDBOX_STATE_BUCKET } from '../fleet/sandbox-config.ts';
import { runBaton, type BatonRun } from './baton.ts';
import type { DeployEvent } from '../../src/events/events.ts';
import {
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
  it('kill -9 while a host is out of service, then recover: the host is back in service on a healthy container', async () => {
    const traffic = load();
    const [, second] = names();
    const killed = await deployUntil(deployArgs('v2'), hostStep(second!, 'health check'), 'SIGKILL');
    expect(killed.code).toBeNull();
    const states = await sandbox.emulator.instanceStates();
    expect(states.classic[sandbox.fleet.hosts[1]!.instanceId]).not.toBe('InService');

    const status = await runBaton(['lock', 'status', ...common()]);
    expect(status.stdout).toContain(
      `  - ${second} (${sandbox.fleet.hosts[1]!.instanceId}): live (${image('v1')}) set aside as live-previous, ${image('v2')} starting in its place`,
    );
    expect(status.stdout).toContain(
      `  - ${second} (${sandbox.fleet.hosts[1]!.instanceId}) out of classic ELB web-api-sandbox`,
    );
    expect(status.stdout).toContain(
      'aws elb register-instances-with-load-balancer --region us-east-1 --load-balancer-name web-api-sandbox --instances',
    );

    const recovered = await runBaton(['recover', ...common(), '--reporter', 'json']);
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    const steps = recovered.events
      .filter((e) => e.type === 'step' && e.status === 'ok')
      .map((e) => (e as { step: string }).step);
    // Newest first: the container before the load balancers, the guards last.
    expect(steps).toEqual([
      'make the container healthy',
      'register again',
      'register again',
      'enable alarm actions',
      'resume autoscaling',
    ]);
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
    expect(
      warnings.filter((w) =>
        w.startsWith('the value of container.env.REGION (${E2E_REGION}) is a secret, but it is also part of'),
      ),
    ).toHaveLength(1);
    expect(
      warnings.filter((w) =>
        w.startsWith('the value of container.env.SERVICE (${E2E_SERVICE}) is a secret, but it is also part of'),
      ),
    ).toHaveLength(1);
    // State is data: the journal holds the real names, and the guards' fix commands can be run as printed.
    const objects = (await sandbox.emulator.state()).buckets[SANDBOX_STATE_BUCKET]!;
    const journal = Object.entries(objects).find(([k]) => k.endsWith('/sandbox/journal.json'))![1];
    expect(journal).not.toContain('***');
    expect(journal).toContain('arn:aws:elasticloadbalancing:us-east-1:');
    expect(journal).toContain('"group": "web-api-sandbox"');
    expect(
      killed.events
        .filter((e) => e.type === 'guard')
        .map((e) => (e as { fix: string }).fix)
        .join('\n'),
    ).toContain('--auto-scaling-group-name web-api-sandbox');

    const status = await runBaton(['lock', 'status', ...common()], { env });
    expect(status.stdout).not.toContain('***');
    expect(status.stdout).toContain(
      'aws elb register-instances-with-load-balancer --region us-east-1 --load-balancer-name web-api-sandbox --instances',
    );
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
          if (
            !continued &&
            e.type === 'step' &&
            e.scope === 'host' &&
            e.step === 'deregister' &&
            e.status === 'started'
          ) {
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
    expect(
      said.some((m) =>
        /^this run lost the deploy lock \(it is now held by .*\): another run may own the fleet now, so this one changes nothing more/.test(
          m,
        ),
      ),
      said.join('\n'),
    ).toBe(true);
    expect(old.events.some((e) => e.type === 'host-finished')).toBe(false);
    // The resuming run's guards were never lifted under it: one resume and one enable, its own, at its end.
    const calls = (await sandbox.emulator.calls()).filter((c) => c.write);
    const seq = (action: string) => calls.filter((c) => c.action === action).map((c) => c.seq);
    const lastSuspend = Math.max(...seq('SuspendProcesses'));
    const firstDeregistration = Math.min(...calls.filter((c) => /^Deregister/.test(c.action)).map((c) => c.seq));
    expect(lastSuspend).toBeLessThan(firstDeregistration);
    expect(seq('ResumeProcesses').filter((n) => n > lastSuspend)).toHaveLength(1);
    expect(seq('EnableAlarmActions').filter((n) => n > lastSuspend)).toHaveLength(1);
    expect(Math.min(...seq('ResumeProcesses').filter((n) => n > lastSuspend))).toBeGreaterThan(
      Math.max(...calls.filter((c) => /^Register/.test(c.action)).map((c) => c.seq)),
    );
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v2')));
  });

  it('kill -9 mid-rollout of a custom playbook from a static inventory (ProxyJump), serial 25%, a canary and -e, then resume: run again as it ran', async () => {
    await resetTo('v1');
    const { fleet } = sandbox;
    const inventory = join(fleet.dir, 'replay.ini');
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
    const playbookFile = join(import.meta.dirname, 'fixtures', 'stamped-by-config.ts');
    // The configuration's own bastion is made wrong: only the inventory's ProxyJump reaches the hosts.
    const args = deployArgs(
      'v2',
      '-i',
      inventory,
      '--playbook',
      playbookFile,
      '--serial',
      '25%',
      '--canary',
      '1s',
      '-e',
      'ssh.bastion.port=1',
      '-e',
      'container.env.RELEASE=replayed',
    );
    const traffic = load();
    const [, second] = names();
    const killed = await deployUntil(args, hostStep(second!, 'health check'), 'SIGKILL');
    expect(killed.code).toBeNull();
    // A value under container may be a secret: it was not recorded, so resume asks for it.
    const asks = await runBaton(['resume', ...common(), '--reporter', 'json']);
    expect(asks.code, asks.stdout + asks.stderr).toBe(2);
    expect(asks.stderr).toContain(
      'the interrupted run was given -e container.env.RELEASE=..., whose value Baton does not record (it may be secret): give it again, as `baton resume ... -e container.env.RELEASE=<value>`',
    );
    const resumed = await runBaton([
      'resume',
      ...common(),
      '--reporter',
      'json',
      '-e',
      'container.env.RELEASE=replayed',
    ]);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(
      `, as it ran (playbook ${playbookFile}, inventory ${inventory}, serial 25%, canary 1s, -e ssh.bastion.port=1)`,
    );
    const started = resumed.events.find((e) => e.type === 'run-started') as { playbook: string; batches: string[][] };
    expect(started).toMatchObject({ playbook: 'stamped deploy by config', batches: names().map((n) => [n]) });
    // Its canary too: the resumed run's first batch was baked by the gate before the rest.
    expect(
      resumed.events.some(
        (e) => e.type === 'step' && e.step === `canary: watch ${names()[0]} for 1.0s` && e.status === 'ok',
      ),
    ).toBe(true);
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v2')));
    // The playbook's own step ran on the first host (before the kill) and the last (resumed); the second
    // was killed after its swap, and recover kept its healthy v2: resume leaves it alone.
    for (const host of [fleet.hosts[0]!, fleet.hosts[2]!])
      expect((await dockerExec(host.container, 'cat /tmp/baton-release')).trim()).toBe(image('v2'));
    expect(
      resumed.events
        .filter((e) => e.type === 'host-finished')
        .map((e) => `${(e as { host: string }).host} ${(e as { result: string }).result}`),
    ).toEqual([`${names()[0]} unchanged`, `${names()[1]} unchanged`, `${names()[2]} deployed`]);
    expect(
      (
        await dockerExec(
          fleet.hosts[2]!.container,
          "docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' live",
        )
      ).split('\n'),
    ).toContain('RELEASE=replayed');
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
    const finished = resumed.events
      .filter((e) => e.type === 'host-finished')
      .map((e) => `${(e as { host: string }).host} ${(e as { result: string }).result}`);
    expect(finished).toContain(`${names()[0]} unchanged`);
    await expectFleetWhole(await traffic.stop());
    expect(await liveImages()).toEqual(names().map(() => image('v3')));
  });

  const phases: [string, (e: DeployEvent) => boolean][] = [
    ['the pre-pull', (e) => e.type === 'step' && e.step === 'pre-pull' && e.status === 'started'],
    ['deregister', (e) => hostStep(names()[0]!, 'deregister')(e)],
    ['replace container', (e) => hostStep(names()[0]!, 'replace container')(e)],
    ['health check', (e) => hostStep(names()[0]!, 'health check')(e)],
    ['register', (e) => hostStep(names()[0]!, 'register')(e)],
  ];

  it.each(phases)(
    'kill -9 during %s, then recover: every host in service, nothing left open; then resume: one version',
    async (_, when) => {
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
    },
  );
});
