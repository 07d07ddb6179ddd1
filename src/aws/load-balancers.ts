/**
 * Load balancer membership of instances, across classic ELBs and ELBv2 target groups, behind one
 * interface: find where a host is registered, take it out and wait until drained, put it back and wait
 * until in service. Waits are sized from each load balancer's own draining settings.
 */
import type { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { BatonError } from '../errors.ts';
import { renderShell, sh } from '../remote/shell.ts';
import { elbSdk, elbv2Sdk } from './sdk.ts';

/**
 * Where an instance is registered, with how long that load balancer lets connections drain. A target
 * group registers an instance by its id (`instance` targets) or by its private IP (`ip` targets), on a
 * port; an instance registered on several ports, or in several groups, has one membership for each.
 */
export type Membership =
  | { readonly kind: 'classic'; readonly name: string; readonly drainTimeoutMs: number }
  | {
      readonly kind: 'target-group';
      readonly name: string;
      readonly arn: string;
      readonly port?: number;
      readonly drainTimeoutMs: number;
      /** The target's id in the group: the IP for `ip` targets. Absent (journals of older runs): the instance id. */
      readonly targetId?: string;
      /** Set for an IP target outside the group's VPC (`all`), given back when registering again. */
      readonly availabilityZone?: string;
    };

/** An instance as load balancers may know it: by id, or (IP target groups) by its private IP. */
export interface Registrable {
  readonly instanceId: string;
  readonly privateIp?: string;
}

/** What target groups of these types hold: Baton reads instance and IP targets; the others cannot hold an instance. */
const HANDLED_TARGET_TYPES = new Set(['instance', 'ip']);
const NOT_INSTANCES = new Set(['lambda', 'alb']);

/** The states Baton tells apart, from either kind of load balancer. */
export type TargetState = 'in-service' | 'registering' | 'draining' | 'out-of-service' | 'unhealthy' | 'not-registered';

export function describeMembership(m: Membership): string {
  if (m.kind === 'classic') return `classic ELB ${m.name}`;
  return m.targetId
    ? `target group ${m.name} (IP ${m.targetId}${m.port ? `:${m.port}` : ''})`
    : `target group ${m.name}`;
}

/** The target an ELBv2 call names for this instance in this group: by IP in an IP target group. */
function targetOf(instanceId: string, m: Extract<Membership, { kind: 'target-group' }>) {
  return {
    Id: m.targetId ?? instanceId,
    ...(m.port !== undefined && { Port: m.port }),
    ...(m.availabilityZone && { AvailabilityZone: m.availabilityZone }),
  };
}

/** The command an operator runs to put an instance back into a load balancer by hand. */
export function registerCommand(instanceId: string, m: Membership, region: string): string {
  if (m.kind === 'classic')
    return renderShell(
      sh`aws elb register-instances-with-load-balancer --region ${region} --load-balancer-name ${m.name} --instances ${instanceId}`,
    );
  const target = Object.entries(targetOf(instanceId, m))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return renderShell(sh`aws elbv2 register-targets --region ${region} --target-group-arn ${m.arn} --targets ${target}`);
}

export class LoadBalancers {
  constructor(
    private readonly elb: ElasticLoadBalancingClient,
    private readonly elbv2: ElasticLoadBalancingV2Client,
  ) {}

  /**
   * Every classic ELB and target group each instance is registered in, by instance id: instance targets
   * by id, IP targets by the instance's private IP. A target group of a type Baton does not know is
   * refused, never skipped: a host it serves would be swapped while still receiving traffic.
   */
  async membershipsOf(instances: readonly Registrable[]): Promise<Map<string, Membership[]>> {
    const byId = new Map(instances.map((i) => [i.instanceId, i]));
    const byIp = new Map(instances.flatMap((i) => (i.privateIp ? [[i.privateIp, i.instanceId] as const] : [])));
    const result = new Map<string, Membership[]>(instances.map((i) => [i.instanceId, []]));

    for await (const page of elbSdk.paginateDescribeLoadBalancers({ client: this.elb }, {})) {
      for (const lb of page.LoadBalancerDescriptions ?? []) {
        const members = (lb.Instances ?? []).map((i) => i.InstanceId!).filter((id) => byId.has(id));
        if (!members.length) continue;
        const attrs = await this.elb.send(
          new elbSdk.DescribeLoadBalancerAttributesCommand({ LoadBalancerName: lb.LoadBalancerName }),
        );
        const draining = attrs.LoadBalancerAttributes?.ConnectionDraining;
        const drainTimeoutMs = draining?.Enabled ? (draining.Timeout ?? 300) * 1000 : 0;
        for (const id of members) result.get(id)!.push({ kind: 'classic', name: lb.LoadBalancerName!, drainTimeoutMs });
      }
    }
    for await (const page of elbv2Sdk.paginateDescribeTargetGroups({ client: this.elbv2 }, {})) {
      for (const tg of page.TargetGroups ?? []) {
        const type = tg.TargetType ?? 'instance';
        if (NOT_INSTANCES.has(type)) continue;
        if (!HANDLED_TARGET_TYPES.has(type)) {
          throw new BatonError(
            `target group ${tg.TargetGroupName}: targets of type ${JSON.stringify(type)} are not supported; Baton drains instance and IP targets only, and will not swap a host that may still be receiving traffic`,
          );
        }
        const owner = (id: string) => (type === 'ip' ? byIp.get(id) : byId.has(id) ? id : undefined);
        const health = await this.elbv2.send(
          new elbv2Sdk.DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }),
        );
        const targets = (health.TargetHealthDescriptions ?? []).filter((t) => t.Target?.Id && owner(t.Target.Id));
        if (!targets.length) continue;
        const attrs = await this.elbv2.send(
          new elbv2Sdk.DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn }),
        );
        const delay = attrs.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
        for (const { Target: t } of targets) {
          result.get(owner(t!.Id!)!)!.push({
            kind: 'target-group',
            name: tg.TargetGroupName!,
            arn: tg.TargetGroupArn!,
            port: t!.Port,
            drainTimeoutMs: Number(delay ?? 300) * 1000,
            ...(type === 'ip' && { targetId: t!.Id! }),
            ...(t!.AvailabilityZone && { availabilityZone: t!.AvailabilityZone }),
          });
        }
      }
    }
    return result;
  }

  async deregister(instanceId: string, m: Membership): Promise<void> {
    if (m.kind === 'classic') {
      await this.elb.send(
        new elbSdk.DeregisterInstancesFromLoadBalancerCommand({
          LoadBalancerName: m.name,
          Instances: [{ InstanceId: instanceId }],
        }),
      );
    } else {
      await this.elbv2.send(
        new elbv2Sdk.DeregisterTargetsCommand({ TargetGroupArn: m.arn, Targets: [targetOf(instanceId, m)] }),
      );
    }
  }

  async register(instanceId: string, m: Membership): Promise<void> {
    if (m.kind === 'classic') {
      await this.elb.send(
        new elbSdk.RegisterInstancesWithLoadBalancerCommand({
          LoadBalancerName: m.name,
          Instances: [{ InstanceId: instanceId }],
        }),
      );
    } else {
      await this.elbv2.send(
        new elbv2Sdk.RegisterTargetsCommand({ TargetGroupArn: m.arn, Targets: [targetOf(instanceId, m)] }),
      );
    }
  }

  /**
   * The members of one load balancer in service now, every one of them (not only the hosts this run
   * selected): by instance id for classic ELBs and instance targets, by IP for IP targets.
   */
  async inService(m: Membership, signal?: AbortSignal): Promise<string[]> {
    const options = signal ? { abortSignal: signal } : {};
    if (m.kind === 'classic') {
      const out = await this.elb.send(new elbSdk.DescribeInstanceHealthCommand({ LoadBalancerName: m.name }), options);
      return (out.InstanceStates ?? [])
        .filter((h) => h.State === 'InService' && !/deregistration/i.test(h.Description ?? ''))
        .map((h) => h.InstanceId!);
    }
    const out = await this.elbv2.send(new elbv2Sdk.DescribeTargetHealthCommand({ TargetGroupArn: m.arn }), options);
    return (out.TargetHealthDescriptions ?? [])
      .filter((t) => t.TargetHealth?.State === 'healthy')
      .map((t) => `${t.Target!.Id!}:${t.Target!.Port ?? ''}`);
  }

  /** The instance's state in one load balancer, with the load balancer's own words for it. */
  async state(
    instanceId: string,
    m: Membership,
    signal?: AbortSignal,
  ): Promise<{ state: TargetState; detail: string }> {
    const options = signal ? { abortSignal: signal } : {};
    if (m.kind === 'classic') {
      try {
        const out = await this.elb.send(
          new elbSdk.DescribeInstanceHealthCommand({
            LoadBalancerName: m.name,
            Instances: [{ InstanceId: instanceId }],
          }),
          options,
        );
        const h = out.InstanceStates?.[0];
        const detail = `${h?.State ?? 'Unknown'}: ${h?.Description ?? ''}`.trim();
        if (h?.State === 'InService')
          return { state: /deregistration/i.test(h.Description ?? '') ? 'draining' : 'in-service', detail };
        if (/registration is still in progress/i.test(h?.Description ?? '')) return { state: 'registering', detail };
        if (/not currently registered/i.test(h?.Description ?? '')) return { state: 'not-registered', detail };
        return { state: 'out-of-service', detail };
      } catch (error) {
        // Classic ELB answers InvalidInstance for an instance that is no longer registered at all.
        if ((error as Error).name === 'InvalidEndPointException' || (error as Error).name === 'InvalidInstance') {
          return { state: 'not-registered', detail: (error as Error).message };
        }
        throw error;
      }
    }
    const out = await this.elbv2.send(
      new elbv2Sdk.DescribeTargetHealthCommand({ TargetGroupArn: m.arn, Targets: [targetOf(instanceId, m)] }),
      options,
    );
    const h = out.TargetHealthDescriptions?.[0]?.TargetHealth;
    const detail = `${h?.State ?? 'unknown'}${h?.Reason ? ` (${h.Reason})` : ''}`;
    const map: Record<string, TargetState> = {
      healthy: 'in-service',
      initial: 'registering',
      draining: 'draining',
      unused: 'not-registered',
      unhealthy: 'unhealthy',
    };
    return { state: map[h?.State ?? ''] ?? 'out-of-service', detail };
  }
}
