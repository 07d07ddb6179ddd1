/**
 * The changes a run makes to the fleet, in words: what each one is, and the command an operator runs
 * to undo it by hand. One place, so the journal, `baton lock status`, `recover --check` and an undo that
 * failed all say the same thing.
 */
import { enableAlarmsCommand } from '../aws/alarms.ts';
import { resumeCommand } from '../aws/autoscaling.ts';
import { describeMembership, registerCommand } from '../aws/load-balancers.ts';
import { quote } from '../remote/command.ts';
import type { Change, JournalHost } from '../state/journal.ts';

export const hostLabel = (h: JournalHost) => (h.instanceId && h.instanceId !== h.name ? `${h.name} (${h.instanceId})` : h.name);

export function describeChange(change: Change): string {
  switch (change.kind) {
    case 'autoscaling-suspended':
      return `Auto Scaling group ${change.group}: ${change.processes.join(', ')} suspended`;
    case 'alarms-disabled':
      return `alarm actions disabled: ${change.alarms.join(', ')}`;
    case 'deregistered':
      return `${hostLabel(change.host)} out of ${describeMembership(change.membership)}`;
    case 'container-replaced':
      return `${hostLabel(change.host)}: ${change.container} ${change.from ? `(${change.from}) set aside as ${change.keptAs}` : 'created'}, ${change.to} starting in its place`;
  }
}

/** The command that undoes `change` by hand, shell-quoted. */
export function fixCommand(change: Change, region: string): string {
  switch (change.kind) {
    case 'autoscaling-suspended':
      return resumeCommand(change.group, change.processes, region);
    case 'alarms-disabled':
      return enableAlarmsCommand(change.alarms, region);
    case 'deregistered':
      return change.host.instanceId ? registerCommand(change.host.instanceId, change.membership, region) : `register ${change.host.name} in ${describeMembership(change.membership)}`;
    case 'container-replaced': {
      const live = quote(change.container);
      const where = `ssh ${quote(change.host.address)}`;
      if (!change.from) return `${where} docker rm --force ${live}  # if ${change.to} is not healthy`;
      // By id where known: a set-aside or swap cut short may have left it as live-previous or live-swapping.
      const kept = quote(change.keptId ?? change.keptAs);
      const restart = change.restart ? `docker update --restart ${quote(change.restart)} ${live}; ` : '';
      const current = `cur=$(docker inspect --format {{.Id}} ${live} 2>/dev/null); `;
      // A swap keeps the other container as the rollback candidate (stopped, never restarting by
      // itself); a replaced container that failed is removed.
      const aside = change.keepsOther
        ? `docker rename ${kept} ${quote(`${change.container}-restoring`)}; if [ -n "$cur" ]; then docker stop "$cur"; docker update --restart no "$cur"; docker rename "$cur" ${quote(change.keptAs)}; fi; docker rename ${quote(`${change.container}-restoring`)} ${live}`
        : `docker rm --force ${live}; docker rename ${kept} ${live}`;
      const script = `${current}case "$cur" in ${kept}*) ;; *) ${aside};; esac; ${restart}docker start ${live}`;
      return `${where} ${quote(script)}  # if ${change.to} is not healthy`;
    }
  }
}

/** The name of the step that undoes `change`, as progress shows it. */
export function undoStep(change: Change): string {
  switch (change.kind) {
    case 'autoscaling-suspended':
      return 'resume autoscaling';
    case 'alarms-disabled':
      return 'enable alarm actions';
    case 'deregistered':
      return 'register again';
    case 'container-replaced':
      return 'make the container healthy';
  }
}
