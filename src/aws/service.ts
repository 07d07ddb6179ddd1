/**
 * Taking a host out of its load balancers and putting it back. Out: deregister everywhere at once,
 * wait until every load balancer has drained it (the wait is sized from that load balancer's own
 * draining timeout). Back: register everywhere, wait until every one reports it in service.
 */
import { describeMembership, type Membership, type TargetState } from './load-balancers.ts';
import type { LoadBalancerService } from './services.ts';
import type { DeployConfig } from '../config/types.ts';
import type { Host } from '../inventory/host.ts';
import type { Clock } from '../clock.ts';
import { pollUntil } from '../poll.ts';

const OUT: readonly TargetState[] = ['not-registered', 'out-of-service'];

/** What moving a host in and out of service needs: its load balancers, the timeouts, and a clock. */
export interface ServiceMove {
  readonly config: Pick<DeployConfig, 'timeouts'>;
  readonly loadBalancers: LoadBalancerService;
  readonly host: Pick<Host, 'name' | 'instanceId'>;
  readonly memberships: readonly Membership[];
  /** The run's clock (the system's by default). */
  readonly clock?: Clock;
}

/** A move for `host` in `memberships`, with what a run (or an undo) holds: its config, adapters and clock. */
export const serviceMove = (
  run: Pick<ServiceMove, 'config' | 'clock'> & { readonly aws: { readonly loadBalancers: LoadBalancerService } },
  host: ServiceMove['host'],
  memberships: readonly Membership[],
): ServiceMove => ({ config: run.config, loadBalancers: run.aws.loadBalancers, host, memberships, clock: run.clock });

/**
 * The drain wait: the configured timeout, or the load balancer's own draining timeout plus a margin
 * (`timeouts.drainMargin`) for its state to catch up, whichever is longer.
 */
export const drainWaitMs = (timeouts: Pick<DeployConfig['timeouts'], 'drain' | 'drainMargin'>, m: Membership) =>
  Math.max(timeouts.drain, m.drainTimeoutMs + timeouts.drainMargin);

/** Deregisters the host everywhere and waits until every load balancer has drained it. */
export async function takeOut(move: ServiceMove, signal: AbortSignal): Promise<void> {
  const id = instanceId(move);
  await Promise.all(move.memberships.map((m) => move.loadBalancers.deregister(id, m)));
  await Promise.all(
    move.memberships.map((m) =>
      waitFor(
        move,
        m,
        (s) => OUT.includes(s),
        `${move.host.name} to drain from ${describeMembership(m)}`,
        drainWaitMs(move.config.timeouts, m),
        signal,
      ),
    ),
  );
}

/** Registers the host everywhere and waits until every load balancer has it in service. */
export async function putBack(move: ServiceMove, signal: AbortSignal): Promise<void> {
  const id = instanceId(move);
  await Promise.all(move.memberships.map((m) => move.loadBalancers.register(id, m)));
  await Promise.all(
    move.memberships.map((m) =>
      waitFor(
        move,
        m,
        (s) => s === 'in-service',
        `${move.host.name} to be in service in ${describeMembership(m)}`,
        move.config.timeouts.inService,
        signal,
      ),
    ),
  );
}

function waitFor(
  move: ServiceMove,
  m: Membership,
  done: (s: TargetState) => boolean,
  what: string,
  timeoutMs: number,
  signal: AbortSignal,
) {
  return pollUntil(
    async () => {
      const { state, detail } = await move.loadBalancers.state(instanceId(move), m, signal);
      return done(state) ? { done: true, value: undefined } : { done: false, seen: detail };
    },
    { what, timeoutMs, intervalMs: 100, factor: 1.25, maxIntervalMs: 1_000, signal, clock: move.clock },
  );
}

function instanceId(move: ServiceMove): string {
  const id = move.host.instanceId;
  if (!id) throw new Error(`${move.host.name} has load balancer memberships but no instance id`);
  return id;
}
