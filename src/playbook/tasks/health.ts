/**
 * The health check step: proves before any host leaves service that the check can reach each host,
 * then waits for the new container to pass it (remote/health.ts).
 */
import { ConfigError } from '../../errors.ts';
import { NoHttpClientError } from '../../remote/http-probe.ts';
import { describeCheck, waitHealthy } from '../../remote/health.ts';
import type { HostTask } from '../types.ts';

export { HealthCheckError } from '../../remote/health.ts';

export function healthCheck(): HostTask {
  return {
    name: 'health check',
    /**
     * Proves the check can reach each host before any leaves service: the HTTP check is made once on
     * the current container, the way the health step will make it (a tunnel, or curl or wget on a host
     * whose sshd refuses forwarding). A host it cannot reach either way stops the run here.
     */
    async prepare(ctx, target) {
      const { http } = ctx.config.health;
      if (!http) return;
      try {
        const r = await target.remote.httpGet(http.port, http.path, Math.min(5_000, ctx.config.health.timeout));
        return `HTTP ${r.status}${r.via === 'on-host' ? ' (sshd refuses forwarding: checked on the host)' : ''}`;
      } catch (error) {
        if (error instanceof NoHttpClientError) {
          throw new ConfigError(
            'health.http',
            `${target.host.name}: its sshd refuses TCP forwarding (AllowTcpForwarding no), and it has no HTTP client Baton can run there (curl, wget or bash): install one, or check with a command on the host (health.command)`,
          );
        }
        // Nothing answers yet (no container, or one that does not listen): the transport itself works.
        if (target.live?.running) {
          const said = `${target.host.name}: the current container does not answer the health check (${(error as Error).message.split('\n')[0]}); the new one must, within health.timeout`;
          ctx.events.emit({ type: 'warning', message: said });
          return 'no answer from the current container';
        }
      }
    },
    async run(ctx) {
      return waitHealthy(ctx, ctx.signal);
    },
    explain: (ctx) =>
      `wait until ${describeCheck(ctx.config.health)} passes ${ctx.config.health.healthyThreshold} time(s) in a row (at most ${Math.round(ctx.config.health.timeout / 1000)}s)`,
  };
}
