/**
 * The rollout plan, pure: batches from Ansible's `serial` (a count, a percentage, or a ramp whose last
 * step repeats), bounded by a capacity floor, and the `max_fail_percentage` rule that decides when a
 * batch's failures stop the rollout.
 */
import type { RolloutSettings, Serial, SerialStep } from '../config/types.ts';
import { ConfigError } from '../errors.ts';
import type { Playbook } from '../playbook/types.ts';
import type { DeployEvent } from '../events/events.ts';

export interface PlanOptions {
  readonly serial: Serial;
  /** Stop when more than this percentage of a batch failed (Ansible's semantics; 0 = any failure). */
  readonly maxFailPercentage: number;
  /** Never take so many hosts out at once that fewer than this many stay in service. */
  readonly minInService: number;
}

export interface Plan<H> {
  readonly batches: readonly (readonly H[])[];
  /** True when `failed` hosts out of a batch of `batchSize` exceed the allowed failure percentage. */
  shouldStop(failed: number, batchSize: number): boolean;
}

/** A serial step as a batch size for a fleet of `total` hosts (Ansible: a percentage rounds down, at least 1). */
export function batchSize(step: SerialStep, total: number): number {
  if (typeof step === 'number') return step;
  return Math.max(1, Math.floor((Number.parseFloat(step) * total) / 100));
}

export function planRollout<H>(hosts: readonly H[], options: PlanOptions): Plan<H> {
  const total = hosts.length;
  const steps = Array.isArray(options.serial)
    ? (options.serial as readonly SerialStep[])
    : [options.serial as SerialStep];
  const ceiling = total - options.minInService;
  if (total > 0 && ceiling < 1) {
    throw new ConfigError(
      'rollout.minInService',
      `${options.minInService} hosts must stay in service, but only ${total} host${total === 1 ? ' is' : 's are'} targeted: no host could ever leave service`,
    );
  }
  const batches: H[][] = [];
  for (let at = 0, i = 0; at < total; i++) {
    const size = Math.min(batchSize(steps[Math.min(i, steps.length - 1)]!, total), ceiling, total - at);
    batches.push(hosts.slice(at, at + size));
    at += size;
  }
  return {
    batches,
    shouldStop: (failed, size) => failed > 0 && (failed * 100) / size > options.maxFailPercentage,
  };
}

/** The plan of a playbook's run: its own `serial` and failure rule first, else the configuration's. */
export function planFor<H>(
  hosts: readonly H[],
  playbook: Pick<Playbook, 'serial' | 'maxFailPercentage'>,
  rollout: Pick<RolloutSettings, 'serial' | 'maxFailPercentage' | 'minInService'>,
): Plan<H> {
  return planRollout(hosts, {
    serial: playbook.serial ?? rollout.serial,
    maxFailPercentage: playbook.maxFailPercentage ?? rollout.maxFailPercentage,
    minInService: rollout.minInService,
  });
}

/** The event that opens a run: what runs where, in which batches, and the steps renderers draw ahead. */
export function runStartedEvent(
  playbook: Pick<Playbook, 'name' | 'preTasks' | 'tasks'>,
  run: { image: string; deployment: string; check: boolean },
  hosts: readonly { name: string }[],
  plan: Plan<{ name: string }>,
): Extract<DeployEvent, { type: 'run-started' }> {
  return {
    type: 'run-started',
    playbook: playbook.name,
    image: run.image,
    deployment: run.deployment,
    hosts: hosts.map((h) => h.name),
    batches: plan.batches.map((b) => b.map((h) => h.name)),
    preTasks: playbook.preTasks.map((t) => t.name),
    steps: playbook.tasks.map((t) => t.name),
    check: run.check,
  };
}
