/**
 * The guards a rolling deploy holds around the fleet: Auto Scaling processes suspended, so the group
 * neither replaces a host that is out of service nor launches one on the old image mid-rollout; and
 * alarm actions silenced, so a host leaving service pages nobody. Each is written to the journal before
 * it is taken, and undone when the run ends, whatever happens (or by `baton recover` if the run dies).
 */
import type { RunContext, RunTask } from '../types.ts';

function instanceIds(ctx: RunContext): string[] {
  return ctx.targets.flatMap((t) => (t.host.instanceId ? [t.host.instanceId] : []));
}

/** Suspends the configured processes of every Auto Scaling group a target belongs to. */
export function suspendAutoscaling(): RunTask {
  let groups: string[] = [];
  let toSuspend = new Map<string, string[]>();
  return {
    name: 'suspend autoscaling',
    async prepare(ctx) {
      groups = await ctx.aws.autoscaling.groupsOf(instanceIds(ctx));
      // Only what is not suspended yet: processes an operator had suspended stay suspended after the run.
      toSuspend = await ctx.aws.autoscaling.notSuspended(groups, ctx.config.autoscaling.processes);
    },
    async run(ctx) {
      if (!groups.length) return 'no Auto Scaling group';
      for (const [group, processes] of toSuspend) {
        await ctx.guard({ change: { kind: 'autoscaling-suspended', group, processes } });
        await ctx.aws.autoscaling.suspendProcesses(group, processes);
      }
      const described = [...toSuspend].map(([g, p]) => `${g}: ${p.join(', ')}`).join('; ');
      return described || `already suspended in ${groups.join(', ')}`;
    },
    explain: (ctx) =>
      groups.length
        ? toSuspend.size
          ? `suspend ${[...toSuspend].map(([g, p]) => `${p.join(', ')} in ${g}`).join('; ')}; resumed at the end, whatever happens`
          : `nothing: ${ctx.config.autoscaling.processes.join(', ')} already suspended in ${groups.join(', ')}`
        : 'nothing: no Auto Scaling group',
  };
}

/** Disables the actions of the configured CloudWatch alarms that have them enabled. */
export function silenceAlarms(): RunTask {
  let enabled: string[] = [];
  return {
    name: 'silence alarms',
    async prepare(ctx) {
      // Fails on an alarm name that does not exist, before anything changed.
      enabled = await ctx.aws.alarms.enabledOf(ctx.config.alarms);
    },
    async run(ctx) {
      if (!enabled.length) return ctx.config.alarms.length ? 'actions already disabled' : 'no alarms configured';
      await ctx.guard({ change: { kind: 'alarms-disabled', alarms: enabled } });
      await ctx.aws.alarms.disable(enabled);
      return enabled.join(', ');
    },
    explain: () =>
      enabled.length
        ? `disable the actions of ${enabled.join(', ')}; enabled again at the end, whatever happens`
        : 'nothing: no alarm with actions enabled',
  };
}
