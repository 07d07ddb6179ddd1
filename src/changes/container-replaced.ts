/**
 * A host's live container set aside (kept for rollback) and another started in its place. Its undo
 * keeps the new container if it runs and passes its health check, else brings the kept one back,
 * which then must.
 */
import { renderShell, sh } from '../remote/shell.ts';
import { inspectLive, restorePrevious } from '../remote/container.ts';
import { waitHealthy } from '../remote/health.ts';
import { hostLabel, type ChangeKind, type JournalHost, type UndoContext } from './change.ts';

export interface ContainerReplaced {
  readonly kind: 'container-replaced';
  readonly host: JournalHost;
  /** The live container's name, and the name the container it replaced is kept under. */
  readonly container: string;
  readonly keptAs: string;
  /** The id of the container set aside (absent when the host ran none): what "put back" restores. */
  readonly keptId?: string;
  readonly from?: string;
  readonly to: string;
  /** A swap (a rollback): putting it back keeps the other container as the rollback candidate, instead of removing it. */
  readonly keepsOther?: boolean;
  /** The restart policy the live container runs with (the kept one has none while it is kept). */
  readonly restart?: string;
}

export const containerReplaced: ChangeKind<ContainerReplaced> = {
  describe: (c) =>
    `${hostLabel(c.host)}: ${c.container} ${c.from ? `(${c.from}) set aside as ${c.keptAs}` : 'created'}, ${c.to} starting in its place`,
  fix: fixCommand,
  undoStep: 'make the container healthy',
  wouldUndo: (c) =>
    `${hostLabel(c.host)}: keep ${c.to} if it runs and passes its health check, else start the kept ${c.keptAs}${c.from ? ` (${c.from})` : ''} again`,
  host: (c) => c.host,
  undo: heal,
};

function fixCommand(c: ContainerReplaced): string {
  const live = c.container;
  const unhealthy = sh`  # if ${c.to} is not healthy`;
  if (!c.from) return renderShell(sh`ssh ${c.host.address} docker rm --force ${live}${unhealthy}`);
  // By id where known: a set-aside or swap cut short may have left it as live-previous or live-swapping.
  const kept = c.keptId ?? c.keptAs;
  const restoring = `${c.container}-restoring`;
  const restart = c.restart ? sh`docker update --restart ${c.restart} ${live}; ` : sh``;
  const current = sh`cur=$(docker inspect --format {{.Id}} ${live} 2>/dev/null); `;
  // A swap keeps the other container as the rollback candidate (stopped, never restarting by
  // itself); a replaced container that failed is removed.
  const aside = c.keepsOther
    ? sh`docker rename ${kept} ${restoring}; if [ -n "$cur" ]; then docker stop "$cur"; docker update --restart no "$cur"; docker rename "$cur" ${c.keptAs}; fi; docker rename ${restoring} ${live}`
    : sh`docker rm --force ${live}; docker rename ${kept} ${live}`;
  const script = sh`${current}case "$cur" in ${kept}*) ;; *) ${aside};; esac; ${restart}docker start ${live}`;
  return renderShell(sh`ssh ${c.host.address} ${renderShell(script)}${unhealthy}`);
}

/** The new container if it runs and is healthy, else the kept one, which must then be. */
async function heal(c: ContainerReplaced, ctx: UndoContext): Promise<string> {
  const { config, signal } = ctx;
  const remote = await ctx.reach(c.host);
  const health = { config, target: { host: c.host, remote }, clock: ctx.clock };
  const live = await inspectLive(remote, config.container.name);
  if (live?.running) {
    try {
      await waitHealthy(health, signal);
      return `kept ${live.image}: it runs and is healthy`;
    } catch {
      // Not healthy: the kept container comes back below.
    }
  }
  await restorePrevious(remote, config, c.keptId, signal, c.keepsOther ? 'keep' : 'remove');
  const back = await inspectLive(remote, config.container.name);
  await waitHealthy(health, signal);
  return `back on ${back?.image ?? 'the kept container'}${live ? ` (${live.image} ${live.running ? 'was not healthy' : 'was not running'})` : ''}`;
}
