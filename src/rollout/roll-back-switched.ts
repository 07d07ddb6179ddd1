/**
 * `onFailure: rollback`: the hosts a failed run already switched go back to the container they kept,
 * batch by batch in reverse, with the rollback playbook's own host tasks; and, for `onFailure: stop`, the words
 * that tell an operator how the fleet is mixed and how to make it one version.
 */
import type { Host } from '../inventory/host.ts';
import { rollbackPlaybook } from '../playbook/rollback.ts';
import type { RunContext, Target } from '../playbook/types.ts';
import { renderShell, sh } from '../remote/shell.ts';
import type { HostSummary } from '../events/events.ts';
import { runHost } from './host.ts';
import type { ChangeLog } from './journal-log.ts';
import { awaitCapacity } from './capacity.ts';

/**
 * `onFailure: rollback`: the hosts a failed run already switched go back to the container they kept,
 * batch by batch in reverse, with the same load balancer steps, so the fleet serves one version.
 */
export async function rollBackSwitched(
  ctx: RunContext,
  batches: readonly (readonly Host[])[],
  summaries: Map<string, HostSummary>,
  byName: ReadonlyMap<string, Target>,
  journal: ChangeLog,
  failedBatch: number,
): Promise<'rolled-back' | 'mixed' | 'failed'> {
  const { events } = ctx;
  // A host that ran no container before has nothing to go back to: it stays, and is said to.
  const nothingBefore = batches
    .flat()
    .filter((h) => summaries.get(h.name)?.result === 'deployed' && !summaries.get(h.name)!.oldImage);
  if (nothingBefore.length) {
    events.emit({
      type: 'warning',
      message: `${nothingBefore.map((h) => h.name).join(', ')} ran no container before this run: nothing to put back, ${nothingBefore.length === 1 ? 'it keeps' : 'they keep'} the new image`,
    });
  }
  const undo = batches
    .map((b) => b.filter((h) => summaries.get(h.name)?.result === 'deployed' && summaries.get(h.name)!.oldImage))
    .filter((b) => b.length)
    .reverse();
  const hosts = undo.flat().map((h) => h.name);
  events.emit({
    type: 'warning',
    message: `batch ${failedBatch} failed: putting ${hosts.join(', ')} back on the image ${hosts.length === 1 ? 'it' : 'they'} ran before (rollout.onFailure: rollback)`,
  });
  const now = (h: Host) => asSwitched(byName.get(h.name)!, summaries.get(h.name)!);
  const back: RunContext = { ...ctx, targetImage: (t) => t.previous?.image };
  let result: 'rolled-back' | 'failed' = 'rolled-back';
  for (const [i, batch] of undo.entries()) {
    // Rolling back takes hosts out too: capacity is counted before each of its batches as well.
    const min = ctx.config.rollout.minInService;
    const why = min > 0 ? await awaitCapacity(ctx, batch.map(now), min, ctx.config.timeouts.inService) : undefined;
    if (why) {
      const left = undo
        .slice(i)
        .flat()
        .map((h) => h.name);
      events.emit({
        type: 'warning',
        message: `stopped rolling back: ${why}; ${left.join(', ')} keep${left.length === 1 ? 's' : ''} the new image`,
      });
      return 'mixed';
    }
    const results = await Promise.all(batch.map((h) => runHost(back, now(h), rollbackPlaybook.tasks, journal)));
    for (const r of results) {
      const before = summaries.get(r.host)!;
      if (r.result === 'deployed')
        summaries.set(r.host, {
          ...before,
          result: 'rolled-back',
          error: `rolled back after batch ${failedBatch} failed`,
        });
      else {
        result = 'failed';
        summaries.set(r.host, {
          ...before,
          result: 'failed',
          error: `could not be rolled back after batch ${failedBatch} failed: ${r.error ?? r.result}`,
        });
      }
    }
    if (result === 'failed') break;
  }
  return result === 'rolled-back' && nothingBefore.length ? 'mixed' : result;
}

/** A switched host as it is now: the new image live, the one it ran before kept. */
function asSwitched(target: Target, s: HostSummary): Target {
  return {
    ...target,
    live: undefined,
    liveImage: s.newImage,
    liveImageId: s.imageId,
    previous: {
      id: '',
      image: s.oldImage!,
      ...(s.oldImageId && { imageId: s.oldImageId }),
      running: false,
      labels: {},
    },
  };
}

/** `onFailure: stop`: which hosts run what, and the exact commands that make the fleet one version. */
export function mixedFleetMessage(
  switched: readonly HostSummary[],
  all: readonly string[],
  deployment: string,
): string {
  const names = switched.map((s) => s.host);
  const rest = all.filter((n) => !names.includes(n));
  const image = switched[0]!.newImage;
  return (
    `THE FLEET IS MIXED: ${names.join(', ')} run${names.length === 1 ? 's' : ''} ${image}; ${rest.join(', ')} ${rest.length === 1 ? 'runs' : 'run'} the previous image (rollout.onFailure: stop).
` +
    `  back to one version:  ${renderShell(sh`baton rollback --deployment ${deployment} --limit ${names.join(',')}`)}
` +
    `  or, once fixed:       ${renderShell(sh`baton deploy --deployment ${deployment} --image ${image} --limit ${rest.join(',')}`)}`
  );
}
