/**
 * The guards a rolling deploy holds around the fleet: Auto Scaling processes suspended, so the group
 * neither replaces a host that is out of service nor launches one on the old image mid-rollout; and
 * alarm actions silenced, so a host leaving service pages nobody. Both are undone when the run ends.
 */
import { resumeCommand } from '../../aws/autoscaling.ts';
import { enableAlarmsCommand } from '../../aws/alarms.ts';
import type { RunContext, RunTask } from '../types.ts';

function instanceIds(ctx: RunContext): string[] {
  return ctx.targets.flatMap((t) => (t.host.instanceId ? [t.host.instanceId] : []));
}

/** Suspends the configured processes of every Auto Scaling group a target belongs to. */
export function suspendAutoscaling(): RunTask {
  let groups: string[] = [];
  return {
    name: 'suspend autoscaling',
    async prepare(ctx) {
      groups = await ctx.aws.autoscaling.groupsOf(instanceIds(ctx));
    },
    async run(ctx) {
      if (!groups.length) return 'no Auto Scaling group';
      const suspended = new Map<string, readonly string[]>();
      ctx.guard(
        'resume autoscaling',
        () => ctx.aws.autoscaling.resume(suspended),
        () => [...suspended].map(([g, p]) => resumeCommand(g, p, ctx.config.region)).join('\n'),
      );
      await ctx.aws.autoscaling.suspend(groups, ctx.config.autoscaling.processes, suspended);
      const described = [...suspended].map(([g, p]) => `${g}: ${p.join(', ')}`).join('; ');
      return described || `already suspended in ${groups.join(', ')}`;
    },
    explain: (ctx) => (groups.length ? `suspend ${ctx.config.autoscaling.processes.join(', ')} in ${groups.join(', ')}; resumed at the end, whatever happens` : 'nothing: no Auto Scaling group'),
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
      ctx.guard('enable alarm actions', () => ctx.aws.alarms.enable(enabled), () => enableAlarmsCommand(enabled, ctx.config.region));
      await ctx.aws.alarms.disable(enabled);
      return enabled.join(', ');
    },
    explain: () => (enabled.length ? `disable the actions of ${enabled.join(', ')}; enabled again at the end, whatever happens` : 'nothing: no alarm with actions enabled'),
  };
}
