/**
 * The AWS a rollout works through, in memory, for the executor's and recover's unit tests: every
 * instance in one membership (a target group, say), one Auto Scaling group `asg`, the alarm `api-5xx`.
 * Each call that changes something is written to `log` in words (`register i-a`, `resume asg Launch
 * Terminate`, `enable api-5xx`), in the order made; `failing` sets what refuses or never finishes.
 */
import type { Membership, TargetState } from '../../src/aws/load-balancers.ts';
import type { AwsServices } from '../../src/aws/services.ts';

export interface FakeAws {
  readonly services: AwsServices;
  /** Instance ids registered now. */
  readonly registered: Set<string>;
  readonly failing: {
    /** ResumeProcesses fails. */
    resume: boolean;
    /** Instances RegisterTargets refuses. */
    readonly register: Set<string>;
    /** Instances that stay `draining` once deregistered. */
    readonly stuckDraining: Set<string>;
    /** Instances their load balancer reports unhealthy while registered. */
    readonly unhealthy: Set<string>;
  };
  /** Alarms in ALARM now, by name, with CloudWatch's reason. */
  readonly alarming: Map<string, string>;
}

export function fakeAws(options: {
  readonly log: string[];
  readonly membership: Membership;
  /** Registered at the start. */
  readonly registered?: Iterable<string>;
}): FakeAws {
  const { log, membership } = options;
  const registered = new Set(options.registered ?? []);
  const failing = {
    resume: false,
    register: new Set<string>(),
    stuckDraining: new Set<string>(),
    unhealthy: new Set<string>(),
  };
  const alarming = new Map<string, string>();
  const services: AwsServices = {
    loadBalancers: {
      membershipsOf: async (instances) => new Map(instances.map((i) => [i.instanceId, [membership]])),
      deregister: async (id) => void (log.push(`deregister ${id}`), registered.delete(id)),
      register: async (id) => {
        if (failing.register.has(id)) throw new Error(`RegisterTargets refused ${id}`);
        log.push(`register ${id}`);
        registered.add(id);
      },
      inService: async () => [...registered].map((id) => `${id}:8080`),
      state: async (id): Promise<{ state: TargetState; detail: string }> =>
        registered.has(id)
          ? failing.unhealthy.has(id)
            ? { state: 'unhealthy', detail: 'Target.ResponseCodeMismatch' }
            : { state: 'in-service', detail: 'healthy' }
          : failing.stuckDraining.has(id)
            ? { state: 'draining', detail: 'draining' }
            : { state: 'not-registered', detail: 'unused' },
    },
    autoscaling: {
      groupsOf: async () => ['asg'],
      notSuspended: async () => new Map([['asg', ['Launch', 'Terminate']]]),
      suspendProcesses: async (group, processes) => void log.push(`suspend ${group} ${processes.join(' ')}`),
      resumeProcesses: async (group, processes) => {
        if (failing.resume) throw new Error('ResumeProcesses: service unavailable');
        log.push(`resume ${group} ${processes.join(' ')}`);
      },
    },
    alarms: {
      enabledOf: async () => ['api-5xx'],
      disable: async (names) => void log.push(`disable ${names.join(',')}`),
      enable: async (names) => void log.push(`enable ${names.join(',')}`),
      inAlarm: async (names) =>
        names.flatMap((name) => (alarming.has(name) ? [{ name, reason: alarming.get(name)! }] : [])),
    },
  };
  return { services, registered, failing, alarming };
}
