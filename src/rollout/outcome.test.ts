import { describe, expect, it } from 'vitest';
import { ExitCode } from '../errors.ts';
import { decide, type RunFact } from './outcome.ts';

const ok: RunFact = { kind: 'batch', hostFailed: false, hostRolledBack: false };
const rolledBack: RunFact = { kind: 'batch', hostFailed: false, hostRolledBack: true };
const hostFailed: RunFact = { kind: 'batch', hostFailed: true, hostRolledBack: true };
const stopped: RunFact = { kind: 'stopped' };
const aborted: RunFact = { kind: 'aborted' };
const undoFailed: RunFact = { kind: 'undo-failed' };
const gate: RunFact = { kind: 'gate-tripped' };
const switched = (result: 'rolled-back' | 'mixed' | 'failed' | 'left'): RunFact => ({ kind: 'switched-hosts', result });
const capacity = (switchedBefore: boolean): RunFact => ({ kind: 'capacity-stop', switchedBefore });
const error = (cause: 'lease-lost' | 'interrupted' | 'other'): RunFact => ({ kind: 'error', cause });

describe('the outcome of a run', () => {
  // [what happened, the facts in order, the outcome, the exit code]
  const table: [string, RunFact[], string, ExitCode][] = [
    ['every batch deployed', [ok, ok], 'deployed', ExitCode.Ok],
    ['nothing to do (no batch)', [], 'deployed', ExitCode.Ok],
    ['a host rolled back, the rollout went on and finished', [rolledBack, ok], 'rolled-back', ExitCode.RolledBack],
    [
      'a failed batch, the switched hosts rolled back',
      [ok, rolledBack, switched('rolled-back')],
      'rolled-back',
      ExitCode.RolledBack,
    ],
    [
      'a failed batch, the rollback of the switched hosts stopped part way',
      [ok, rolledBack, switched('mixed')],
      'mixed',
      ExitCode.Mixed,
    ],
    [
      'a failed batch, a switched host could not be rolled back',
      [ok, rolledBack, switched('failed')],
      'failed',
      ExitCode.NeedsOperator,
    ],
    [
      'a failed batch with onFailure stop: the fleet left mixed',
      [ok, rolledBack, switched('left')],
      'mixed',
      ExitCode.Mixed,
    ],
    [
      'the gate tripped after a batch that deployed, the switched hosts rolled back',
      [ok, ok, gate, switched('rolled-back')],
      'rolled-back',
      ExitCode.RolledBack,
    ],
    ['the gate tripped, onFailure stop: the fleet left mixed', [ok, gate, switched('left')], 'mixed', ExitCode.Mixed],
    [
      'the gate tripped, a switched host could not be rolled back',
      [ok, gate, switched('failed')],
      'failed',
      ExitCode.NeedsOperator,
    ],
    ['a host could not be put back', [hostFailed], 'failed', ExitCode.NeedsOperator],
    [
      'a host could not be put back, then the fleet is left mixed: still failed',
      [ok, hostFailed, switched('left')],
      'failed',
      ExitCode.NeedsOperator,
    ],
    [
      'a host could not be put back, then a rollback that went well: still failed',
      [ok, hostFailed, switched('rolled-back')],
      'failed',
      ExitCode.NeedsOperator,
    ],
    ['interrupted before a batch', [ok, stopped], 'interrupted', ExitCode.Interrupted],
    ['interrupted after a host rolled back', [rolledBack, stopped], 'interrupted', ExitCode.Interrupted],
    [
      'interrupted after a host could not be put back: the operator comes first',
      [hostFailed, stopped],
      'failed',
      ExitCode.NeedsOperator,
    ],
    ['a second interrupt aborted the hosts in flight', [ok, aborted], 'interrupted', ExitCode.Interrupted],
    ['a second interrupt after a host could not be put back', [hostFailed, aborted], 'failed', ExitCode.NeedsOperator],
    ['too few in service before the first batch', [capacity(false)], 'rolled-back', ExitCode.RolledBack],
    ['too few in service after some hosts switched', [ok, capacity(true)], 'mixed', ExitCode.Mixed],
    [
      'too few in service after a host could not be put back',
      [hostFailed, capacity(true)],
      'failed',
      ExitCode.NeedsOperator,
    ],
    [
      'a post-task failed after every host was deployed',
      [ok, { kind: 'post-task-failed' }],
      'post-task-failed',
      ExitCode.PostTaskFailed,
    ],
    ['an error in a pre-task', [error('other')], 'rolled-back', ExitCode.RolledBack],
    ['an interrupt that failed a pre-task', [error('interrupted')], 'interrupted', ExitCode.Interrupted],
    ['the lease was lost mid-rollout', [ok, error('lease-lost')], 'failed', ExitCode.NeedsOperator],
    [
      'an error after a host could not be put back: the error decides the outcome',
      [hostFailed, error('other')],
      'rolled-back',
      ExitCode.RolledBack,
    ],
    ['deployed, but a guard could not be undone', [ok, undoFailed], 'failed', ExitCode.NeedsOperator],
    [
      'rolled back, and a guard could not be undone',
      [rolledBack, switched('rolled-back'), undoFailed],
      'rolled-back',
      ExitCode.NeedsOperator,
    ],
    ['interrupted, and a guard could not be undone', [stopped, undoFailed], 'interrupted', ExitCode.NeedsOperator],
  ];
  it.each(table)('%s', (_what, facts, outcome, exitCode) => {
    expect(decide(facts)).toEqual({ outcome, exitCode });
  });
});
