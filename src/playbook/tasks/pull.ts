/**
 * Pre-pull: every target pulls the new image before any host leaves service, in parallel (bounded),
 * so a host's turn out of service holds only the swap. One failed pull stops the run, fleet untouched.
 */
import { BatonError } from '../../errors.ts';
import { dockerImageIdentity, dockerPull } from '../../remote/docker.ts';
import type { RunTask } from '../types.ts';

export class PullError extends BatonError {}

export function prePull(options: { concurrency?: number } = {}): RunTask {
  return {
    name: 'pre-pull',
    async run(ctx) {
      const queue = [...ctx.targets];
      const failures: string[] = [];
      const worker = async () => {
        for (let t = queue.shift(); t; t = queue.shift()) {
          try {
            const { command, stdin } = dockerPull(ctx.image, ctx.registryLogin);
            await t.remote.exec(command, {
              timeoutMs: ctx.config.timeouts.pull,
              signal: ctx.signal,
              ...(stdin !== undefined && { stdin }),
            });
            // What the tag names now, on this host: a host is unchanged only when it runs this very image.
            const { stdout } = await t.remote.exec(dockerImageIdentity(ctx.image), {
              timeoutMs: ctx.config.ssh.commandTimeout,
              signal: ctx.signal,
            });
            const [id, ...digests] = stdout.trim().split(' ');
            // The digest of the repository pulled from, as the registry names this image.
            const repository = ctx.image.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
            const digest = (digests.find((d) => d.startsWith(`${repository}@`)) ?? digests[0])?.replace(/^.*@/, '');
            if (id) ctx.pulled.set(t.host.name, { id, ...(digest && { digest }) });
          } catch (error) {
            failures.push(`${t.host.name}: ${(error as Error).message}`);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, queue.length) }, worker));
      if (failures.length)
        throw new PullError(`could not pull ${ctx.image}; no host left service:\n${failures.join('\n')}`);
      return `${ctx.image} on ${ctx.targets.length} host${ctx.targets.length === 1 ? '' : 's'}`;
    },
    explain: (ctx) =>
      `${ctx.registryLogin ? `log in to ${ctx.registryLogin.server} as ${ctx.registryLogin.username} (for this pull only) and ` : ''}docker pull ${ctx.image} on ${ctx.targets.length} host(s), ${Math.min(options.concurrency ?? 8, ctx.targets.length)} at a time, before any host leaves service`,
  };
}
