/**
 * The emulator answers the real SDK clients on their real wire protocols: every action Baton calls,
 * pagination, the SDK's own exception classes, and a throttled call the SDK retries by itself.
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  ResumeProcessesCommand,
  SuspendProcessesCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  DisableAlarmActionsCommand,
  EnableAlarmActionsCommand,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import { DescribeInstancesCommand, EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import {
  AccessPointNotFoundException,
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  DescribeLoadBalancerAttributesCommand,
  DescribeLoadBalancersCommand,
  ElasticLoadBalancingClient,
  InvalidEndPointException,
  RegisterInstancesWithLoadBalancerCommand,
} from '@aws-sdk/client-elastic-load-balancing';
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Alarms } from '../../src/aws/alarms.ts';
import { startEmulator, type Emulator } from './server.ts';

const ids = Array.from({ length: 7 }, (_, i) => `i-0${String(i + 1).padStart(16, '0')}`);
let emulator: Emulator;
let config: { region: string; endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } };

beforeAll(async () => {
  emulator = await startEmulator({
    instances: ids.map((instanceId, i) => ({
      instanceId,
      privateIp: `10.0.0.${10 + i}`,
      tags: { stack: 'web', release: 'api', deployment: i < 6 ? 'integration' : 'production', Name: `app-${i + 1}` },
      state: i === 5 ? 'stopped' : 'running',
    })),
    autoScalingGroups: [{ name: 'web-api-integration', instanceIds: ids.slice(0, 6), suspended: ['AZRebalance'] }],
    classicLoadBalancers: [{ name: 'web-api', instanceIds: ids.slice(0, 3), drainingTimeoutSec: 30 }],
    targetGroups: [{ name: 'web-api-tg', instanceIds: ids.slice(0, 3), port: 8080, deregistrationDelaySec: 45 }],
    alarms: [
      { name: 'web-5xx', actionsEnabled: true },
      { name: 'web-latency', actionsEnabled: true },
    ],
    buckets: ['baton-state'],
  });
  config = { region: 'us-east-1', endpoint: emulator.url, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
});
afterAll(() => emulator?.close());
beforeEach(() => {
  emulator.clearCalls();
  emulator.clearFaults();
});

describe('EC2', () => {
  it('filters by tag and state and paginates with NextToken', async () => {
    const ec2 = new EC2Client(config);
    const filters = [
      { Name: 'tag:stack', Values: ['web'] },
      { Name: 'tag:deployment', Values: ['integ*'] },
      { Name: 'instance-state-name', Values: ['running'] },
    ];
    const found: string[] = [];
    let pages = 0;
    for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 5 }, { Filters: filters })) {
      pages++;
      for (const r of page.Reservations ?? [])
        for (const i of r.Instances ?? [])
          found.push(
            `${i.InstanceId} ${i.PrivateIpAddress} ${i.State?.Name} ${i.Tags?.find((t) => t.Key === 'Name')?.Value}`,
          );
    }
    expect(pages).toBe(1);
    expect(found).toEqual(ids.slice(0, 5).map((id, i) => `${id} 10.0.0.${10 + i} running app-${i + 1}`));

    const all: string[] = [];
    for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 5 }, {}))
      for (const r of page.Reservations ?? []) all.push(r.Instances![0]!.InstanceId!);
    expect(all).toEqual(ids);
    expect(emulator.calls().filter((c) => c.action === 'DescribeInstances' && c.params.NextToken)).toHaveLength(1);
  });

  it('answers a bad parameter with the error code EC2 uses', async () => {
    const ec2 = new EC2Client(config);
    await expect(ec2.send(new DescribeInstancesCommand({ MaxResults: 2 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('is retried by the SDK when throttled', async () => {
    emulator.injectFault({ action: 'DescribeInstances', kind: 'throttle', times: 2 });
    const out = await new EC2Client({ ...config, maxAttempts: 3 }).send(new DescribeInstancesCommand({}));
    expect(out.$metadata.attempts).toBe(3);
    expect(emulator.calls().map((c) => c.outcome)).toEqual(['RequestLimitExceeded', 'RequestLimitExceeded', 'ok']);
  });
});

describe('classic ELB', () => {
  it('describes load balancers and their connection draining', async () => {
    const elb = new ElasticLoadBalancingClient(config);
    const lbs = await elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: ['web-api'] }));
    expect(lbs.LoadBalancerDescriptions?.[0]?.Instances?.map((i) => i.InstanceId)).toEqual(ids.slice(0, 3));
    const attrs = await elb.send(new DescribeLoadBalancerAttributesCommand({ LoadBalancerName: 'web-api' }));
    expect(attrs.LoadBalancerAttributes?.ConnectionDraining).toEqual({ Enabled: true, Timeout: 30 });
    await expect(elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: ['nope'] }))).rejects.toBeInstanceOf(
      AccessPointNotFoundException,
    );
  });

  it('deregisters and registers instances, and reports their health', async () => {
    const elb = new ElasticLoadBalancingClient(config);
    const instance = { InstanceId: ids[0]! };
    const health = () =>
      elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: 'web-api', Instances: [instance] }));
    expect((await health()).InstanceStates?.[0]?.State).toBe('InService');
    const out = await elb.send(
      new DeregisterInstancesFromLoadBalancerCommand({ LoadBalancerName: 'web-api', Instances: [instance] }),
    );
    expect(out.Instances?.map((i) => i.InstanceId)).toEqual(ids.slice(1, 3));
    await expect(health()).rejects.toBeInstanceOf(InvalidEndPointException);
    await elb.send(
      new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: 'web-api', Instances: [instance] }),
    );
    expect((await health()).InstanceStates?.[0]?.State).toBe('InService');
  });

  it('is retried by the SDK when throttled', async () => {
    emulator.injectFault({ action: 'DescribeInstanceHealth', kind: 'throttle', times: 2 });
    const out = await new ElasticLoadBalancingClient({ ...config, maxAttempts: 3 }).send(
      new DescribeInstanceHealthCommand({ LoadBalancerName: 'web-api' }),
    );
    expect(out.$metadata.attempts).toBe(3);
  });

  it('fails with the SDK service exception after a 5xx it cannot retry away', async () => {
    emulator.injectFault({ action: 'DescribeLoadBalancers', kind: 'error5xx', times: 5 });
    await expect(
      new ElasticLoadBalancingClient({ ...config, maxAttempts: 2 }).send(new DescribeLoadBalancersCommand({})),
    ).rejects.toMatchObject({
      name: 'ServiceUnavailable',
      $metadata: { httpStatusCode: 503, attempts: 2 },
    });
  });
});

describe('ELBv2', () => {
  it('describes target groups, their deregistration delay and target health through draining', async () => {
    const elbv2 = new ElasticLoadBalancingV2Client(config);
    const tg = (await elbv2.send(new DescribeTargetGroupsCommand({ Names: ['web-api-tg'] }))).TargetGroups![0]!;
    expect(tg.TargetGroupArn).toMatch(/^arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup\/web-api-tg\//);
    const attrs = await elbv2.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn }));
    expect(attrs.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value).toBe('45');
    const target = { Id: ids[1]!, Port: 8080 };
    const state = async () =>
      (await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [target] })))
        .TargetHealthDescriptions![0]!.TargetHealth;
    expect((await state())?.State).toBe('healthy');
    await elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [target] }));
    expect(await state()).toMatchObject({ State: 'unused', Reason: 'Target.NotRegistered' });
    await elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [target] }));
    expect((await state())?.State).toBe('healthy');
    await expect(elbv2.send(new DescribeTargetGroupsCommand({ Names: ['nope'] }))).rejects.toBeInstanceOf(
      TargetGroupNotFoundException,
    );
  });
});

describe('Auto Scaling', () => {
  it('finds groups by instance and suspends and resumes processes', async () => {
    const asg = new AutoScalingClient(config);
    const found = await asg.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [ids[0]!, ids[6]!] }));
    expect(found.AutoScalingInstances?.map((i) => `${i.InstanceId} ${i.AutoScalingGroupName}`)).toEqual([
      `${ids[0]} web-api-integration`,
    ]);
    const suspended = async () =>
      (await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['web-api-integration'] })))
        .AutoScalingGroups![0]!.SuspendedProcesses!.map((p) => p.ProcessName)
        .sort();
    expect(await suspended()).toEqual(['AZRebalance']);
    await asg.send(
      new SuspendProcessesCommand({
        AutoScalingGroupName: 'web-api-integration',
        ScalingProcesses: ['Launch', 'Terminate'],
      }),
    );
    expect(await suspended()).toEqual(['AZRebalance', 'Launch', 'Terminate']);
    await asg.send(
      new ResumeProcessesCommand({
        AutoScalingGroupName: 'web-api-integration',
        ScalingProcesses: ['Launch', 'Terminate'],
      }),
    );
    expect(await suspended()).toEqual(['AZRebalance']);
    await expect(asg.send(new SuspendProcessesCommand({ AutoScalingGroupName: 'nope' }))).rejects.toMatchObject({
      name: 'ValidationError',
    });
  });
});

describe('CloudWatch', () => {
  it('disables and enables alarm actions', async () => {
    const cw = new CloudWatchClient(config);
    const enabled = async () =>
      (await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['web-5xx', 'web-latency'] }))).MetricAlarms!.map(
        (a) => `${a.AlarmName}=${a.ActionsEnabled}`,
      );
    expect(await enabled()).toEqual(['web-5xx=true', 'web-latency=true']);
    await cw.send(new DisableAlarmActionsCommand({ AlarmNames: ['web-5xx'] }));
    expect(await enabled()).toEqual(['web-5xx=false', 'web-latency=true']);
    await cw.send(new EnableAlarmActionsCommand({ AlarmNames: ['web-5xx'] }));
    expect(await enabled()).toEqual(['web-5xx=true', 'web-latency=true']);
  });

  it("keeps evaluating an alarm whose actions are disabled: SetAlarmState, and Baton's gate reads it", async () => {
    const cw = new CloudWatchClient(config);
    await cw.send(new DisableAlarmActionsCommand({ AlarmNames: ['web-5xx'] }));
    const before = Date.now();
    await cw.send(new SetAlarmStateCommand({ AlarmName: 'web-5xx', StateValue: 'ALARM', StateReason: '5xx > 1%' }));
    const out = await cw.send(
      new DescribeAlarmsCommand({ AlarmNames: ['web-5xx', 'web-latency'], StateValue: 'ALARM' }),
    );
    expect(out.MetricAlarms!.map((a) => [a.AlarmName, a.StateValue, a.StateReason, a.ActionsEnabled])).toEqual([
      ['web-5xx', 'ALARM', '5xx > 1%', false],
    ]);
    expect(out.MetricAlarms![0]!.StateUpdatedTimestamp!.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    const alarming = await new Alarms(cw).inAlarm(['web-5xx', 'web-latency']);
    expect(alarming).toEqual([
      { name: 'web-5xx', since: out.MetricAlarms![0]!.StateUpdatedTimestamp!.toISOString(), reason: '5xx > 1%' },
    ]);
    await cw.send(new SetAlarmStateCommand({ AlarmName: 'web-5xx', StateValue: 'OK', StateReason: 'recovered' }));
    await cw.send(new EnableAlarmActionsCommand({ AlarmNames: ['web-5xx'] }));
    expect(await new Alarms(cw).inAlarm(['web-5xx', 'web-latency'])).toEqual([]);
    await expect(
      cw.send(new SetAlarmStateCommand({ AlarmName: 'nope', StateValue: 'ALARM', StateReason: 'x' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFound' });
  });

  it('is retried by the SDK when throttled', async () => {
    emulator.injectFault({ action: 'DescribeAlarms', kind: 'throttle', times: 2 });
    const out = await new CloudWatchClient({ ...config, maxAttempts: 3 }).send(new DescribeAlarmsCommand({}));
    expect(out.$metadata.attempts).toBe(3);
    emulator.injectFault({ action: 'DescribeAlarms', kind: 'throttle', times: 2 });
    await expect(
      new CloudWatchClient({ ...config, maxAttempts: 2 }).send(new DescribeAlarmsCommand({})),
    ).rejects.toMatchObject({ name: 'Throttling' });
  });
});

describe('control endpoints', () => {
  it('inject a deregistration that never completes, and latency', async () => {
    const elbv2 = new ElasticLoadBalancingV2Client(config);
    const tg = (await elbv2.send(new DescribeTargetGroupsCommand({ Names: ['web-api-tg'] }))).TargetGroups![0]!;
    const target = { Id: ids[2]!, Port: 8080 };
    emulator.injectFault({ action: 'DeregisterTargets', kind: 'stuck-deregistration' });
    emulator.injectFault({ action: 'DescribeTargetHealth', kind: 'latency', ms: 300 });
    await elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [target] }));
    const started = Date.now();
    const health = await elbv2.send(
      new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [target] }),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(health.TargetHealthDescriptions![0]!.TargetHealth).toMatchObject({
      State: 'draining',
      Reason: 'Target.DeregistrationInProgress',
    });
    expect((await emulator.state()).targetGroups['web-api-tg']![ids[2]!]).toBe('draining');
    emulator.clearFaults();
    await elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [target] }));
    expect((await emulator.state()).targetGroups['web-api-tg']![ids[2]!]).toBe('healthy');
  });

  it('log the calls in order and launch an instance into the group unless Launch is suspended', async () => {
    const asg = new AutoScalingClient(config);
    emulator.injectFault({ action: 'DescribeAutoScalingGroups', kind: 'launch-instance' });
    await asg.send(new DescribeAutoScalingGroupsCommand({}));
    const res = await fetch(`${emulator.url}/_emulator/calls`);
    const calls = (await res.json()) as { action: string }[];
    expect(calls.map((c) => c.action)).toEqual(['Launch', 'DescribeAutoScalingGroups']);
    const state = (await (await fetch(`${emulator.url}/_emulator/state`)).json()) as { instances: string[] };
    expect(state.instances).toHaveLength(7);
  });
});

describe('S3', () => {
  const s3 = () => new S3Client({ ...config, forcePathStyle: true });

  it('creates only if absent, replaces only the version read, and says 412 otherwise', async () => {
    const client = s3();
    const put = (body: string, condition: { IfNoneMatch?: string; IfMatch?: string }) =>
      client.send(new PutObjectCommand({ Bucket: 'baton-state', Key: 'a/lock.json', Body: body, ...condition }));
    const first = await put('{"v":1}', { IfNoneMatch: '*' });
    const refused = await put('{"v":2}', { IfNoneMatch: '*' }).catch((e: S3ServiceException) => e);
    expect(refused).toBeInstanceOf(S3ServiceException);
    expect((refused as S3ServiceException).name).toBe('PreconditionFailed');
    expect((refused as S3ServiceException).$metadata.httpStatusCode).toBe(412);
    const stale = await put('{"v":3}', { IfMatch: '"not-the-etag"' }).catch(
      (e: S3ServiceException) => e.$metadata.httpStatusCode,
    );
    expect(stale).toBe(412);
    const second = await put('{"v":4}', { IfMatch: first.ETag! });
    expect(second.ETag).not.toBe(first.ETag);
    const got = await client.send(new GetObjectCommand({ Bucket: 'baton-state', Key: 'a/lock.json' }));
    expect(await got.Body!.transformToString()).toBe('{"v":4}');
    expect(got.ETag).toBe(second.ETag);
    expect(got.LastModified).toBeInstanceOf(Date);
    await client.send(new DeleteObjectCommand({ Bucket: 'baton-state', Key: 'a/lock.json' }));
    await expect(
      client.send(new GetObjectCommand({ Bucket: 'baton-state', Key: 'a/lock.json' })),
    ).rejects.toBeInstanceOf(NoSuchKey);
    await expect(client.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'x' }))).rejects.toMatchObject({
      name: 'NoSuchBucket',
    });
    expect(emulator.calls().map((c) => `${c.action} ${c.outcome}`)).toEqual([
      'PutObject ok',
      'PutObject PreconditionFailed',
      'PutObject PreconditionFailed',
      'PutObject ok',
      'GetObject ok',
      'DeleteObject ok',
      'GetObject NoSuchKey',
      'GetObject NoSuchBucket',
    ]);
  });

  it('lists keys under a prefix in order, a page at a time', async () => {
    const client = s3();
    for (const k of ['h/03', 'h/01', 'h/02', 'other/x', 'h/05', 'h/04'])
      await client.send(new PutObjectCommand({ Bucket: 'baton-state', Key: k, Body: k }));
    const keys: string[] = [];
    let pages = 0;
    for await (const page of paginateListObjectsV2({ client, pageSize: 2 }, { Bucket: 'baton-state', Prefix: 'h/' })) {
      pages++;
      keys.push(...(page.Contents ?? []).map((c) => c.Key!));
    }
    expect(keys).toEqual(['h/01', 'h/02', 'h/03', 'h/04', 'h/05']);
    expect(pages).toBe(3);
  });
});
