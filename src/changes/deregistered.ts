/** A host out of one of its load balancers (a classic ELB or a target group); registered again and waited for after. */
import { describeMembership, registerCommand, type Membership } from '../aws/load-balancers.ts';
import { putBack, serviceMove } from '../aws/service.ts';
import { hostLabel, type ChangeKind, type JournalHost } from './change.ts';

export interface Deregistered {
  readonly kind: 'deregistered';
  readonly host: JournalHost;
  readonly membership: Membership;
}

export const deregistered: ChangeKind<Deregistered> = {
  describe: (c) => `${hostLabel(c.host)} out of ${describeMembership(c.membership)}`,
  fix: (c, region) =>
    c.host.instanceId
      ? registerCommand(c.host.instanceId, c.membership, region)
      : `register ${c.host.name} in ${describeMembership(c.membership)}`,
  undoStep: 'register again',
  wouldUndo: (c, what) => `register ${hostLabel(c.host)} again and wait until in service (${what})`,
  host: (c) => c.host,
  undo: (c, ctx) => putBack(serviceMove(ctx, c.host, [c.membership]), ctx.signal),
};
