/**
 * The emulated AWS account: instances, an Auto Scaling group, load balancers, alarms. Load balancer
 * membership follows AWS's lifecycle: registering → in service (once HAProxy's health checks pass),
 * deregistering → draining (until the server's sessions reach zero or the draining timeout passes) →
 * gone. With HAProxy attached, every transition drives the real traffic layer.
 */
import { HaproxyDriver, type ServerStat } from './haproxy.ts';
import type { ClassicState, EmulatorSpec, EmulatorState, TargetState } from './types.ts';

type Phase = 'registering' | 'in-service' | 'unhealthy' | 'draining';

interface Member {
  phase: Phase;
  /** Draining: when the timeout ends it regardless of sessions. */
  drainDeadline?: number;
  /** Draining: since when the server has had no session. */
  idleSince?: number;
  stuck?: boolean;
  /** Draining: set until HAProxy has applied the drain, so no tick can put the server in maintenance first. */
  applying?: boolean;
}

export interface Balancer {
  readonly kind: 'classic' | 'target-group';
  /** Target groups: members are instance ids, or private IPs for `ip`. */
  readonly targetType: 'instance' | 'ip';
  readonly name: string;
  readonly arn: string;
  readonly port: number;
  readonly drainMs: number;
  readonly backend?: string;
  readonly members: Map<string, Member>;
}

export interface Instance {
  instanceId: string;
  privateIp: string;
  publicIp?: string;
  instanceType?: string;
  tags: Record<string, string>;
  state: 'running' | 'stopped' | 'terminated';
  launchedAt: number;
}

/** How long a draining server must stay without sessions before it counts as drained. */
const IDLE_MS = 0;
/** How often HAProxy's state is read while something is in transition. */
const TICK_MS = 50;

export class World {
  readonly region: string;
  readonly instances = new Map<string, Instance>();
  readonly groups = new Map<string, { name: string; instanceIds: string[]; suspended: Map<string, string> }>();
  readonly balancers: Balancer[] = [];
  readonly alarms = new Map<string, boolean>();
  /** Each alarm's state, as CloudWatch evaluates it whether or not its actions are enabled. */
  readonly alarmStates = new Map<string, { value: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'; reason: string; at: Date }>();
  readonly ecr?: { registry: string; password: string };
  private readonly haproxy?: HaproxyDriver;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  /** Set while the next deregistrations must never complete (a fault). */
  /**
   * Whether a stuck fault holds for this action now (set by the server from its faults): a deregistration
   * made under one never drains, a registration never comes in service.
   */
  stuck: (kind: 'stuck-registration' | 'stuck-deregistration', action: string) => boolean = () => false;

  constructor(
    spec: EmulatorSpec,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.region = spec.region ?? 'us-east-1';
    for (const i of spec.instances)
      this.instances.set(i.instanceId, {
        ...i,
        tags: { ...i.tags },
        state: i.state ?? 'running',
        launchedAt: Date.now(),
      });
    for (const g of spec.autoScalingGroups) {
      this.groups.set(g.name, {
        name: g.name,
        instanceIds: [...g.instanceIds],
        suspended: new Map((g.suspended ?? []).map((p) => [p, 'User suspended'])),
      });
    }
    for (const lb of spec.classicLoadBalancers)
      this.balancers.push(
        balancer('classic', 'instance', lb.name, lb.name, 80, lb.drainingTimeoutSec, lb.backend, lb.instanceIds),
      );
    spec.targetGroups.forEach((tg, i) => {
      const type = tg.targetType ?? 'instance';
      const members = type === 'ip' ? tg.instanceIds.map((id) => this.instances.get(id)!.privateIp) : tg.instanceIds;
      const arn = `arn:aws:elasticloadbalancing:${this.region}:123456789012:targetgroup/${tg.name}/${(0x5eed0000 + i).toString(16).padStart(16, '0')}`;
      this.balancers.push(
        balancer('target-group', type, tg.name, arn, tg.port, tg.deregistrationDelaySec, tg.backend, members),
      );
    });
    for (const a of spec.alarms) {
      this.alarms.set(a.name, a.actionsEnabled);
      this.alarmStates.set(a.name, { value: 'OK', reason: 'Unchecked: Initial alarm creation', at: new Date() });
    }
    if (spec.ecr) this.ecr = { ...spec.ecr };
    if (spec.haproxy) {
      this.haproxy = new HaproxyDriver(spec.haproxy);
      this.timer = setInterval(() => void this.tick(), TICK_MS);
      this.timer.unref();
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** The HAProxy server that plays a member: servers are named by instance id, IP targets map to theirs. */
  private server(lb: Balancer, member: string): string {
    if (lb.targetType !== 'ip') return member;
    for (const i of this.instances.values()) if (i.privateIp === member) return i.instanceId;
    return member;
  }

  balancer(kind: Balancer['kind'], nameOrArn: string): Balancer | undefined {
    return this.balancers.find((b) => b.kind === kind && (b.name === nameOrArn || b.arn === nameOrArn));
  }

  async register(lb: Balancer, instanceId: string): Promise<void> {
    const member = lb.members.get(instanceId);
    if (member && member.phase !== 'draining') return;
    const stuck = this.stuck(
      'stuck-registration',
      lb.kind === 'classic' ? 'RegisterInstancesWithLoadBalancer' : 'RegisterTargets',
    );
    lb.members.set(instanceId, { phase: (this.haproxy && lb.backend) || stuck ? 'registering' : 'in-service', stuck });
    if (this.haproxy && lb.backend) await this.haproxy.setState(lb.backend, this.server(lb, instanceId), 'ready');
  }

  async deregister(lb: Balancer, instanceId: string): Promise<void> {
    const member = lb.members.get(instanceId);
    if (!member || member.phase === 'draining') return;
    const traffic = this.haproxy && lb.backend;
    const stuck = this.stuck(
      'stuck-deregistration',
      lb.kind === 'classic' ? 'DeregisterInstancesFromLoadBalancer' : 'DeregisterTargets',
    );
    if (!traffic && !stuck) {
      lb.members.delete(instanceId);
      return;
    }
    const draining: Member = { phase: 'draining', drainDeadline: Date.now() + lb.drainMs, stuck, applying: !!traffic };
    lb.members.set(instanceId, draining);
    if (traffic) {
      await this.haproxy!.setState(lb.backend!, this.server(lb, instanceId), 'drain');
      draining.applying = false;
    }
  }

  /** The faults are cleared: registrations and deregistrations held by a stuck fault go on as usual. */
  unstick(): void {
    for (const lb of this.balancers) for (const m of lb.members.values()) m.stuck = false;
  }

  /** Brings the membership states up to date with HAProxy: health, drained sessions. */
  async tick(): Promise<void> {
    if (!this.haproxy || this.ticking) return;
    this.ticking = true;
    try {
      const stats = await this.haproxy.stats();
      for (const lb of this.balancers) if (lb.backend) await this.advance(lb, stats);
    } catch (error) {
      this.log(`HAProxy: ${(error as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }

  private async advance(lb: Balancer, stats: Map<string, ServerStat>): Promise<void> {
    const now = Date.now();
    for (const [id, m] of lb.members) {
      const server = this.server(lb, id);
      const stat = stats.get(`${lb.backend}/${server}`);
      if (!stat) continue;
      const up = stat.status.startsWith('UP') || stat.status === 'DRAIN';
      if (m.phase === 'registering' && up && !m.stuck) m.phase = 'in-service';
      else if (m.phase === 'in-service' && !up) m.phase = 'unhealthy';
      else if (m.phase === 'unhealthy' && up) m.phase = 'in-service';
      else if (m.phase === 'draining' && !m.stuck && !m.applying) {
        m.idleSince = stat.sessions === 0 ? (m.idleSince ?? now) : undefined;
        if ((m.idleSince !== undefined && now - m.idleSince >= IDLE_MS) || now >= m.drainDeadline!) {
          await this.haproxy!.setState(lb.backend!, server, 'maint');
          // Registered again while HAProxy was being told: the new registration stands.
          if (lb.members.get(id) !== m) {
            const again = lb.members.get(id);
            if (again) await this.haproxy!.setState(lb.backend!, server, 'ready');
            continue;
          }
          lb.members.delete(id);
          this.log(`${lb.name}: ${id} drained${now >= m.drainDeadline! ? ' (timeout)' : ''}`);
        }
      }
    }
  }

  classicState(
    lb: Balancer,
    instanceId: string,
  ): { state: ClassicState; description: string; reason: string } | undefined {
    const m = lb.members.get(instanceId);
    if (!m) return undefined;
    switch (m.phase) {
      case 'in-service':
        return { state: 'InService', description: 'N/A', reason: 'N/A' };
      case 'draining':
        return { state: 'InService', description: 'Instance deregistration currently in progress.', reason: 'N/A' };
      case 'registering':
        return { state: 'OutOfService', description: 'Instance registration is still in progress.', reason: 'ELB' };
      case 'unhealthy':
        return {
          state: 'OutOfService',
          description: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.',
          reason: 'Instance',
        };
    }
  }

  targetState(lb: Balancer, instanceId: string): { state: TargetState; reason?: string; description?: string } {
    const m = lb.members.get(instanceId);
    if (!m)
      return {
        state: 'unused',
        reason: 'Target.NotRegistered',
        description: 'Target is not registered to the target group',
      };
    switch (m.phase) {
      case 'in-service':
        return { state: 'healthy' };
      case 'draining':
        return {
          state: 'draining',
          reason: 'Target.DeregistrationInProgress',
          description: 'Target deregistration is in progress',
        };
      case 'registering':
        return {
          state: 'initial',
          reason: 'Elb.RegistrationInProgress',
          description: 'Target registration is in progress',
        };
      case 'unhealthy':
        return { state: 'unhealthy', reason: 'Target.FailedHealthChecks', description: 'Health checks failed' };
    }
  }

  /** An instance the group launched by itself (a scale-out or a replacement), unless Launch is suspended. */
  launchInto(groupName?: string): string | undefined {
    const group = groupName ? this.groups.get(groupName) : this.groups.values().next().value;
    if (!group || group.suspended.has('Launch')) return undefined;
    const template = this.instances.get(group.instanceIds[0]!);
    const id = `i-0${Math.floor(Math.random() * 2 ** 52)
      .toString(16)
      .padStart(16, '0')}`;
    this.instances.set(id, {
      instanceId: id,
      privateIp: '10.255.0.1',
      tags: { ...(template?.tags ?? {}) },
      state: 'running',
      launchedAt: Date.now(),
    });
    group.instanceIds.push(id);
    return id;
  }

  snapshot(): Omit<EmulatorState, 'buckets'> {
    const classic: EmulatorState['classic'] = {};
    const targetGroups: EmulatorState['targetGroups'] = {};
    for (const lb of this.balancers) {
      if (lb.kind === 'classic') {
        classic[lb.name] = Object.fromEntries(
          [...lb.members.keys()].map((id) => {
            const s = this.classicState(lb, id)!;
            return [id, s.description.includes('deregistration') ? 'Draining' : s.state];
          }),
        );
      } else {
        targetGroups[lb.name] = Object.fromEntries(
          [...lb.members.keys()].map((id) => [id, this.targetState(lb, id).state]),
        );
      }
    }
    return {
      classic,
      targetGroups,
      suspendedProcesses: Object.fromEntries([...this.groups.values()].map((g) => [g.name, [...g.suspended.keys()]])),
      alarmsEnabled: Object.fromEntries(this.alarms),
      instances: [...this.instances.values()].filter((i) => i.state === 'running').map((i) => i.instanceId),
    };
  }
}

function balancer(
  kind: Balancer['kind'],
  targetType: Balancer['targetType'],
  name: string,
  arn: string,
  port: number,
  drainSec: number,
  backend: string | undefined,
  ids: string[],
): Balancer {
  return {
    kind,
    targetType,
    name,
    arn,
    port,
    drainMs: drainSec * 1000,
    backend,
    members: new Map(ids.map((id) => [id, { phase: 'in-service' as Phase }])),
  };
}
