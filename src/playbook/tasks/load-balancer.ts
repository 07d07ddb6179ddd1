/**
 * Taking a host out of its load balancers and putting it back. Out: deregister everywhere at once,
 * wait until every load balancer has drained it (the wait is sized from that load balancer's own
 * draining timeout). Back: register everywhere, wait until every one reports it in service.
 */
import { describeMembership, type LoadBalancers, type Membership, type TargetState } from '../../aws/load-balancers.ts';
import type { DeployConfig } from '../../config/index.ts';
import type { Host } from '../../inventory/host.ts';
import { pollUntil } from '../../poll.ts';
import type { JournalHost } from '../../state/journal.ts';
import type { HostTask } from '../types.ts';
import { ConfigError } from '../../errors.ts';

const OUT: readonly TargetState[] = ['not-registered', 'out-of-service'];

/** What moving a host in and out of service needs: its load balancers, the timeouts, and a clock. */
export interface ServiceMove {
  readonly config: Pick<DeployConfig, 'timeouts'>;
  readonly loadBalancers: LoadBalancers;
  readonly host: Pick<Host, 'name' | 'instanceId'>;
  readonly memberships: readonly Membership[];
}

/** The part of a host the journal keeps: enough to reach it again without its inventory. */
export const journalHost = (h: Host): JournalHost => ({ name: h.name, address: h.address, ...(h.instanceId && { instanceId: h.instanceId }), ...(h.ssh && { ssh: h.ssh }) });

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
      const why = target.host.instanceId ? `instance ${target.host.instanceId} is registered in no classic ELB or target group` : 'it has no instance_id in the inventory, so its load balancers cannot be found';
      throw new ConfigError(
        '--no-load-balancer',
        `${target.host.name} is in no load balancer Baton can see (${why}): it would be stopped while a load balancer may still send it traffic. Give it an instance_id, or pass --no-load-balancer (rollout.allowNoLoadBalancer) if it serves no traffic through one`,
      );
    },
    async run(ctx) {
      const { memberships, host } = ctx.target;
      if (!memberships.length) return 'in no load balancer';
      const move = { config: ctx.config, loadBalancers: ctx.aws.loadBalancers, host, memberships };
      await ctx.compensate({
        what: 'register again',
        changes: memberships.map((membership) => ({ kind: 'deregistered', host: journalHost(host), membership })),
        undo: (signal) => putBack(move, signal).then(() => void (ctx.service.back = Date.now())),
      });
      ctx.service.left = Date.now();
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
      const move = { config: ctx.config, loadBalancers: ctx.aws.loadBalancers, host, memberships };
      // Should a later task fail, the host leaves service again before its previous container returns.
      await ctx.compensate({ what: 'deregister again', undo: (signal) => takeOut(move, signal) });
      await putBack(move, ctx.signal);
      ctx.service.back = Date.now();
      return `in service in ${memberships.map(describeMembership).join(', ')}`;
    },
    explain: (ctx, target) =>
      target.memberships.length
        ? `register in ${target.memberships.map(describeMembership).join(', ')} and wait until in service (at most ${Math.round(ctx.config.timeouts.inService / 1000)}s)`
        : 'nothing: in no load balancer',
  };
}

/**
 * The drain wait: the configured timeout, or the load balancer's own draining timeout plus a margin
 * (`timeouts.drainMargin`) for its state to catch up, whichever is longer.
 */
const drainWaitMs = (timeouts: Pick<DeployConfig['timeouts'], 'drain' | 'drainMargin'>, m: Membership) => Math.max(timeouts.drain, m.drainTimeoutMs + timeouts.drainMargin);

/** Deregisters the host everywhere and waits until every load balancer has drained it. */
export async function takeOut(move: ServiceMove, signal: AbortSignal): Promise<void> {
  const id = instanceId(move);
  await Promise.all(move.memberships.map((m) => move.loadBalancers.deregister(id, m)));
  await Promise.all(
    move.memberships.map((m) => waitFor(move, m, (s) => OUT.includes(s), `${move.host.name} to drain from ${describeMembership(m)}`, drainWaitMs(move.config.timeouts, m), signal)),
  );
}

/** Registers the host everywhere and waits until every load balancer has it in service. */
export async function putBack(move: ServiceMove, signal: AbortSignal): Promise<void> {
  const id = instanceId(move);
  await Promise.all(move.memberships.map((m) => move.loadBalancers.register(id, m)));
  await Promise.all(move.memberships.map((m) => waitFor(move, m, (s) => s === 'in-service', `${move.host.name} to be in service in ${describeMembership(m)}`, move.config.timeouts.inService, signal)));
}

function waitFor(move: ServiceMove, m: Membership, done: (s: TargetState) => boolean, what: string, timeoutMs: number, signal: AbortSignal) {
  return pollUntil(
    async () => {
      const { state, detail } = await move.loadBalancers.state(instanceId(move), m, signal);
      return done(state) ? { done: true, value: undefined } : { done: false, seen: detail };
    },
    { what, timeoutMs, intervalMs: 100, factor: 1.25, maxIntervalMs: 1_000, signal },
  );
}

function instanceId(move: ServiceMove): string {
  const id = move.host.instanceId;
  if (!id) throw new Error(`${move.host.name} has load balancer memberships but no instance id`);
  return id;
}
