/**
 * The API actions Baton calls, per service: parameters in, result structures out (serialized by the
 * server in each service's wire format). Errors use the codes AWS returns, which the SDK maps to its
 * exception classes.
 */
import type { Service } from './types.ts';
import { ApiError, list, structs, type Params, type XmlValue } from './wire.ts';
import type { Balancer, World } from './world.ts';

export type Handler = (
  world: World,
  params: Params,
  json: Record<string, unknown>,
) => Promise<XmlValue | Record<string, unknown>> | XmlValue | Record<string, unknown>;

const ALL_PROCESSES = [
  'Launch',
  'Terminate',
  'AddToLoadBalancer',
  'AlarmNotification',
  'AZRebalance',
  'HealthCheck',
  'InstanceRefresh',
  'ReplaceUnhealthy',
  'ScheduledActions',
];

function classic(world: World, name: string | undefined): Balancer {
  const lb = name ? world.balancer('classic', name) : undefined;
  if (!lb) throw new ApiError('LoadBalancerNotFound', `There is no ACTIVE Load Balancer named '${name}'`);
  return lb;
}

function targetGroup(world: World, arn: string | undefined): Balancer {
  const tg = arn ? world.balancer('target-group', arn) : undefined;
  if (!tg) throw new ApiError('TargetGroupNotFound', `One or more target groups not found`);
  return tg;
}

function knownInstances(world: World, ids: string[]): void {
  const unknown = ids.filter((id) => !world.instances.has(id));
  if (unknown.length) throw new ApiError('InvalidInstance', `Could not find EC2 instance ${unknown.join(', ')}.`);
}

/** A load balancer registers only instances that are running. */
function runningInstances(world: World, ids: string[]): void {
  knownInstances(world, ids);
  const down = ids.filter((id) => world.instances.get(id)!.state !== 'running');
  if (down.length)
    throw new ApiError('InvalidInstance', `The following instances are not in a valid state: ${down.join(', ')}.`);
}

/** A target group takes instance ids or IPs, according to its type, as AWS checks them. */
function validTargets(world: World, tg: Balancer, ids: string[]): void {
  if (tg.targetType === 'instance') return knownInstances(world, ids);
  const bad = ids.find((id) => !/^\d{1,3}(\.\d{1,3}){3}$/.test(id));
  if (bad !== undefined) throw new ApiError('ValidationError', `The IP address '${bad}' is not a valid IPv4 address`);
}

const ec2: Record<string, Handler> = {
  DescribeInstances(world, p) {
    const filters = structs(p, 'Filter').map((f, i) => ({ name: f.Name!, values: list(p, `Filter.${i + 1}.Value`) }));
    const ids = list(p, 'InstanceId');
    const maxResults = p.MaxResults ? Number(p.MaxResults) : undefined;
    if (maxResults !== undefined && (maxResults < 5 || maxResults > 1000)) {
      throw new ApiError(
        'InvalidParameterValue',
        `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value greater than 5.`,
      );
    }
    if (ids.length && maxResults !== undefined)
      throw new ApiError(
        'InvalidParameterCombination',
        'The parameter instancesSet cannot be used with the parameter maxResults',
      );
    const glob = (pattern: string, value: string) =>
      new RegExp(
        `^${pattern
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      ).test(value);
    const matches = [...world.instances.values()].filter(
      (i) =>
        (!ids.length || ids.includes(i.instanceId)) &&
        filters.every((f) => {
          if (f.name === 'instance-state-name') return f.values.includes(i.state);
          if (f.name === 'instance-id') return f.values.includes(i.instanceId);
          if (f.name.startsWith('tag:')) {
            const v = i.tags[f.name.slice(4)];
            return v !== undefined && f.values.some((pattern) => glob(pattern, v));
          }
          if (f.name === 'tag-key') return f.values.some((k) => k in i.tags);
          if (f.name === 'private-ip-address') return f.values.some((pattern) => glob(pattern, i.privateIp));
          if (f.name === 'ip-address')
            return i.publicIp !== undefined && f.values.some((pattern) => glob(pattern, i.publicIp!));
          if (f.name === 'instance-type')
            return f.values.some((pattern) => glob(pattern, i.instanceType ?? 't3.small'));
          if (f.name === 'availability-zone') return f.values.some((pattern) => glob(pattern, `${world.region}a`));
          throw new ApiError('InvalidParameterValue', `The filter '${f.name}' is invalid`);
        }),
    );
    const start = p.NextToken ? Number(Buffer.from(p.NextToken, 'base64url').toString()) : 0;
    const page = matches.slice(start, start + (maxResults ?? 1000));
    const next =
      start + page.length < matches.length ? Buffer.from(String(start + page.length)).toString('base64url') : undefined;
    const codes = { running: 16, stopped: 80, terminated: 48 };
    // EC2's default DNS names: `ip-10-0-0-10.ec2.internal`, `ec2-203-0-113-10.compute-1.amazonaws.com` in us-east-1.
    const dashed = (ip: string) => ip.replace(/\./g, '-');
    const privateDnsName = (ip: string) =>
      `ip-${dashed(ip)}.${world.region === 'us-east-1' ? 'ec2.internal' : `${world.region}.compute.internal`}`;
    const publicDnsName = (ip: string) =>
      `ec2-${dashed(ip)}.${world.region === 'us-east-1' ? 'compute-1' : `${world.region}.compute`}.amazonaws.com`;
    return {
      reservationSet: page.map((i) => ({
        reservationId: `r-${i.instanceId.slice(2)}`,
        ownerId: '123456789012',
        instancesSet: [
          {
            instanceId: i.instanceId,
            imageId: 'ami-0123456789abcdef0',
            instanceState: { code: codes[i.state], name: i.state },
            privateIpAddress: i.privateIp,
            privateDnsName: privateDnsName(i.privateIp),
            // EC2 reports an empty public DNS name for instances without a public address (private subnets).
            dnsName: i.publicIp ? publicDnsName(i.publicIp) : '',
            ipAddress: i.publicIp,
            instanceType: i.instanceType ?? 't3.small',
            launchTime: new Date(i.launchedAt).toISOString(),
            placement: { availabilityZone: `${world.region}a` },
            tagSet: Object.entries(i.tags).map(([key, value]) => ({ key, value })),
          },
        ],
      })),
      nextToken: next,
    };
  },
  /** Terminated for good: EC2 still lists it for a while, load balancers refuse to register it. */
  TerminateInstances(world, p) {
    const ids = list(p, 'InstanceId');
    knownInstances(world, ids);
    const codes = { running: 16, stopped: 80, terminated: 48 };
    const changes = ids.map((id) => {
      const i = world.instances.get(id)!;
      const previous = i.state;
      i.state = 'terminated';
      return {
        instanceId: id,
        currentState: { code: 48, name: 'terminated' },
        previousState: { code: codes[previous], name: previous },
      };
    });
    return { instancesSet: changes };
  },
};

const elb: Record<string, Handler> = {
  DescribeLoadBalancers(world, p) {
    const names = list(p, 'LoadBalancerNames');
    const lbs = names.length
      ? names.map((n) => classic(world, n))
      : world.balancers.filter((b) => b.kind === 'classic');
    return {
      LoadBalancerDescriptions: lbs.map((lb) => ({
        LoadBalancerName: lb.name,
        DNSName: `${lb.name}-1234567890.${world.region}.elb.amazonaws.com`,
        Instances: [...lb.members.keys()].map((InstanceId) => ({ InstanceId })),
        ListenerDescriptions: [
          { Listener: { Protocol: 'HTTP', LoadBalancerPort: 80, InstanceProtocol: 'HTTP', InstancePort: 8080 } },
        ],
      })),
    };
  },
  DescribeLoadBalancerAttributes(world, p) {
    const lb = classic(world, p.LoadBalancerName);
    return { LoadBalancerAttributes: { ConnectionDraining: { Enabled: true, Timeout: lb.drainMs / 1000 } } };
  },
  async RegisterInstancesWithLoadBalancer(world, p) {
    const lb = classic(world, p.LoadBalancerName);
    const ids = structs(p, 'Instances').map((i) => i.InstanceId!);
    runningInstances(world, ids);
    for (const id of ids) await world.register(lb, id);
    return { Instances: [...lb.members.keys()].map((InstanceId) => ({ InstanceId })) };
  },
  async DeregisterInstancesFromLoadBalancer(world, p) {
    const lb = classic(world, p.LoadBalancerName);
    const ids = structs(p, 'Instances').map((i) => i.InstanceId!);
    knownInstances(world, ids);
    for (const id of ids) await world.deregister(lb, id);
    return {
      Instances: [...lb.members.entries()]
        .filter(([, m]) => m.phase !== 'draining')
        .map(([InstanceId]) => ({ InstanceId })),
    };
  },
  DescribeInstanceHealth(world, p) {
    const lb = classic(world, p.LoadBalancerName);
    const asked = structs(p, 'Instances').map((i) => i.InstanceId!);
    const ids = asked.length ? asked : [...lb.members.keys()];
    return {
      InstanceStates: ids.map((id) => {
        const s = world.classicState(lb, id);
        if (!s) throw new ApiError('InvalidInstance', `Could not find EC2 instance ${id}.`);
        return { InstanceId: id, State: s.state, ReasonCode: s.reason, Description: s.description };
      }),
    };
  },
};

const elbv2: Record<string, Handler> = {
  DescribeTargetGroups(world, p) {
    const names = list(p, 'Names');
    const arns = list(p, 'TargetGroupArns');
    const all = world.balancers.filter((b) => b.kind === 'target-group');
    const tgs = names.length || arns.length ? [...names, ...arns].map((n) => targetGroup(world, n)) : all;
    return {
      TargetGroups: tgs.map((tg) => ({
        TargetGroupArn: tg.arn,
        TargetGroupName: tg.name,
        Protocol: 'HTTP',
        Port: tg.port,
        TargetType: tg.targetType,
        HealthCheckPath: '/health',
      })),
    };
  },
  DescribeTargetGroupAttributes(world, p) {
    const tg = targetGroup(world, p.TargetGroupArn);
    return {
      Attributes: [
        { Key: 'deregistration_delay.timeout_seconds', Value: String(tg.drainMs / 1000) },
        { Key: 'stickiness.enabled', Value: 'false' },
      ],
    };
  },
  async RegisterTargets(world, p) {
    const tg = targetGroup(world, p.TargetGroupArn);
    const ids = structs(p, 'Targets').map((t) => t.Id!);
    validTargets(world, tg, ids);
    if (tg.targetType === 'instance') runningInstances(world, ids);
    for (const id of ids) await world.register(tg, id);
    return {};
  },
  async DeregisterTargets(world, p) {
    const tg = targetGroup(world, p.TargetGroupArn);
    const ids = structs(p, 'Targets').map((t) => t.Id!);
    validTargets(world, tg, ids);
    for (const id of ids) await world.deregister(tg, id);
    return {};
  },
  DescribeTargetHealth(world, p) {
    const tg = targetGroup(world, p.TargetGroupArn);
    const asked = structs(p, 'Targets').map((t) => t.Id!);
    const ids = asked.length ? asked : [...tg.members.keys()];
    return {
      TargetHealthDescriptions: ids.map((id) => {
        const s = world.targetState(tg, id);
        return {
          Target: { Id: id, Port: tg.port },
          HealthCheckPort: String(tg.port),
          TargetHealth: { State: s.state, Reason: s.reason, Description: s.description },
        };
      }),
    };
  },
};

const autoscaling: Record<string, Handler> = {
  DescribeAutoScalingInstances(world, p) {
    const ids = list(p, 'InstanceIds');
    const rows = [...world.groups.values()].flatMap((g) =>
      g.instanceIds.filter((id) => !ids.length || ids.includes(id)).map((id) => ({ id, g })),
    );
    return {
      AutoScalingInstances: rows.map(({ id, g }) => ({
        InstanceId: id,
        AutoScalingGroupName: g.name,
        AvailabilityZone: `${world.region}a`,
        LifecycleState: 'InService',
        HealthStatus: 'HEALTHY',
        ProtectedFromScaleIn: false,
      })),
    };
  },
  DescribeAutoScalingGroups(world, p) {
    const names = list(p, 'AutoScalingGroupNames');
    const groups = [...world.groups.values()].filter((g) => !names.length || names.includes(g.name));
    return {
      AutoScalingGroups: groups.map((g) => ({
        AutoScalingGroupName: g.name,
        MinSize: 1,
        MaxSize: 10,
        DesiredCapacity: g.instanceIds.length,
        DefaultCooldown: 300,
        AvailabilityZones: [`${world.region}a`],
        HealthCheckType: 'ELB',
        CreatedTime: new Date(0).toISOString(),
        Instances: g.instanceIds.map((id) => ({
          InstanceId: id,
          AvailabilityZone: `${world.region}a`,
          LifecycleState: 'InService',
          HealthStatus: 'Healthy',
          ProtectedFromScaleIn: false,
        })),
        SuspendedProcesses: [...g.suspended].map(([ProcessName, SuspensionReason]) => ({
          ProcessName,
          SuspensionReason,
        })),
      })),
    };
  },
  SuspendProcesses(world, p) {
    const g = group(world, p.AutoScalingGroupName);
    const processes = list(p, 'ScalingProcesses');
    for (const proc of processes.length ? processes : ALL_PROCESSES) {
      if (!ALL_PROCESSES.includes(proc)) throw new ApiError('ValidationError', `Unknown process ${proc}`);
      g.suspended.set(proc, `User suspended at ${new Date().toISOString()}`);
    }
    return {};
  },
  ResumeProcesses(world, p) {
    const g = group(world, p.AutoScalingGroupName);
    const processes = list(p, 'ScalingProcesses');
    for (const proc of processes.length ? processes : ALL_PROCESSES) g.suspended.delete(proc);
    return {};
  },
};

function group(world: World, name: string | undefined) {
  const g = name ? world.groups.get(name) : undefined;
  if (!g)
    throw new ApiError('ValidationError', `AutoScalingGroup name not found - AutoScalingGroup '${name}' not found`);
  return g;
}

const alarmNames = (json: Record<string, unknown>) =>
  Array.isArray(json.AlarmNames) ? (json.AlarmNames as string[]) : [];

const cloudwatch: Record<string, Handler> = {
  DescribeAlarms(world, _p, json) {
    const names = alarmNames(json);
    const alarms = [...world.alarms].filter(
      ([n]) =>
        (!names.length || names.includes(n)) &&
        (!json.StateValue || world.alarmStates.get(n)!.value === json.StateValue),
    );
    return {
      MetricAlarms: alarms.map(([AlarmName, ActionsEnabled]) => {
        const state = world.alarmStates.get(AlarmName)!;
        return {
          AlarmName,
          AlarmArn: `arn:aws:cloudwatch:${world.region}:123456789012:alarm:${AlarmName}`,
          ActionsEnabled,
          StateValue: state.value,
          StateReason: state.reason,
          // The JSON protocol's timestamps: seconds since the epoch.
          StateUpdatedTimestamp: state.at.getTime() / 1000,
          MetricName: 'HTTPCode_Backend_5XX',
          Namespace: 'AWS/ELB',
        };
      }),
      CompositeAlarms: [],
    };
  },
  /** As CloudWatch's own: sets a state until the next evaluation (here, until set again). */
  SetAlarmState(world, _p, json) {
    const name = String(json.AlarmName ?? '');
    if (!world.alarms.has(name)) throw new ApiError('ResourceNotFound', `Alarm ${name} does not exist`, 404);
    const value = json.StateValue;
    if (value !== 'OK' && value !== 'ALARM' && value !== 'INSUFFICIENT_DATA')
      throw new ApiError('InvalidFormat', `StateValue ${String(value)} is not OK, ALARM or INSUFFICIENT_DATA`);
    world.alarmStates.set(name, { value, reason: String(json.StateReason ?? ''), at: new Date() });
    return {};
  },
  DisableAlarmActions(world, _p, json) {
    for (const n of alarmNames(json)) if (world.alarms.has(n)) world.alarms.set(n, false);
    return {};
  },
  EnableAlarmActions(world, _p, json) {
    for (const n of alarmNames(json)) if (world.alarms.has(n)) world.alarms.set(n, true);
    return {};
  },
};

/** Amazon ECR (JSON 1.1): the registry login token, valid 12 hours, as `base64(AWS:<password>)`. */
const ecr: Record<string, Handler> = {
  GetAuthorizationToken(world) {
    if (!world.ecr)
      throw new ApiError('AccessDeniedException', 'User is not authorized to perform: ecr:GetAuthorizationToken');
    return {
      authorizationData: [
        {
          authorizationToken: Buffer.from(`AWS:${world.ecr.password}`).toString('base64'),
          expiresAt: Math.floor(Date.now() / 1000) + 12 * 3600,
          proxyEndpoint: `https://${world.ecr.registry}`,
        },
      ],
    };
  },
};

export const SERVICES: Record<Exclude<Service, 's3'>, Record<string, Handler>> = {
  ec2,
  elb,
  elbv2,
  autoscaling,
  cloudwatch,
  ecr,
};
