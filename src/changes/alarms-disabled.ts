/** CloudWatch alarm actions disabled for the run, so a deploy pages nobody; enabled again after. */
import { enableAlarmsCommand } from '../aws/alarms.ts';
import type { ChangeKind } from './change.ts';

export interface AlarmsDisabled {
  readonly kind: 'alarms-disabled';
  readonly alarms: readonly string[];
}

export const alarmsDisabled: ChangeKind<AlarmsDisabled> = {
  describe: (c) => `alarm actions disabled: ${c.alarms.join(', ')}`,
  fix: (c, region) => enableAlarmsCommand(c.alarms, region),
  undoStep: 'enable alarm actions',
  wouldUndo: (_, what) => `undo: ${what}`,
  undo: (c, ctx) => ctx.aws.alarms.enable(c.alarms),
};
