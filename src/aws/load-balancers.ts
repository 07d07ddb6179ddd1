/**
 * Load balancer membership of instances, across classic ELBs and ELBv2 target groups, behind one
 * interface: find where a host is registered, take it out and wait until drained, put it back and wait
 * until in service. Waits are sized from each load balancer's own draining settings.
 */
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  DescribeLoadBalancerAttributesCommand,
  paginateDescribeLoadBalancers,
  RegisterInstancesWithLoadBalancerCommand,
  type ElasticLoadBalancingClient,
} from '@aws-sdk/client-elastic-load-balancing';
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetHealthCommand,
  paginateDescribeTargetGroups,
  RegisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { quote } from '../remote/command.ts';

/** Where an instance is registered, with how long that load balancer lets connections drain. */
export type Membership =
  | { readonly kind: 'classic'; readonly name: string; readonly drainTimeoutMs: number }
  | { readonly kind: 'target-group'; readonly name: string; readonly arn: string; readonly port?: number; readonly drainTimeoutMs: number };

/** The states Baton tells apart, from either kind of load balancer. */
export type TargetState = 'in-service' | 'registering' | 'draining' | 'out-of-service' | 'unhealthy' | 'not-registered';

export function describeMembership(m: Membership): string {
  return m.kind === 'classic' ? `classic ELB ${m.name}` : `target group ${m.name}`;
}

/** The command an operator runs to put an instance back into a load balancer by hand. */
export function registerCommand(instanceId: string, m: Membership, region: string): string {
  const argv =
    m.kind === 'classic'
      ? ['aws', 'elb', 'register-instances-with-load-balancer', '--region', region, '--load-balancer-name', m.name, '--instances', instanceId]
      : ['aws', 'elbv2', 'register-targets', '--region', region, '--target-group-arn', m.arn, '--targets', `Id=${instanceId}${m.port ? `,Port=${m.port}` : ''}`];
  return argv.map(quote).join(' ');
}

export class LoadBalancers {
  constructor(
    private readonly elb: ElasticLoadBalancingClient,
    private readonly elbv2: ElasticLoadBalancingV2Client,
  ) {}

  /** Every classic ELB and target group each instance is registered in. */
  async membershipsOf(instanceIds: readonly string[]): Promise<Map<string, Membership[]>> {
    const wanted = new Set(instanceIds);
    const result = new Map<string, Membership[]>(instanceIds.map((id) => [id, []]));
    const add = (id: string, m: Membership) => wanted.has(id) && result.get(id)!.push(m);

    for await (const page of paginateDescribeLoadBalancers({ client: this.elb }, {})) {
      for (const lb of page.LoadBalancerDescriptions ?? []) {
        const members = (lb.Instances ?? []).map((i) => i.InstanceId!).filter((id) => wanted.has(id));
        if (!members.length) continue;
        const attrs = await this.elb.send(new DescribeLoadBalancerAttributesCommand({ LoadBalancerName: lb.LoadBalancerName }));
        const draining = attrs.LoadBalancerAttributes?.ConnectionDraining;
        const drainTimeoutMs = draining?.Enabled ? (draining.Timeout ?? 300) * 1000 : 0;
        for (const id of members) add(id, { kind: 'classic', name: lb.LoadBalancerName!, drainTimeoutMs });
      }
    }
    for await (const page of paginateDescribeTargetGroups({ client: this.elbv2 }, {})) {
      for (const tg of page.TargetGroups ?? []) {
        if (tg.TargetType && tg.TargetType !== 'instance') continue;
        const health = await this.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }));
        const targets = (health.TargetHealthDescriptions ?? []).filter((t) => t.Target?.Id && wanted.has(t.Target.Id));
        if (!targets.length) continue;
        const attrs = await this.elbv2.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn }));
        const delay = attrs.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
        for (const t of targets) {
          add(t.Target!.Id!, { kind: 'target-group', name: tg.TargetGroupName!, arn: tg.TargetGroupArn!, port: t.Target!.Port, drainTimeoutMs: Number(delay ?? 300) * 1000 });
        }
      }
    }
    return result;
  }

  async deregister(instanceId: string, m: Membership): Promise<void> {
    if (m.kind === 'classic') {
      await this.elb.send(new DeregisterInstancesFromLoadBalancerCommand({ LoadBalancerName: m.name, Instances: [{ InstanceId: instanceId }] }));
    } else {
      await this.elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: m.arn, Targets: [{ Id: instanceId, Port: m.port }] }));
    }
  }

  async register(instanceId: string, m: Membership): Promise<void> {
    if (m.kind === 'classic') {
      await this.elb.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: m.name, Instances: [{ InstanceId: instanceId }] }));
    } else {
      await this.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: m.arn, Targets: [{ Id: instanceId, Port: m.port }] }));
    }
  }

  /** The instance's state in one load balancer, with the load balancer's own words for it. */
  async state(instanceId: string, m: Membership, signal?: AbortSignal): Promise<{ state: TargetState; detail: string }> {
    const options = signal ? { abortSignal: signal } : {};
    if (m.kind === 'classic') {
      try {
        const out = await this.elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: m.name, Instances: [{ InstanceId: instanceId }] }), options);
        const h = out.InstanceStates?.[0];
        const detail = `${h?.State ?? 'Unknown'}: ${h?.Description ?? ''}`.trim();
        if (h?.State === 'InService') return { state: /deregistration/i.test(h.Description ?? '') ? 'draining' : 'in-service', detail };
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
    const out = await this.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: m.arn, Targets: [{ Id: instanceId, Port: m.port }] }), options);
    const h = out.TargetHealthDescriptions?.[0]?.TargetHealth;
    const detail = `${h?.State ?? 'unknown'}${h?.Reason ? ` (${h.Reason})` : ''}`;
    const map: Record<string, TargetState> = { healthy: 'in-service', initial: 'registering', draining: 'draining', unused: 'not-registered', unhealthy: 'unhealthy' };
    return { state: map[h?.State ?? ''] ?? 'out-of-service', detail };
  }
}
