/**
 * What the crash-safety files share: a 3-host sandbox each (the fleet project runs files side by
 * side), a load through the load balancer, and the check every run must pass at its end: no failed
 * request, every host in service on its live container, the Auto Scaling processes and alarms as
 * before the run, and no open journal entry.
 */
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { dockerExec, liveImage } from '../fleet/docker.ts';
import { startLoad, type LoadResult } from '../fleet/load.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import type { DeployEvent } from '../../src/events/events.ts';
import { runBaton, type BatonRun } from './baton.ts';

export let sandbox: Sandbox;

/** One 3-host sandbox per file, on v1 everywhere, each host keeping a v1 container; faults cleared before each test. */
export function useCrashSandbox(): void {
  beforeAll(async () => {
    sandbox = await startSandbox({ hosts: 3 });
    // Every test starts from v1 everywhere, each host keeping a v1 container for rollback.
    const first = await runBaton(deployArgs('v1'));
    expect(first.code, first.stdout + first.stderr).toBe(0);
  });
  afterAll(async () => {
    await sandbox?.stop();
  });
  beforeEach(async () => {
    await sandbox.emulator.clearFaults();
  });
}

export const image = (tag: string) => `${sandbox.fleet.appRepository}:${tag}`;
export const common = () => ['--config', sandbox.configFile, '--deployment', 'sandbox'];
export const deployArgs = (tag: string, ...more: string[]) => [
  'deploy',
  ...common(),
  '--image',
  image(tag),
  '--reporter',
  'json',
  ...more,
];
export const names = () => sandbox.fleet.hosts.map((h) => h.name);

export async function liveImages(): Promise<string[]> {
  return Promise.all(sandbox.fleet.hosts.map((h) => liveImage(h.container)));
}

/** The fleet as it must be after any run: all in service, guards as before, nothing left open. */
export async function expectFleetWhole(traffic: LoadResult): Promise<void> {
  expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
  const states = await sandbox.emulator.instanceStates();
  for (const host of sandbox.fleet.hosts) {
    expect(states.classic[host.instanceId], host.name).toBe('InService');
    expect(states.targetGroup[host.instanceId], host.name).toBe('healthy');
  }
  expect(await sandbox.emulator.suspendedProcesses()).toEqual([]);
  expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
  // In service by the load balancers' word is not enough: each host runs its live container.
  for (const host of sandbox.fleet.hosts)
    expect(
      (await dockerExec(host.container, "docker inspect -f '{{.State.Running}}' live 2>&1 || true")).trim(),
      host.name,
    ).toBe('true');
  const lock = JSON.parse((await runBaton(['lock', 'status', ...common(), '--json'])).stdout) as {
    locked: boolean;
    journal: unknown;
  };
  expect(lock).toMatchObject({ locked: false, journal: null });
}

export const load = () =>
  startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 50, maxSeconds: 180 });

/** Runs a deploy and sends `signal` to it once `when` matches an event. */
export async function deployUntil(
  args: string[],
  when: (e: DeployEvent) => boolean,
  signal: NodeJS.Signals,
  env?: Record<string, string>,
): Promise<BatonRun> {
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

/**
 * A tag the first host is not on (v1 or v2), for a test that needs a change but no particular
 * version: the files run side by side, so no test may count on what an earlier one left.
 */
export async function aNewTag(): Promise<'v1' | 'v2'> {
  return (await liveImages())[0] === image('v1') ? 'v2' : 'v1';
}

/** Every host on `tag` before a test that needs one version to start from. */
export async function resetTo(tag: string): Promise<void> {
  const run = await runBaton(deployArgs(tag));
  expect(run.code, run.stdout + run.stderr).toBe(0);
}

export const hostStep = (host: string, step: string) => (e: DeployEvent) =>
  e.type === 'step' && e.scope === 'host' && e.host === host && e.step === step && e.status === 'started';
