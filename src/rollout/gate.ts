/**
 * The release gate: judges the new version while it rolls, beyond each host's own health check. With
 * a canary (`rollout.canary.bake`), the first batch is watched for the bake time before any other host
 * takes the image, and every later batch is looked at once it is done. It trips on a gate alarm in
 * ALARM (CloudWatch evaluates an alarm whose actions Baton silenced: its state still says what users
 * see) or on a host of the batch that is not in service behind one of its load balancers. A tripped
 * gate fails the batch: `rollout.onFailure` decides what happens to the hosts already switched.
 */
import { describeMembership } from '../aws/load-balancers.ts';
import { formatDuration } from '../errors.ts';
import type { RunContext, Target } from '../playbook/types.ts';

/** What tripped the gate: in words, and what (an alarm's name, or a host), the same from build to build. */
export interface Tripped {
  readonly reason: string;
  readonly subject: string;
}

/** What the gate saw wrong, or undefined when all is well. */
export async function judge(ctx: RunContext, batch: readonly Target[]): Promise<Tripped | undefined> {
  const { alarms } = ctx.config.rollout.gate;
  const alarming = alarms.length ? await ctx.aws.alarms.inAlarm(alarms, ctx.signal) : [];
  if (alarming.length)
    return {
      reason: alarming
        .map(
          (a) => `alarm ${a.name} is in ALARM${a.since ? ` since ${a.since}` : ''}${a.reason ? ` (${a.reason})` : ''}`,
        )
        .join('; '),
      subject: alarming.map((a) => a.name).join(','),
    };
  for (const target of batch) {
    const id = target.host.instanceId;
    if (!id) continue;
    for (const m of target.memberships) {
      const { state, detail } = await ctx.aws.loadBalancers.state(id, m, ctx.signal);
      if (state !== 'in-service')
        return {
          reason: `${target.host.name} is ${state} in ${describeMembership(m)}${detail ? ` (${detail})` : ''}`,
          subject: target.host.name,
        };
    }
  }
  return undefined;
}

/**
 * Looks at the batch every `rollout.gate.interval` for `ms` (at least once); the reason it tripped,
 * or undefined. `stop` (an interrupt) ends the watch early, untripped: the rollout stops there.
 */
export async function watch(
  ctx: RunContext,
  batch: readonly Target[],
  ms: number,
  stop: AbortSignal,
): Promise<Tripped | undefined> {
  const { clock } = ctx;
  const until = clock.now() + ms;
  for (;;) {
    const tripped = await judge(ctx, batch);
    if (tripped) return tripped;
    const left = until - clock.now();
    if (left <= 0 || stop.aborted) return undefined;
    await clock.sleep(Math.min(ctx.config.rollout.gate.interval, left), stop);
  }
}

/** The step's name in progress output: the canary's bake, or the look after a later batch. */
export function gateStep(index: number, hosts: readonly string[], bakeMs: number): string {
  return index === 0 ? `canary: watch ${hosts.join(', ')} for ${formatDuration(bakeMs)}` : `gate: batch ${index + 1}`;
}
