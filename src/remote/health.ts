/**
 * Whether the live container is healthy: HTTP on the host (through the SSH connection) or a command on
 * the host, polled until it passes `healthyThreshold` times in a row, within the deadline. A container
 * that exits fails at once, with its last log lines, instead of waiting out the deadline.
 */
import type { Clock } from '../clock.ts';
import { BatonError, indent } from '../errors.ts';
import { pollUntil } from '../poll.ts';
import { custom } from './command.ts';
import type { HealthSettings } from '../config/types.ts';
import type { DeployConfig } from '../config/types.ts';
import type { Host } from '../inventory/host.ts';
import type { RemoteHost } from './host.ts';
import { inspectLive, logsTail } from './container.ts';

export class HealthCheckError extends BatonError {}

/** What a health check needs: the settings, and the host with its connection. */
export interface HealthContext {
  readonly config: Pick<DeployConfig, 'health' | 'container'>;
  readonly target: { readonly host: Pick<Host, 'name'>; readonly remote: RemoteHost };
  /** The run's clock (the system's by default). */
  readonly clock?: Clock;
}

/** Polls the configured health check on the live container until it passes; throws with its logs if not. */
export async function waitHealthy(ctx: HealthContext, signal: AbortSignal): Promise<string> {
  const { health } = ctx.config;
  const { remote, host } = ctx.target;
  const name = ctx.config.container.name;
  let streak = 0;
  try {
    return await pollUntil(
      async () => {
        const seen = await probe(ctx);
        if (seen.ok) {
          streak++;
          return streak >= health.healthyThreshold
            ? { done: true, value: seen.what }
            : { done: false, seen: seen.what };
        }
        streak = 0;
        const live = await inspectLive(remote, name);
        if (!live?.running)
          throw new HealthCheckError(
            `${host.name}: the container ${name} ${live ? 'exited' : 'is gone'} (${seen.what})`,
          );
        // Its restart policy brings it back each time it exits: it keeps crashing, no need to wait.
        if (live.restarts)
          throw new HealthCheckError(
            `${host.name}: the container ${name} exited and was restarted ${live.restarts} time${live.restarts === 1 ? '' : 's'} (${seen.what})`,
          );
        return { done: false, seen: seen.what };
      },
      {
        what: `${host.name}: ${describeCheck(health)} to pass`,
        timeoutMs: health.timeout,
        intervalMs: health.interval,
        maxIntervalMs: health.interval * 4,
        factor: 1.2,
        signal,
        clock: ctx.clock,
      },
    );
  } catch (error) {
    const logs = await logsTail(remote, name);
    (error as Error).message += `\nlast lines of ${name}'s log on ${host.name}:\n${indent(logs || '(empty)')}`;
    throw error;
  }
}

async function probe(ctx: HealthContext): Promise<{ ok: boolean; what: string }> {
  const { health } = ctx.config;
  const { remote } = ctx.target;
  try {
    if (health.http) {
      const r = await remote.httpGet(health.http.port, health.http.path, Math.min(5_000, health.timeout));
      return { ok: r.status === health.http.status, what: `HTTP ${r.status}` };
    }
    await remote.exec(custom(health.command!), { timeoutMs: Math.min(30_000, health.timeout) });
    return { ok: true, what: 'command exited 0' };
  } catch (error) {
    return { ok: false, what: (error as Error).message.split('\n')[0]! };
  }
}

export function describeCheck(health: HealthSettings): string {
  return health.http
    ? `GET http://127.0.0.1:${health.http.port}${health.http.path} = ${health.http.status}`
    : `\`${health.command!.join(' ')}\``;
}
