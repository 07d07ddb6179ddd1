/**
 * Hosts are instances, not names: an Auto Scaling group gives every instance the same Name tag, and
 * each must still be deployed exactly once, with its own instance id in every load balancer call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerExec } from '../fleet/docker.ts';
import { startLoad } from '../fleet/load.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import { runBaton } from './baton.ts';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ hosts: 3, nameTags: ['web', 'web', 'api'] });
});
afterAll(async () => {
  await sandbox?.stop();
});

const image = (tag: string) => `${sandbox.fleet.appRepository}:${tag}`;
const args = (...more: string[]) => ['--config', sandbox.configFile, '--deployment', 'sandbox', ...more];
const liveImage = async (container: string) => (JSON.parse(await dockerExec(container, 'docker inspect live')) as { Config: { Image: string } }[])[0]!.Config.Image;

describe('instances that share a Name tag', () => {
  it('are each deployed exactly once, every call naming its own instance id, under load', async () => {
    const [a, b, c] = sandbox.fleet.hosts;
    const listed = await runBaton(['deploy', ...args('--image', image('v2'), '--list-hosts', '--reporter', 'json')]);
    expect(listed.events.find((e) => e.type === 'run-started')).toMatchObject({ hosts: ['api', `web (${a!.instanceId})`, `web (${b!.instanceId})`] });

    await sandbox.emulator.clearCalls();
    const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 50, maxSeconds: 120 });
    const run = await runBaton(['deploy', ...args('--image', image('v2'), '--reporter', 'json')]);
    const traffic = await load.stop();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
    const finished = run.events.filter((e) => e.type === 'host-finished').map((e) => `${(e as { host: string }).host} ${(e as { result: string }).result}`);
    expect(finished.sort()).toEqual(['api deployed', `web (${a!.instanceId}) deployed`, `web (${b!.instanceId}) deployed`]);
    for (const h of [a!, b!, c!]) expect(await liveImage(h.container)).toBe(image('v2'));
    const calls = await sandbox.emulator.calls();
    const deregistered = calls.filter((x) => x.action === 'DeregisterInstancesFromLoadBalancer').map((x) => x.params['Instances.member.1.InstanceId']);
    const registered = calls.filter((x) => x.action === 'RegisterTargets').map((x) => x.params['Targets.member.1.Id']);
    expect(deregistered.sort()).toEqual([a!.instanceId, b!.instanceId, c!.instanceId].sort());
    expect(registered.sort()).toEqual([a!.instanceId, b!.instanceId, c!.instanceId].sort());
  });

  it('are selected together by their shared name, or one by one by instance id', async () => {
    const [a, b] = sandbox.fleet.hosts;
    const hosts = async (pattern: string) => ((await runBaton(['deploy', ...args('--image', image('v3'), '--list-hosts', '--reporter', 'json', '--limit', pattern)])).events.find((e) => e.type === 'run-started') as { hosts: string[] }).hosts;
    expect(await hosts('web')).toEqual([`web (${a!.instanceId})`, `web (${b!.instanceId})`]);
    expect(await hosts(b!.instanceId)).toEqual([`web (${b!.instanceId})`]);
    expect(await hosts('api')).toEqual(['api']);

    const one = await runBaton(['deploy', ...args('--image', image('v3'), '--reporter', 'json', '--limit', b!.instanceId)]);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(await liveImage(a!.container)).toBe(image('v2'));
    expect(await liveImage(b!.container)).toBe(image('v3'));

    const status = JSON.parse((await runBaton(['status', ...args('--json')])).stdout) as { host: string; instanceId: string; image: string }[];
    expect(status.map((r) => `${r.host} ${r.image}`)).toEqual(['api ' + image('v2'), `web (${a!.instanceId}) ${image('v2')}`, `web (${b!.instanceId}) ${image('v3')}`]);
  });
});
