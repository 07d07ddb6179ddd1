/**
 * Capacity is counted, not assumed. Before a batch leaves service, the members in service behind each
 * of its load balancers are counted: every member (not only the hosts this run selected), as the load
 * balancer itself reports them, so a host an earlier batch could not put back, or one that failed on
 * its own, counts against the floor. A batch that would leave fewer than `rollout.minInService` in
 * service behind any of them waits for members to come back, up to `timeouts.inService`, then the
 * rollout stops before it.
 */
import type { Membership } from '../aws/load-balancers.ts';
import type { LoadBalancerService } from '../aws/services.ts';
import { describeMembership } from '../aws/load-balancers.ts';
import { formatDuration } from '../errors.ts';
import type { RunContext, Target } from '../playbook/types.ts';

/** A target's identity in one load balancer's own member list. */
const memberId = (target: Target, m: Membership) =>
  m.kind === 'classic' ? target.host.instanceId! : `${m.targetId ?? target.host.instanceId}:${m.port ?? ''}`;
const keyOf = (m: Membership) => (m.kind === 'classic' ? `classic:${m.name}` : `tg:${m.arn}`);

export interface Shortfall {
  readonly membership: Membership;
  readonly inService: number;
  readonly wouldLeave: number;
}

/** What the batch would leave in service behind each of its load balancers, and the first one below `min`. */
export async function shortfall(
  lbs: Pick<LoadBalancerService, 'inService'>,
  batch: readonly Target[],
  min: number,
  signal?: AbortSignal,
): Promise<Shortfall | undefined> {
  const byLb = new Map<string, { membership: Membership; leaving: Set<string> }>();
  for (const t of batch) {
    for (const m of t.memberships) {
      const entry = byLb.get(keyOf(m)) ?? { membership: m, leaving: new Set<string>() };
      entry.leaving.add(memberId(t, m));
      byLb.set(keyOf(m), entry);
    }
  }
  for (const { membership, leaving } of byLb.values()) {
    const members = await lbs.inService(membership, signal);
    const wouldLeave = members.filter((id) => !leaving.has(id)).length;
    if (wouldLeave < min) return { membership, inService: members.length, wouldLeave };
  }
  return undefined;
}

/**
 * Waits until the batch can leave service without going below `min` behind any load balancer; returns
 * undefined then, or the sentence that says why it cannot once `waitMs` has passed.
 */
export async function awaitCapacity(
  ctx: Pick<RunContext, 'clock' | 'signal'> & {
    readonly aws: { readonly loadBalancers: Pick<LoadBalancerService, 'inService'> };
  },
  batch: readonly Target[],
  min: number,
  waitMs: number,
): Promise<string | undefined> {
  const { clock, signal } = ctx;
  const lbs = ctx.aws.loadBalancers;
  const started = clock.now();
  for (let delay = 500; ; delay = Math.min(delay * 2, 5_000)) {
    const short = await shortfall(lbs, batch, min, signal);
    if (!short) return undefined;
    if (clock.now() - started >= waitMs || signal.aborted) {
      const hosts = batch.map((t) => t.host.name).join(', ');
      return (
        `${describeMembership(short.membership)} has ${short.inService} member${short.inService === 1 ? '' : 's'} in service; taking ${hosts} out would leave ${short.wouldLeave}, ` +
        `fewer than rollout.minInService (${min}), and none came back within ${formatDuration(waitMs)} (timeouts.inService)`
      );
    }
    await clock.sleep(Math.min(delay, Math.max(0, waitMs - (clock.now() - started))), signal);
  }
}
