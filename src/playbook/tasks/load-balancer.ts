/**
 * Taking a host out of its load balancers and putting it back. Out: deregister everywhere at once,
 * wait until every load balancer has drained it (the wait is sized from that load balancer's own
 * draining timeout). Back: register everywhere, wait until every one reports it in service.
 */
import { describeMembership, type Membership, type TargetState } from '../../aws/load-balancers.ts';
import { pollUntil } from '../../poll.ts';
import type { HostContext, HostTask } from '../types.ts';

/** How long past a load balancer's own draining timeout Baton keeps waiting before giving up. */
const DRAIN_MARGIN_MS = 60_000;
const OUT: readonly TargetState[] = ['not-registered', 'out-of-service'];

export function deregister(): HostTask {
  return {
    name: 'deregister',
    async run(ctx) {
      const { memberships } = ctx.target;
      if (!memberships.length) return 'in no load balancer';
      ctx.compensate('register again', (signal) => putBack(ctx, signal));
      ctx.service.left = Date.now();
      await takeOut(ctx, ctx.signal);
      return `drained from ${memberships.map(describeMembership).join(', ')}`;
    },
    explain: (ctx, target) =>
      target.memberships.length
        ? `deregister from ${target.memberships.map(describeMembership).join(', ')} and wait until drained (at most ${Math.round(Math.max(...target.memberships.map((m) => drainWaitMs(ctx.config.timeouts.drain, m))) / 1000)}s)`
        : 'nothing: in no load balancer',
  };
}

export function register(): HostTask {
  return {
    name: 'register',
    async run(ctx) {
      const { memberships } = ctx.target;
      if (!memberships.length) return 'in no load balancer';
      // Should a later task fail, the host leaves service again before its previous container returns.
      ctx.compensate('deregister again', (signal) => takeOut(ctx, signal));
      await putBack(ctx, ctx.signal);
      return `in service in ${memberships.map(describeMembership).join(', ')}`;
    },
    explain: (ctx, target) =>
      target.memberships.length
        ? `register in ${target.memberships.map(describeMembership).join(', ')} and wait until in service (at most ${Math.round(ctx.config.timeouts.inService / 1000)}s)`
        : 'nothing: in no load balancer',
  };
}

/** The drain wait: the configured timeout, or the load balancer's own draining timeout plus a margin. */
const drainWaitMs = (configured: number, m: Membership) => Math.max(configured, m.drainTimeoutMs + DRAIN_MARGIN_MS);

async function takeOut(ctx: HostContext, signal: AbortSignal): Promise<void> {
  const id = instanceId(ctx);
  const lbs = ctx.aws.loadBalancers;
  await Promise.all(ctx.target.memberships.map((m) => lbs.deregister(id, m)));
  await Promise.all(
    ctx.target.memberships.map((m) =>
      waitFor(ctx, m, (s) => OUT.includes(s), `${ctx.target.host.name} to drain from ${describeMembership(m)}`, drainWaitMs(ctx.config.timeouts.drain, m), signal),
    ),
  );
}

async function putBack(ctx: HostContext, signal: AbortSignal): Promise<void> {
  const id = instanceId(ctx);
  const lbs = ctx.aws.loadBalancers;
  await Promise.all(ctx.target.memberships.map((m) => lbs.register(id, m)));
  await Promise.all(
    ctx.target.memberships.map((m) => waitFor(ctx, m, (s) => s === 'in-service', `${ctx.target.host.name} to be in service in ${describeMembership(m)}`, ctx.config.timeouts.inService, signal)),
  );
  ctx.service.back = Date.now();
}

function waitFor(ctx: HostContext, m: Membership, done: (s: TargetState) => boolean, what: string, timeoutMs: number, signal: AbortSignal) {
  return pollUntil(
    async () => {
      const { state, detail } = await ctx.aws.loadBalancers.state(instanceId(ctx), m);
      return done(state) ? { done: true, value: undefined } : { done: false, seen: detail };
    },
    { what, timeoutMs, intervalMs: 100, factor: 1.25, maxIntervalMs: 1_000, signal },
  );
}

function instanceId(ctx: HostContext): string {
  const id = ctx.target.host.instanceId;
  if (!id) throw new Error(`${ctx.target.host.name} has load balancer memberships but no instance id`);
  return id;
}
