/**
 * The container swap on one host. The live container is stopped and kept under another name for
 * rollback; the new image runs as `live` with /dev/log mounted, the configured env, ports, volumes,
 * restart policy, and labels recording what was deployed, by whom and when.
 */
import { dockerAwaitChanges, dockerRm, dockerRun, dockerSetAside } from '../../remote/docker.ts';
import { previousName, restorePrevious } from '../../remote/container.ts';
import { waitHealthy } from '../../remote/health.ts';
import { journalHost, type Change } from '../../changes/index.ts';
import type { HostTask } from '../types.ts';

export function replaceContainer(): HostTask {
  return {
    name: 'replace container',
    async run(ctx) {
      const { remote } = ctx.target;
      const { container } = ctx.config;
      const timeoutMs = ctx.config.ssh.commandTimeout;
      // What discovery found before anything changed: one round trip less in the host's turn.
      const live = ctx.target.live;
      const change: Change = {
        kind: 'container-replaced',
        host: journalHost(ctx.target.host),
        container: container.name,
        keptAs: previousName(container.name),
        ...(live && { keptId: live.id, from: live.image }),
        to: ctx.image,
        restart: container.restart,
      };
      if (live) {
        await ctx.compensate({
          what: 'restore the previous container',
          changes: [change],
          // Put back only once it passes its health check: a host whose old container cannot serve stays out.
          undo: async (signal) => {
            await restorePrevious(remote, ctx.config, live.id, signal);
            await waitHealthy(ctx, signal);
          },
        });
        const setAside = dockerSetAside(
          container.name,
          previousName(container.name),
          Math.ceil(container.stopTimeout / 1000),
        );
        // Never aborted half-way (a second Ctrl-C included): a command cut off on our side may still run on
        // the host while its compensation runs, and the two would race. It is bounded by its deadline.
        await remote.exec(setAside, { timeoutMs: timeoutMs + container.stopTimeout });
        // Two changes in one task: the lease is proven again before the second.
        await ctx.fence();
      } else {
        await ctx.compensate({
          what: 'remove the new container',
          changes: [change],
          undo: async () => {
            await remote.exec(dockerAwaitChanges(container.name), { timeoutMs });
            await remote.exec(dockerRm(container.name, { force: true }), { timeoutMs });
          },
        });
      }
      const run = dockerRun({
        name: container.name,
        image: ctx.image,
        ports: container.ports,
        volumes: container.volumes,
        env: container.env,
        secretFiles: container.secretFiles,
        ...(container.secretFilesDir && { secretFilesDir: container.secretFilesDir }),
        restart: container.restart,
        labels: {
          ...container.labels,
          'baton.image': ctx.image,
          'baton.deployment': ctx.deployment,
          'baton.deployer': ctx.deployer,
          'baton.deployed-at': new Date().toISOString(),
        },
      });
      await remote.exec(run.command, { stdin: run.stdin, timeoutMs });
      return live ? `${live.image} → ${ctx.image}` : `${ctx.image} (no previous container)`;
    },
    explain: (ctx, target) => {
      const { name, ports, volumes } = ctx.config.container;
      const run = `run ${ctx.image} as ${name} (ports ${ports.join(', ') || 'none'}; volumes ${volumes.join(', ')})`;
      return target.live
        ? `stop ${name} (${target.live.image}), keep it as ${previousName(name)} for rollback, ${run}`
        : run;
    },
  };
}
