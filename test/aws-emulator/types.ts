/** The AWS emulator's vocabulary: what it is started with, what it records, what tests can inject. */

export interface EmulatorSpec {
  region?: string;
  /** `publicIp`: absent for instances in private subnets; `instanceType` defaults to t3.small. */
  instances: {
    instanceId: string;
    privateIp: string;
    publicIp?: string;
    instanceType?: string;
    tags: Record<string, string>;
    state?: 'running' | 'stopped' | 'terminated';
  }[];
  autoScalingGroups: { name: string; instanceIds: string[]; suspended?: string[] }[];
  /** `backend`: the HAProxy backend whose servers (named by instance id) play this load balancer. */
  classicLoadBalancers: { name: string; instanceIds: string[]; drainingTimeoutSec: number; backend?: string }[];
  /**
   * `targetType` `ip`: the group holds the instances by private IP, as ECS awsvpc tasks and many
   * hand-built groups do (default `instance`). Its state in snapshots is keyed by IP.
   */
  targetGroups: {
    name: string;
    instanceIds: string[];
    port: number;
    deregistrationDelaySec: number;
    backend?: string;
    targetType?: 'instance' | 'ip';
  }[];
  alarms: { name: string; actionsEnabled: boolean }[];
  /** S3 buckets, empty at start (where Baton keeps its deploy lock and history). */
  buckets?: string[];
  /**
   * Amazon ECR's answer to GetAuthorizationToken: the registry (`proxyEndpoint` without https://) and
   * the password that user `AWS` logs in to it with. Without it, GetAuthorizationToken is refused.
   */
  ecr?: { registry: string; password: string };
  /** HAProxy's runtime API; without it there is no traffic layer and transitions are immediate. */
  haproxy?: { host: string; port: number };
}

export type Service = 'ec2' | 'elb' | 'elbv2' | 'autoscaling' | 'cloudwatch' | 'ecr' | 's3';

export interface EmulatorCall {
  seq: number;
  service: Service;
  action: string;
  /** The request's parameters, flattened (`Instances.member.1.InstanceId`). */
  params: Record<string, string>;
  /** Milliseconds since the epoch. */
  at: number;
  /** `ok`, or the error code returned. */
  outcome: string;
}

export interface EmulatorFault {
  /** The API action it applies to (`DeregisterTargets`), or `*`. */
  action: string;
  /**
   * S3's own: `conflict409` answers 409 ConditionalRequestConflict (a concurrent conditional write won
   * the race, as S3 says it may); `lost-answer` makes the change and then answers 500, as when S3
   * committed a write but its answer never arrived (the SDK retries it).
   */
  kind:
    | 'throttle'
    | 'error5xx'
    | 'latency'
    | 'stuck-deregistration'
    | 'stuck-registration'
    | 'launch-instance'
    | 'conflict409'
    | 'lost-answer';
  /** S3 only: applies only to keys containing this text (`lock.json`, `journal.json`). */
  key?: string;
  /**
   * How many calls it applies to (default 1). The stuck kinds apply until cleared: a deregistration
   * made meanwhile never drains, a registration never passes its health checks (InService is never reached).
   */
  times?: number;
  /** For latency. */
  ms?: number;
}

export type ClassicState = 'InService' | 'OutOfService' | 'Draining';
export type TargetState = 'initial' | 'healthy' | 'unhealthy' | 'draining' | 'unused';

export interface EmulatorState {
  classic: Record<string, Record<string, ClassicState>>;
  targetGroups: Record<string, Record<string, TargetState>>;
  suspendedProcesses: Record<string, string[]>;
  alarmsEnabled: Record<string, boolean>;
  /** Ids of running instances. */
  instances: string[];
  /** Every bucket's objects, as text. */
  buckets: Record<string, Record<string, string>>;
}
