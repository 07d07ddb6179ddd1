/**
 * The playbook model, in Ansible's vocabulary: a playbook targets hosts, rolls them `serial` at a time,
 * runs `preTasks` once before any host leaves service, `tasks` on each host, `postTasks` once at the end.
 * Tasks are typed objects; users compose their own playbooks from them (see playbooks/deploy.ts).
 */
import type { Alarms } from '../aws/alarms.ts';
import type { AutoScaling } from '../aws/autoscaling.ts';
import type { AwsClients } from '../aws/clients.ts';
import type { LoadBalancers, Membership } from '../aws/load-balancers.ts';
import type { DeployConfig, Serial } from '../config/index.ts';
import type { Host } from '../inventory/host.ts';
import type { EventBus } from '../rollout/events.ts';
import type { RemoteHost } from '../ssh/remote-host.ts';
import type { ContainerFacts } from './tasks/container.ts';

export interface Playbook {
  readonly name: string;
  /** Where the hosts come from; by default the EC2 instances tagged with the stack, release and deployment. */
  readonly hosts?: (ctx: InventoryContext) => Promise<Host[]>;
  /** Overrides the configuration's `rollout.serial`. */
  readonly serial?: Serial;
  readonly maxFailPercentage?: number;
  /** Run once, in order, before any host leaves service. A failure stops the run before the fleet changes. */
  readonly preTasks: readonly RunTask[];
  /** Run on every host, in order, batch by batch. A failure rolls that host back. */
  readonly tasks: readonly HostTask[];
  /** Run once after every batch succeeded. */
  readonly postTasks?: readonly RunTask[];
}

export interface InventoryContext {
  readonly config: DeployConfig;
  readonly aws: AwsClients;
}

/** A fleet-wide task (suspend autoscaling, silence alarms, pre-pull). */
export interface RunTask {
  readonly name: string;
  /**
   * Read-only checks and discovery, run for every pre-task before any pre-task changes anything, so bad
   * input (an alarm that does not exist) stops the run while the fleet is untouched.
   */
  prepare?(ctx: RunContext): Promise<void>;
  run(ctx: RunContext): Promise<string | void>;
  /** For `--check`: what `run` would do, after `prepare`, in one line. */
  explain?(ctx: RunContext): string;
}

/** A per-host task (deregister, replace the container, health check, register). */
export interface HostTask {
  readonly name: string;
  run(ctx: HostContext): Promise<string | void>;
  /** For `--check`: what `run` would do on this target, in one line. */
  explain?(ctx: RunContext, target: Target): string;
}

/** A host being deployed to: its connection and what Baton learned of it before changing anything. */
export interface Target {
  readonly host: Host;
  readonly remote: RemoteHost;
  /** The load balancers and target groups it is registered in. */
  readonly memberships: readonly Membership[];
  /** Its live container as discovery found it, before anything changed; absent when it has none. */
  readonly live?: ContainerFacts;
  /** The image its live container runs now, if it has one. */
  readonly liveImage?: string;
  /** The container kept by the last deploy for rollback (`<name>-previous`), if any. */
  readonly previous?: ContainerFacts;
}

export interface RunContext {
  readonly config: DeployConfig;
  readonly image: string;
  /** The image a host ends on, when it is not `image` for every host (a rollback: each its own). */
  readonly targetImage?: (target: Target) => string | undefined;
  readonly deployment: string;
  /** Who deploys: recorded in container labels. */
  readonly deployer: string;
  readonly targets: readonly Target[];
  readonly aws: { readonly clients: AwsClients; readonly loadBalancers: LoadBalancers; readonly autoscaling: AutoScaling; readonly alarms: Alarms };
  readonly events: EventBus;
  /** Aborted by a second Ctrl-C: steps in flight stop; undo still runs. */
  readonly signal: AbortSignal;
  /**
   * Registers an undo that runs when the run ends, whatever happens, last registered first. `fix` is the
   * command an operator runs if the undo itself fails (asked for only then, so it can name what was
   * actually changed). Register it BEFORE making the change it undoes.
   */
  guard(what: string, undo: () => Promise<void>, fix: () => string): void;
}

export interface HostContext extends RunContext {
  readonly target: Target;
  /**
   * Registers how to put this host back if a later task fails, last registered first. Compensations run
   * with their own deadline even after Ctrl-C: a host is never left half-deployed by choice.
   */
  compensate(what: string, undo: (signal: AbortSignal) => Promise<void>): void;
  /** Marks when the host left and came back into service, for the summary. */
  readonly service: { left?: number; back?: number };
}
