/**
 * The container swap on one host. The live container is stopped and kept under another name for
 * rollback; the new image runs as `live` with /dev/log mounted, the configured env, ports, volumes,
 * restart policy, and labels recording what was deployed, by whom and when.
 */
import { RemoteCommandError } from '../../errors.ts';
import { dockerAwaitChanges, dockerInspectContainer, dockerLogsTail, dockerRename, dockerRm, dockerRun, dockerSetAside, dockerStart, dockerStop, dockerUpdateRestart, swappingName } from '../../remote/docker.ts';
import { waitHealthy } from './health.ts';
import type { RemoteHost } from '../../ssh/remote-host.ts';
import type { DeployConfig } from '../../config/index.ts';
import type { Change } from '../../state/journal.ts';
import type { HostTask } from '../types.ts';
import { journalHost } from './load-balancer.ts';

/** The name the previous container is kept under, for rollback and `baton rollback`. */
export const previousName = (name: string) => `${name}-previous`;

export interface ContainerFacts {
  readonly id: string;
  /** Its name now (`live`, `live-previous`, `live-swapping`). */
  readonly name?: string;
  /** The image as the container was created from it: its reference (a tag moves), and its id (which does not). */
  readonly image: string;
  readonly imageId?: string;
  readonly running: boolean;
  /** How often Docker restarted it (its restart policy): a new container that restarts keeps crashing. */
  readonly restarts?: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** The named container (default `live`), or undefined when the host has none. */
export async function inspectLive(remote: RemoteHost, name = 'live'): Promise<ContainerFacts | undefined> {
  try {
    const { stdout } = await remote.exec(dockerInspectContainer(name), { timeoutMs: 30_000 });
    const c = JSON.parse(stdout) as { Id: string; Name?: string; Image?: string; Config: { Image: string; Labels?: Record<string, string> }; State: { Running: boolean; Restarting?: boolean }; RestartCount?: number };
    return { id: c.Id, ...(c.Name && { name: c.Name.replace(/^\//, '') }), image: c.Config.Image, ...(c.Image && { imageId: c.Image }), running: c.State.Running && !c.State.Restarting, restarts: c.RestartCount ?? 0, labels: c.Config.Labels ?? {} };
  } catch (error) {
    if (error instanceof RemoteCommandError && /no such (object|container)/i.test(error.stderrTail)) return undefined;
    throw error;
  }
}

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
        const setAside = dockerSetAside(container.name, previousName(container.name), Math.ceil(container.stopTimeout / 1000));
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
      return target.live ? `stop ${name} (${target.live.image}), keep it as ${previousName(name)} for rollback, ${run}` : run;
    },
  };
}

/**
 * Puts the kept container back as live: found by its id (under whatever name a set-aside or a swap cut
 * short left it: `live-previous`, `live-swapping`, or `live` already), the container in its place
 * removed (`other: 'remove'`, a new one that failed) or kept as the rollback candidate (`'keep'`, a
 * swap), the restart policy set again, started. Each step looks first, so it also finishes a change
 * that a killed run left anywhere in the middle.
 */
export async function restorePrevious(
  remote: RemoteHost,
  config: Pick<DeployConfig, 'container' | 'ssh'>,
  previousId: string | undefined,
  signal: AbortSignal,
  other: 'remove' | 'keep' = 'remove',
): Promise<void> {
  const { name, restart } = config.container;
  const timeoutMs = config.ssh.commandTimeout;
  const exec = (command: Parameters<RemoteHost['exec']>[0]) => remote.exec(command, { timeoutMs, signal });
  // A change whose connection dropped may still be running on the host: let it finish first.
  await remote.exec(dockerAwaitChanges(name), { timeoutMs: timeoutMs + config.container.stopTimeout, signal });
  const kept = (previousId !== undefined ? await inspectLive(remote, previousId) : undefined) ?? (await inspectLive(remote, previousName(name)));
  if (!kept) throw new Error(`${remote.name}: no ${previousName(name)} container to go back to`);
  if (kept.name !== name) {
    const occupant = await inspectLive(remote, name);
    if (occupant && other === 'keep') {
      // Out of the way of each other: the kept one first, if it holds the candidate's name; the one in
      // its place stopped (it holds the published ports) and kept, never restarting by itself.
      if (kept.name === previousName(name)) await exec(dockerRename(kept.id, swappingName(name)));
      await remote.exec(dockerStop(occupant.id, Math.ceil(config.container.stopTimeout / 1000)), { timeoutMs: timeoutMs + config.container.stopTimeout, signal });
      await exec(dockerUpdateRestart(occupant.id, 'no'));
      await exec(dockerRename(occupant.id, previousName(name)));
    } else if (occupant) await exec(dockerRm(occupant.id, { force: true }));
    await exec(dockerRename(kept.id, name));
  }
  await exec(dockerUpdateRestart(name, restart));
  await exec(dockerStart(name));
}

/** The last lines of a container's log, for failure reports; never throws. */
export async function logsTail(remote: RemoteHost, name: string, lines = 20): Promise<string> {
  try {
    const { stdout, stderr } = await remote.exec(dockerLogsTail(name, lines), { timeoutMs: 15_000 });
    return `${stdout}${stderr}`.trim();
  } catch (error) {
    return `(could not read the logs: ${(error as Error).message})`;
  }
}
