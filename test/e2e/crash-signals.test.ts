/** Runs stopped by a signal (SIGHUP, SIGTERM, Ctrl-C once and twice), a closed stdout, a lock released by force: each ends as crash-kit.ts says a run must. */
import { describe, expect, it } from 'vitest';
import { runBaton, type BatonRun } from './baton.ts';
import type { DeployEvent } from '../../src/events/events.ts';
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
  it("SIGHUP during the pre-pull (the operator's session dropped): nothing leaves service, the guards are undone, exit 130", async () => {
    const traffic = load();
    const before = await liveImages();
    await sandbox.emulator.clearCalls();
    const run = await deployUntil(
      deployArgs('v2'),
      (e) => e.type === 'step' && e.step === 'pre-pull' && e.status === 'started',
      'SIGHUP',
    );
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
    const tag = await aNewTag();
    const run = await deployUntil(deployArgs(tag), hostStep(first!, 'replace container'), 'SIGTERM');
    expect(run.code, run.stdout + run.stderr).toBe(130);
    expect(run.events.find((e) => e.type === 'host-finished')).toMatchObject({ host: first, result: 'deployed' });
    await expectFleetWhole(await traffic.stop());
    expect((await liveImages())[0]).toBe(image(tag));
  });

  it('stdout closed under it (EPIPE): the run stops after the host in flight and undoes, without a stack trace', async () => {
    const traffic = load();
    const [first] = names();
    let closed = false;
    const run = await runBaton(deployArgs(await aNewTag()), {
      onEvent: (e, child) => {
        if (!closed && hostStep(first!, 'deregister')(e)) {
          closed = true;
          child.stdout!.destroy();
        }
      },
    });
    expect(closed).toBe(true);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toContain(
      'baton: standard output is closed (EPIPE): stopping after the hosts in flight and undoing the guards',
    );
    expect(run.stderr).not.toContain('    at ');
    await expectFleetWhole(await traffic.stop());
  });

  const phases: [string, (e: DeployEvent) => boolean][] = [
    ['the pre-pull', (e) => e.type === 'step' && e.step === 'pre-pull' && e.status === 'started'],
    ['deregister', (e) => hostStep(names()[0]!, 'deregister')(e)],
    ['replace container', (e) => hostStep(names()[0]!, 'replace container')(e)],
    ['health check', (e) => hostStep(names()[0]!, 'health check')(e)],
    ['register', (e) => hostStep(names()[0]!, 'register')(e)],
  ];

  it.each(phases)(
    'Ctrl-C once and twice during %s: the host in flight is finished or put back, guards undone, exit 130',
    async (_, when) => {
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
    },
  );

  it('a lock force-released under a running deploy stops it at the next safe point, with the guards undone', async () => {
    await resetTo('v1');
    const traffic = load();
    const [first] = names();
    let released: Promise<BatonRun> | undefined;
    // The run is paused while the lock is released, so however slow the machine it cannot finish first.
    const run = await runBaton(deployArgs('v3', '-e', 'state.staleAfter=2s'), {
      onEvent: (e, child) => {
        if (released || !hostStep(first!, 'deregister')(e)) return;
        child.kill('SIGSTOP');
        released = runBaton(['lock', 'release', '--force', ...common()]);
        void released.finally(() => child.kill('SIGCONT'));
      },
    });
    expect((await released!).code).toBe(0);
    expect(run.code, run.stdout + run.stderr).toBe(130);
    expect(
      run.events.some(
        (e) => e.type === 'warning' && e.message.startsWith('this run lost the deploy lock (it was released by force)'),
      ),
    ).toBe(true);
    // Stopped at the next safe point: the host in flight finished, the batches after it never started.
    const finished = run.events.filter((e) => e.type === 'host-finished') as { result: string }[];
    expect(finished.length).toBeLessThan(names().length);
    expect(finished.every((h) => h.result === 'deployed')).toBe(true);
    await expectFleetWhole(await traffic.stop());
  });

  // Last: it terminates an instance for good, which no later test could undo.
});
