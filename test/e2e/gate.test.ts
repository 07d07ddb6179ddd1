/**
 * The release gate on the sandbox: a canary that turns an alarm red while it bakes is put back before
 * any other host takes the new image, with the alarm named; a quiet bake lets the rollout go on. The
 * alarm's state is set as CloudWatch's own SetAlarmState would, through the real SDK.
 */
import { CloudWatchClient, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveImage } from '../fleet/docker.ts';
import { startLoad } from '../fleet/load.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import { SANDBOX_ALARMS } from '../fleet/sandbox-config.ts';
import { runBaton, sandboxEnv } from './baton.ts';

let sandbox: Sandbox;
let cloudwatch: CloudWatchClient;
beforeAll(async () => {
  sandbox = await startSandbox({ hosts: 3 });
  cloudwatch = new CloudWatchClient({
    region: 'us-east-1',
    endpoint: sandbox.emulator.url,
    credentials: { accessKeyId: sandboxEnv.AWS_ACCESS_KEY_ID, secretAccessKey: sandboxEnv.AWS_SECRET_ACCESS_KEY },
  });
});
afterAll(async () => {
  cloudwatch?.destroy();
  await sandbox?.stop();
});

const image = (tag: string) => `${sandbox.fleet.appRepository}:${tag}`;
const deploy = (tag: string, ...more: string[]) => [
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
const liveImages = () => Promise.all(sandbox.fleet.hosts.map((h) => liveImage(h.container)));
const setAlarm = (StateValue: 'OK' | 'ALARM', StateReason: string) =>
  cloudwatch.send(new SetAlarmStateCommand({ AlarmName: SANDBOX_ALARMS[0], StateValue, StateReason }));
type Step = { type: 'step'; step: string; status: string; detail?: string };

describe('the release gate', () => {
  it('puts back a canary whose alarm goes into ALARM while it bakes, under load, before any other host takes the image', async () => {
    const canary = sandbox.fleet.hosts[0]!.name;
    const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 2, ratePerSecond: 25, maxSeconds: 120 });
    let tripped = false;
    const run = await runBaton(deploy('v2', '--canary', '20s'), {
      onEvent: (e) => {
        // A few seconds into the bake, the new version's 5xx rate crosses the alarm's threshold.
        if (e.type === 'step' && e.step === `canary: watch ${canary} for 20s` && e.status === 'started' && !tripped) {
          tripped = true;
          setTimeout(() => void setAlarm('ALARM', 'Threshold Crossed: 5xx rate 4% > 1%'), 2_000);
        }
      },
    });
    const traffic = await load.stop();
    await setAlarm('OK', 'recovered');
    expect(run.code, run.stdout + run.stderr).toBe(1);
    const watched = run.events.find(
      (e) =>
        e.type === 'step' && (e as Step).step === `canary: watch ${canary} for 20s` && (e as Step).status !== 'started',
    ) as Step | undefined;
    expect(watched?.status).toBe('failed');
    expect(watched?.detail).toMatch(
      new RegExp(`^alarm ${SANDBOX_ALARMS[0]} is in ALARM since \\S+ \\(Threshold Crossed: 5xx rate 4% > 1%\\)$`),
    );
    expect(run.events.find((e) => e.type === 'gate-tripped')).toMatchObject({
      batch: 1,
      of: 3,
      hosts: [canary],
      subject: SANDBOX_ALARMS[0],
    });
    const finished = run.events.find((e) => e.type === 'run-finished') as {
      outcome: string;
      hosts: { host: string; result: string }[];
    };
    expect(finished.outcome).toBe('rolled-back');
    expect(finished.hosts.map((h) => `${h.host} ${h.result}`)).toEqual(
      sandbox.fleet.hosts.map((h, i) => `${h.name} ${i === 0 ? 'rolled-back' : 'not-started'}`),
    );
    // Only the canary ever ran v2, and it is back on v1; its alarms' actions are on again.
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v1')));
    expect(await sandbox.emulator.alarmsEnabled()).toBe(true);
    expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
  });

  it('lets the rollout go on after a quiet bake, looking at each later batch', async () => {
    const run = await runBaton(deploy('v2', '--canary', '2s'));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const gate = run.events
      .filter((e) => e.type === 'step' && /^(canary|gate):/.test((e as Step).step) && (e as Step).status !== 'started')
      .map((e) => `${(e as Step).step} ${(e as Step).status}`);
    expect(gate).toEqual([
      `canary: watch ${sandbox.fleet.hosts[0]!.name} for 2.0s ok`,
      'gate: batch 2 ok',
      'gate: batch 3 ok',
    ]);
    expect(await liveImages()).toEqual(sandbox.fleet.hosts.map(() => image('v2')));
  });
});
