/** Auto Scaling processes suspended on a group for the run (Launch, Terminate, ...), resumed after. */
import { resumeCommand } from '../aws/autoscaling.ts';
import type { ChangeKind } from './change.ts';

export interface AutoscalingSuspended {
  readonly kind: 'autoscaling-suspended';
  readonly group: string;
  readonly processes: readonly string[];
}

export const autoscalingSuspended: ChangeKind<AutoscalingSuspended> = {
  describe: (c) => `Auto Scaling group ${c.group}: ${c.processes.join(', ')} suspended`,
  fix: (c, region) => resumeCommand(c.group, c.processes, region),
  undoStep: 'resume autoscaling',
  wouldUndo: (_, what) => `undo: ${what}`,
  undo: (c, ctx) => ctx.aws.autoscaling.resumeProcesses(c.group, c.processes),
};
