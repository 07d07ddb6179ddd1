/**
 * How a run ended, decided in one place: the executor records what happened, in order, as facts; this
 * pure function reads them and says the outcome and the exit code. The rules, in words:
 * - a host that could not be put back, an undo that failed, or a lost lease needs an operator (3);
 * - a run stopped by an interrupt is interrupted (130), unless a host already needs an operator;
 * - a fleet left on two versions on purpose (`onFailure: stop`, a capacity stop after some hosts
 *   switched, a rollback that could not finish) is mixed (6);
 * - a failed batch rolled back, or an error before any host switched, is rolled back (1);
 * - a post-task that failed after every host was deployed is its own outcome (7).
 */
import { ExitCode } from '../errors.ts';
import type { RunOutcome } from '../events/events.ts';

/** What the executor saw, in the order it saw it. */
export type RunFact =
  /** A batch finished: whether a host in it could not be put back, and whether any was rolled back. */
  | { readonly kind: 'batch'; readonly hostFailed: boolean; readonly hostRolledBack: boolean }
  /** The rollout stopped before a batch: an interrupt, `--step` or a canary answered no. */
  | { readonly kind: 'stopped' }
  /** The rollout stopped before a batch because too few hosts would stay in service. */
  | { readonly kind: 'capacity-stop'; readonly switchedBefore: boolean }
  /** A second interrupt aborted the hosts in flight (they were put back). */
  | { readonly kind: 'aborted' }
  /** The hosts switched before a failed batch: rolled back (fully, partly, or with a host that needs an operator), or left. */
  | { readonly kind: 'switched-hosts'; readonly result: 'rolled-back' | 'mixed' | 'failed' | 'left' }
  /** The release gate tripped after a batch (an alarm, a host out of service): that batch failed. */
  | { readonly kind: 'gate-tripped' }
  | { readonly kind: 'post-task-failed' }
  /** The run stopped on an error: its lease was lost, an interrupt, or anything else. */
  | { readonly kind: 'error'; readonly cause: 'lease-lost' | 'interrupted' | 'other' }
  /** Undoing a guard (or a host's change) failed: it stays open in the journal. */
  | { readonly kind: 'undo-failed' };

export interface Decision {
  readonly outcome: RunOutcome;
  readonly exitCode: ExitCode;
}

/** The outcome so far: what the executor asks mid-run (post-tasks run only on `deployed`). */
export function outcomeOf(facts: readonly RunFact[]): RunOutcome {
  let outcome: RunOutcome = 'deployed';
  const unlessFailed = (next: RunOutcome) => (outcome === 'failed' ? 'failed' : next);
  for (const fact of facts) {
    switch (fact.kind) {
      case 'batch':
        if (fact.hostFailed) outcome = 'failed';
        else if (fact.hostRolledBack && outcome === 'deployed') outcome = 'rolled-back';
        break;
      case 'stopped':
      case 'aborted':
        outcome = unlessFailed('interrupted');
        break;
      case 'capacity-stop':
        outcome = unlessFailed(fact.switchedBefore ? 'mixed' : 'rolled-back');
        break;
      case 'switched-hosts':
        if (fact.result === 'failed') outcome = 'failed';
        else if (fact.result !== 'rolled-back') outcome = unlessFailed('mixed');
        break;
      case 'gate-tripped':
        outcome = unlessFailed('rolled-back');
        break;
      case 'post-task-failed':
        outcome = 'post-task-failed';
        break;
      case 'error':
        // The error decides: what was decided before it is superseded.
        outcome = fact.cause === 'lease-lost' ? 'failed' : fact.cause === 'interrupted' ? 'interrupted' : 'rolled-back';
        break;
      case 'undo-failed':
        break;
    }
  }
  return outcome;
}

/** The run's outcome and exit code, from everything it saw. */
export function decide(facts: readonly RunFact[]): Decision {
  const outcome = outcomeOf(facts);
  if (outcome === 'failed' || facts.some((f) => f.kind === 'undo-failed')) {
    return { outcome: outcome === 'deployed' ? 'failed' : outcome, exitCode: ExitCode.NeedsOperator };
  }
  const exitCode: Record<RunOutcome, ExitCode> = {
    deployed: ExitCode.Ok,
    checked: ExitCode.Ok,
    recovered: ExitCode.Ok,
    interrupted: ExitCode.Interrupted,
    mixed: ExitCode.Mixed,
    'post-task-failed': ExitCode.PostTaskFailed,
    'rolled-back': ExitCode.RolledBack,
    failed: ExitCode.NeedsOperator,
  };
  return { outcome, exitCode: exitCode[outcome] };
}
