/**
 * The playbook model, in Ansible's vocabulary: a playbook targets hosts, rolls them `serial` at a time,
 * runs `preTasks` once before any host leaves service, `tasks` on each host, `postTasks` once at the end.
 * Tasks are typed objects; users compose their own playbooks from them (see playbooks/deploy.ts).
 */
import type { Clock } from '../clock.ts';
import type { AwsServices } from '../aws/services.ts';
import type { AwsClients } from '../aws/clients.ts';
import type { Membership } from '../aws/load-balancers.ts';
import type { DeployConfig, Serial } from '../config/index.ts';
import type { Host } from '../inventory/host.ts';
import type { EventBus } from '../events/events.ts';
import type { RegistryLogin } from '../remote/docker.ts';
import type { RemoteHost } from '../remote/host.ts';
import type { Change } from '../changes/index.ts';
import type { ContainerFacts } from '../remote/container.ts';

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

/** What `playbook({...})` takes: pre- and post-tasks may be left out. */
export type PlaybookDefinition = Omit<Playbook, 'preTasks'> & { readonly preTasks?: readonly RunTask[] };

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
  /**
   * A read-only check of one target, run on every target (in parallel) before any host leaves service:
   * a problem found here stops the run while the fleet is untouched. Returns what it found, for the log.
   */
  prepare?(ctx: RunContext, target: Target): Promise<string | void>;
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
  /** The id of the image the live container runs: what "unchanged" is judged by. */
  readonly liveImageId?: string;
  /** The container kept by the last deploy for rollback (`<name>-previous`), if any. */
  readonly previous?: ContainerFacts;
}

export interface PulledImage {
  readonly id: string;
  readonly digest?: string;
}

export interface RunContext {
  readonly config: DeployConfig;
  readonly image: string;
  /** The image a host ends on, when it is not `image` for every host (a rollback: each its own). */
  readonly targetImage?: (target: Target) => string | undefined;
  readonly deployment: string;
  /** Credentials for the image's registry (`registry` in the configuration), for the pull. */
  readonly registryLogin?: RegistryLogin;
  /** Who deploys: recorded in container labels. */
  readonly deployer: string;
  readonly targets: readonly Target[];
  /**
   * What the image to deploy is on each host once pulled (by host name): its id, and its registry
   * digest. A host is unchanged only when its live container runs that very id; a tag pushed again
   * names another image, and is deployed.
   */
  readonly pulled: Map<string, PulledImage>;
  readonly aws: AwsServices & { readonly clients: AwsClients };
  readonly events: EventBus;
  /** Aborted by a second Ctrl-C: steps in flight stop; undo still runs. */
  readonly signal: AbortSignal;
  /** The run's time: waits and measured durations read it (tests run on a simulated one). */
  readonly clock: Clock;
  /**
   * Records a fleet-wide change in the journal; its kind's undo (src/changes/, the same one `baton
   * recover` runs) runs when the run ends, whatever happens, last recorded first. Await it, THEN make
   * the change: once it resolves, a run killed at any later line leaves the change where `baton
   * recover` finds it.
   */
  guard(guard: Guard): Promise<void>;
}

export interface Guard {
  /** The change about to be made, as the journal records it (and its kind undoes it). */
  readonly change: Change;
}

export interface Compensation {
  /** The step's name in progress output: "restore the previous container". */
  readonly what: string;
  readonly undo: (signal: AbortSignal) => Promise<void>;
  /** The changes it undoes, which the journal must hold until the host is back. */
  readonly changes?: readonly Change[];
}

export interface HostContext extends RunContext {
  readonly target: Target;
  /**
   * Registers how to put this host back if a later task fails, last registered first, and journals its
   * change. Await it BEFORE making the change. Compensations run with their own deadline even after
   * Ctrl-C: a host is never left half-deployed by choice. A change stays open in the journal until the
   * host's turn ends well or its compensation ran.
   */
  compensate(compensation: Compensation): Promise<void>;
  /** Marks when the host left and came back into service, for the summary. */
  readonly service: { left?: number; back?: number };
  /**
   * Resolves when the run may still change the fleet (it proves its lease on the deploy lock); throws
   * when it cannot. A task that makes several changes calls it before each one after the first.
   */
  fence(): Promise<void>;
}
