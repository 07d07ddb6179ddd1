/**
 * The rollout plan, pure: batches from Ansible's `serial` (a count, a percentage, or a ramp whose last
 * step repeats), bounded by a capacity floor, and the `max_fail_percentage` rule that decides when a
 * batch's failures stop the rollout.
 */
import type { Serial, SerialStep } from '../config/types.ts';
import { ConfigError } from '../errors.ts';

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
  const steps = Array.isArray(options.serial) ? (options.serial as readonly SerialStep[]) : [options.serial as SerialStep];
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
