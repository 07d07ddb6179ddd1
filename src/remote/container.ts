/**
 * The containers on a host as Baton reads and restores them: what the live one (or any, by name or
 * id) is, its log's last lines, and putting the kept container back as live. Shared by the container
 * tasks, `baton recover`, `baton status` and discovery.
 */
import { RemoteCommandError } from '../errors.ts';
import type { DeployConfig } from '../config/types.ts';
import type { RemoteHost } from './host.ts';
import {
  dockerAwaitChanges,
  dockerInspectContainer,
  dockerLogsTail,
  dockerRename,
  dockerRm,
  dockerStart,
  dockerStop,
  dockerUpdateRestart,
  swappingName,
} from './docker.ts';

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
    const c = JSON.parse(stdout) as {
      Id: string;
      Name?: string;
      Image?: string;
      Config: { Image: string; Labels?: Record<string, string> };
      State: { Running: boolean; Restarting?: boolean };
      RestartCount?: number;
    };
    return {
      id: c.Id,
      ...(c.Name && { name: c.Name.replace(/^\//, '') }),
      image: c.Config.Image,
      ...(c.Image && { imageId: c.Image }),
      running: c.State.Running && !c.State.Restarting,
      restarts: c.RestartCount ?? 0,
      labels: c.Config.Labels ?? {},
    };
  } catch (error) {
    if (error instanceof RemoteCommandError && /no such (object|container)/i.test(error.stderrTail)) return undefined;
    throw error;
  }
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
  const kept =
    (previousId !== undefined ? await inspectLive(remote, previousId) : undefined) ??
    (await inspectLive(remote, previousName(name)));
  if (!kept) throw new Error(`${remote.name}: no ${previousName(name)} container to go back to`);
  if (kept.name !== name) {
    const occupant = await inspectLive(remote, name);
    if (occupant && other === 'keep') {
      // Out of the way of each other: the kept one first, if it holds the candidate's name; the one in
      // its place stopped (it holds the published ports) and kept, never restarting by itself.
      if (kept.name === previousName(name)) await exec(dockerRename(kept.id, swappingName(name)));
      await remote.exec(dockerStop(occupant.id, Math.ceil(config.container.stopTimeout / 1000)), {
        timeoutMs: timeoutMs + config.container.stopTimeout,
        signal,
      });
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
