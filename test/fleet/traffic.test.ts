/**
 * The sandbox's traffic path is real: deregistering a host through the emulator, with the real SDK,
 * takes it out of HAProxy (its /dev/log request lines stop) while clients see no failure; registering
 * it brings it back into service.
 */
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  RegisterInstancesWithLoadBalancerCommand,
} from '@aws-sdk/client-elastic-load-balancing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsClients, type AwsClients } from '../../src/aws/clients.ts';
import { dockerExec } from './docker.ts';
import { startLoad } from './load.ts';
import { RESOURCES, startSandbox, type Sandbox } from './sandbox.ts';

let sandbox: Sandbox;
let aws: AwsClients;
beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'sandbox';
  process.env.AWS_SECRET_ACCESS_KEY = 'sandbox';
  sandbox = await startSandbox({ hosts: 2 });
  aws = createAwsClients({ region: 'us-east-1', endpoint: sandbox.emulator.url });
});
afterAll(async () => {
  aws?.destroy();
  await sandbox?.stop();
});

/** Requests for `/` the app on this host has logged through /dev/log (health checks excluded). */
async function requestsLogged(container: string): Promise<number> {
  return Number((await dockerExec(container, "grep -c 'url:/$' /var/log/messages || true")).trim());
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const health = async (instanceId: string) => {
  try {
    const out = await aws.elb.send(
      new DescribeInstanceHealthCommand({
        LoadBalancerName: RESOURCES.classicElb,
        Instances: [{ InstanceId: instanceId }],
      }),
    );
    return out.InstanceStates?.[0];
  } catch (error) {
    if ((error as Error).name === 'InvalidEndPointException') return undefined;
    throw error;
  }
};

describe('sandbox traffic path', () => {
  it('stops sending requests to a deregistered host, without a failed request, and resumes after register', async () => {
    const [one, two] = sandbox.fleet.hosts;
    const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 100, maxSeconds: 60 });
    await until('host 1 to serve', async () => (await requestsLogged(one!.container)) > 5);

    const instance = { InstanceId: one!.instanceId };
    await aws.elb.send(
      new DeregisterInstancesFromLoadBalancerCommand({ LoadBalancerName: RESOURCES.classicElb, Instances: [instance] }),
    );
    await until('host 1 to be deregistered', async () => (await health(one!.instanceId)) === undefined);
    const outAt = await requestsLogged(one!.container);
    const otherAt = await requestsLogged(two!.container);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await requestsLogged(one!.container)).toBe(outAt);
    expect(await requestsLogged(two!.container)).toBeGreaterThan(otherAt + 20);
    expect(
      (await sandbox.haproxyServers()).find((s) => s.backend === 'elb_web' && s.server === one!.instanceId)?.status,
    ).toBe('MAINT');

    await aws.elb.send(
      new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: RESOURCES.classicElb, Instances: [instance] }),
    );
    await until('host 1 to be InService', async () => (await health(one!.instanceId))?.State === 'InService');
    await until('host 1 to serve again', async () => (await requestsLogged(one!.container)) > outAt + 5, 10_000);

    const traffic = await load.stop();
    expect(traffic.errors + traffic.non2xx, JSON.stringify(traffic.failures)).toBe(0);
    expect(traffic.ok).toBeGreaterThan(100);
    const calls = (await sandbox.emulator.calls()).map((c) => c.action).filter((a) => !a.startsWith('Describe'));
    expect(calls).toEqual(['DeregisterInstancesFromLoadBalancer', 'RegisterInstancesWithLoadBalancer']);
  });
});
