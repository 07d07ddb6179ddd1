/**
 * Rolling back: each host goes back to the container the last deploy kept (`<name>-previous`), with the
 * same guards and load balancer steps as a deploy, and no pull (the image is already there).
 */
import { ConfigError } from '../../errors.ts';
import { dockerSwapWithPrevious } from '../../remote/docker.ts';
import type { HostTask, RunTask } from '../types.ts';
import { journalHost, type Change } from '../../changes/index.ts';
import { inspectLive, previousName, restorePrevious } from '../../remote/container.ts';
import { waitHealthy } from '../../remote/health.ts';

/** Refuses, before anything changes, when a selected host has nothing to go back to. */
export function requireRollbackCandidates(): RunTask {
  return {
    name: 'find rollback candidates',
    async prepare(ctx) {
      const missing = ctx.targets.filter((t) => !t.previous).map((t) => t.host.name);
      if (missing.length) {
        throw new ConfigError(
          '',
          `nothing to roll back to on ${missing.join(', ')}: no ${previousName(ctx.config.container.name)} container (narrow the hosts with --limit)`,
        );
      }
    },
    async run(ctx) {
      return ctx.targets.map((t) => `${t.host.name}: ${t.previous!.image}`).join(', ');
    },
    explain: (ctx) => ctx.targets.map((t) => `${t.host.name} back to ${t.previous?.image ?? '(nothing)'}`).join(', '),
  };
}

/** Stops the live container and starts the kept one in its place; the stopped one is kept in turn. */
export function swapToPrevious(): HostTask {
  return {
    name: 'swap to previous container',
    async run(ctx) {
      const { name, stopTimeout } = ctx.config.container;
      const swap = dockerSwapWithPrevious(
        name,
        previousName(name),
        Math.ceil(stopTimeout / 1000),
        ctx.config.container.restart,
      );
      const timeoutMs = ctx.config.ssh.commandTimeout + stopTimeout;
      // By id, whatever state the swap ends in; a host rolled back within the run is looked at now.
      const keptId = ctx.target.live?.id ?? (await inspectLive(ctx.target.remote, name))?.id;
      const change: Change = {
        kind: 'container-replaced',
        host: journalHost(ctx.target.host),
        container: name,
        keptAs: previousName(name),
        ...(keptId && { keptId }),
        ...(ctx.target.liveImage && { from: ctx.target.liveImage }),
        to: ctx.target.previous!.image,
        keepsOther: true,
        restart: ctx.config.container.restart,
      };
      // Back on the container it ran (found by id, under whatever name a swap cut short left it), the
      // other one kept as the rollback candidate; back only once it passes its health check.
      await ctx.compensate({
        what: 'swap back',
        changes: [change],
        undo: async (signal) => {
          await restorePrevious(ctx.target.remote, ctx.config, keptId, signal, 'keep');
          await waitHealthy(ctx, signal);
        },
      });
      // Not aborted half-way: see replaceContainer.
      await ctx.target.remote.exec(swap, { timeoutMs });
      return `${ctx.target.liveImage} → ${ctx.target.previous!.image}`;
    },
    explain: (ctx, target) => {
      const { name } = ctx.config.container;
      return `stop ${name} (${target.liveImage}), start the kept ${previousName(name)} (${target.previous?.image}) as ${name}, keep the stopped one for rollback`;
    },
  };
}
