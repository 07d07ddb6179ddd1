/** What a run is given (the CLI, the playbook API and the tests build it) and what it returns. */
import type { Clock } from '../clock.ts';
import type { AwsClients } from '../aws/clients.ts';
import type { AwsServices } from '../aws/services.ts';
import type { DeployConfig } from '../config/types.ts';
import type { Host } from '../inventory/host.ts';
import type { Playbook, Target } from '../playbook/types.ts';
import type { RegistryLogin } from '../remote/docker.ts';
import type { FleetConnection } from '../remote/host.ts';
import type { EventBus, HostSummary, RunOutcome } from '../events/events.ts';
import type { Interrupt } from './interrupt.ts';
import type { ChangeLog } from './journal-log.ts';

export interface DeployOptions {
  readonly playbook: Playbook;
  readonly config: DeployConfig;
  readonly image: string;
  /** Each host's own target image (a rollback); by default `image` for all. */
  readonly targetImage?: (target: Target) => string | undefined;
  readonly deployment: string;
  readonly deployer: string;
  /** The image registry's login, for the pre-pull. */
  readonly registryLogin?: RegistryLogin;
  /** Print the plan and change nothing. */
  readonly check: boolean;
  /** Print the selected hosts and their batches, then stop: no connection, nothing changed. */
  readonly listHosts?: boolean;
  /**
   * Where the hosts come from: an inventory file (`-i`, `fromFile`) comes before the playbook's own
   * `hosts`; without either, these are the deployment's hosts by its EC2 tags.
   */
  readonly inventory: { readonly hosts: () => Promise<Host[]>; readonly fromFile: boolean };
  /** Narrows the inventory (the `--limit` selection); identity by default. */
  readonly limit?: (hosts: Host[]) => Host[];
  readonly events: EventBus;
  readonly interrupt: Interrupt;
  /** The run's time (the system's by default; tests give a simulated one). */
  readonly clock?: Clock;
  readonly aws: AwsClients;
  /** The AWS adapters the run works through (the CLI builds them on `aws`'s clients; tests pass fakes). */
  readonly services: AwsServices;
  readonly connect: (hosts: readonly Host[]) => Promise<FleetConnection>;
  /**
   * Runs once the selection is known and before the first connection, unless nothing will change
   * (`check`, `listHosts`): takes the deploy lock and starts the journal every change is written to.
   * Its release is the caller's, after the run.
   */
  readonly lock?: (hosts: readonly Host[]) => Promise<{ readonly where: string; readonly journal?: ChangeLog }>;
  /** A rollback run: a failed batch never triggers another rollback. */
  readonly rollback?: boolean;
  /** Called with the hosts' results just before the run's last event (to write a retry file, say). */
  readonly beforeFinish?: (hosts: readonly HostSummary[]) => void;
  /** Asked before each batch (`--step`, a canary pause): false stops the rollout there. */
  readonly beforeBatch?: (batch: {
    index: number;
    of: number;
    hosts: string[];
    previous?: string[];
  }) => Promise<boolean>;
}

export interface DeployResult {
  readonly outcome: RunOutcome;
  readonly exitCode: number;
  readonly hosts: HostSummary[];
}
