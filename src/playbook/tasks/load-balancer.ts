/**
 * The load balancer steps of a host's turn: out of every load balancer and drained before its
 * container changes, back in and in service after (aws/service.ts), each with its compensation.
 */
import { describeMembership } from '../../aws/load-balancers.ts';
import { drainWaitMs, putBack, serviceMove, takeOut } from '../../aws/service.ts';
import { journalHost } from '../../changes/index.ts';
import type { HostTask } from '../types.ts';
import { ConfigError } from '../../errors.ts';

export function deregister(): HostTask {
  return {
    name: 'deregister',
    /**
     * A host in no load balancer Baton can see (a static host without instance_id, an instance
     * registered by IP elsewhere) would be stopped while a load balancer may still send it traffic:
     * refused before anything changes, unless the operator says it serves none (--no-load-balancer).
     */
    async prepare(ctx, target) {
      if (target.memberships.length || ctx.config.rollout.allowNoLoadBalancer) return;
      const why = target.host.instanceId
        ? `instance ${target.host.instanceId} is registered in no classic ELB or target group`
        : 'it has no instance_id in the inventory, so its load balancers cannot be found';
      throw new ConfigError(
        '--no-load-balancer',
        `${target.host.name} is in no load balancer Baton can see (${why}): it would be stopped while a load balancer may still send it traffic. Give it an instance_id, or pass --no-load-balancer (rollout.allowNoLoadBalancer) if it serves no traffic through one`,
      );
    },
    async run(ctx) {
      const { memberships, host } = ctx.target;
      if (!memberships.length) return 'in no load balancer';
      const move = serviceMove(ctx, host, memberships);
      await ctx.compensate({
        what: 'register again',
        changes: memberships.map((membership) => ({ kind: 'deregistered', host: journalHost(host), membership })),
        undo: (signal) => putBack(move, signal).then(() => void (ctx.service.back = ctx.clock.now())),
      });
      ctx.service.left = ctx.clock.now();
      await takeOut(move, ctx.signal);
      return `drained from ${memberships.map(describeMembership).join(', ')}`;
    },
    explain: (ctx, target) =>
      target.memberships.length
        ? `deregister from ${target.memberships.map(describeMembership).join(', ')} and wait until drained (at most ${Math.round(Math.max(...target.memberships.map((m) => drainWaitMs(ctx.config.timeouts, m))) / 1000)}s)`
        : 'nothing: in no load balancer',
  };
}

export function register(): HostTask {
  return {
    name: 'register',
    async run(ctx) {
      const { memberships, host } = ctx.target;
      if (!memberships.length) return 'in no load balancer';
      const move = serviceMove(ctx, host, memberships);
      // Should a later task fail, the host leaves service again before its previous container returns.
      await ctx.compensate({ what: 'deregister again', undo: (signal) => takeOut(move, signal) });
      await putBack(move, ctx.signal);
      ctx.service.back = ctx.clock.now();
      return `in service in ${memberships.map(describeMembership).join(', ')}`;
    },
    explain: (ctx, target) =>
      target.memberships.length
        ? `register in ${target.memberships.map(describeMembership).join(', ')} and wait until in service (at most ${Math.round(ctx.config.timeouts.inService / 1000)}s)`
        : 'nothing: in no load balancer',
  };
}
