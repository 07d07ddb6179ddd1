/**
 * `baton recover`: undoes what a run that did not finish left open in its journal, newest first, so
 * each host is dealt with before the guards around the fleet are lifted:
 * - a container that was being replaced: the new one stays if it runs and passes its health check,
 *   else the kept one comes back and must pass it;
 * - a host out of a load balancer: registered again and waited for until in service, but only once its
 *   container is healthy (a host whose container could not be made healthy stays out, and is reported);
 * - alarm actions enabled again; Auto Scaling processes Baton suspended resumed.
 * Every step closes its journal entry as it completes, so a recover that is itself interrupted is
 * simply run again.
 */
import type { AwsClients } from '../aws/clients.ts';
import { Alarms } from '../aws/alarms.ts';
import { AutoScaling } from '../aws/autoscaling.ts';
import { LoadBalancers } from '../aws/load-balancers.ts';
import type { DeployConfig } from '../config/index.ts';
import { ExitCode, LeaseLostError } from '../errors.ts';
import type { Host } from '../inventory/host.ts';
import { inspectLive, restorePrevious } from '../playbook/tasks/container.ts';
import { waitHealthy } from '../playbook/tasks/health.ts';
import { putBack } from '../playbook/tasks/load-balancer.ts';
import type { FleetConnection } from '../ssh/remote-host.ts';
import type { JournalEntry, JournalHost } from '../state/journal.ts';
import type { DeployEvent, EventBus, RunOutcome } from './events.ts';
import type { ChangeLog } from './journal-log.ts';
import { hostLabel, undoStep } from './changes.ts';

export interface RecoverOptions {
  readonly config: DeployConfig;
  /** The open entries, as found in the journal. */
  readonly entries: readonly JournalEntry[];
  readonly journal: ChangeLog;
  readonly aws: AwsClients;
  readonly connect: (hosts: readonly Host[]) => Promise<FleetConnection>;
  readonly events: EventBus;
  readonly signal: AbortSignal;
  /** Which instances are gone for good (terminated): their entries are closed with a note, never retried forever. */
  readonly gone?: (instanceIds: readonly string[]) => Promise<Set<string>>;
}

export interface RecoverResult {
  readonly outcome: RunOutcome;
  readonly exitCode: number;
  /** What could not be undone: still open in the journal. */
  readonly left: readonly JournalEntry[];
}

/** The order recover undoes entries in: newest first, so each host comes before the guards. */
const newestFirst = (entries: readonly JournalEntry[]) => [...entries].sort((a, b) => b.seq - a.seq);

/** `recover --check`: what recover would do, entry by entry, in its order; reads nothing, changes nothing. */
export function planRecovery(entries: readonly JournalEntry[]): Extract<DeployEvent, { type: 'plan' }> {
  return { type: 'plan', preTasks: newestFirst(entries).map((e) => ({ step: undoStep(e.change), would: wouldDo(e) })), hosts: [] };
}

export async function recover(options: RecoverOptions): Promise<RecoverResult> {
  const { config, events, journal } = options;
  const started = Date.now();
  const todo = newestFirst(options.entries);
  const lbs = new LoadBalancers(options.aws.elb, options.aws.elbv2);
  const autoscaling = new AutoScaling(options.aws.autoscaling);
  const alarms = new Alarms(options.aws.cloudwatch);
  // Host by host: one that cannot be reached keeps its own entries open, and nothing else waits on it.
  const connections = new Map<string, FleetConnection>();
  await using _closeAll = { [Symbol.asyncDispose]: () => Promise.all([...connections.values()].map((c) => c.close())).then(() => undefined) };
  const reach = async (host: JournalHost): Promise<FleetConnection> => {
    const known = connections.get(host.name);
    if (known) return known;
    const fleet = await options.connect(uniqueHosts([host]));
    connections.set(host.name, fleet);
    return fleet;
  };
  const left: JournalEntry[] = [];
  /** Hosts whose container could not be made healthy: they stay out of service. */
  const unhealthy = new Set<string>();
  const hostOf = (e: JournalEntry) => (e.change.kind === 'deregistered' || e.change.kind === 'container-replaced' ? e.change.host : undefined);
  const ids = [...new Set(todo.flatMap((e) => (hostOf(e)?.instanceId ? [hostOf(e)!.instanceId!] : [])))];
  // Not knowing (no ec2:DescribeInstances permission, throttling) is no reason to undo nothing.
  const gone =
    ids.length && options.gone
      ? await options.gone(ids).catch((error: unknown) => {
          events.emit({ type: 'warning', message: `could not ask EC2 which instances are terminated (${(error as Error).message}): every entry is undone as usual` });
          return new Set<string>();
        })
      : new Set<string>();
  for (const entry of todo) {
    const c = entry.change;
    const instanceId = hostOf(entry)?.instanceId;
    if (instanceId && gone.has(instanceId)) {
      const because = `instance ${instanceId} is terminated: nothing left to undo`;
      await journal.close(entry, because);
      events.emit({ type: 'warning', message: `closed without undo: ${entry.what} (${because})` });
      continue;
    }
    const where = c.kind === 'deregistered' || c.kind === 'container-replaced' ? { host: c.host.name } : {};
    if (c.kind === 'deregistered' && unhealthy.has(c.host.name)) {
      events.emit({ type: 'warning', message: `${hostLabel(c.host)} stays out of service: its container is not healthy` });
      left.push(entry);
      continue;
    }
    try {
      await journal.fence();
      await events.step(where, undoStep(c), async () => {
        switch (c.kind) {
          case 'autoscaling-suspended':
            return autoscaling.resumeProcesses(c.group, c.processes);
          case 'alarms-disabled':
            return alarms.enable(c.alarms);
          case 'deregistered':
            return putBack({ config, loadBalancers: lbs, host: c.host, memberships: [c.membership] }, options.signal);
          case 'container-replaced':
            return healContainer(config, await reach(c.host), c.host, c.keptId, options.signal, c.keepsOther ? 'keep' : 'remove');
        }
      }, (detail) => detail || undefined);
      await journal.close(entry);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        // Another run may own the fleet now: nothing more is undone, everything left stays open for it.
        const rest = todo.slice(todo.indexOf(entry));
        events.emit({ type: 'warning', message: `${error.message}. Not undone: ${rest.map((e) => e.what).join('; ')}` });
        left.push(...rest);
        break;
      }
      if (c.kind === 'container-replaced') unhealthy.add(c.host.name);
      events.emit({ type: 'undo-failed', what: entry.what, error: (error as Error).message, fix: entry.fix });
      left.push(entry);
    }
  }
  const outcome: RunOutcome = left.length ? 'failed' : 'recovered';
  const exitCode = left.length ? ExitCode.NeedsOperator : ExitCode.Ok;
  events.emit({ type: 'run-finished', outcome, exitCode, ms: Date.now() - started, hosts: [], maxRssKb: process.resourceUsage().maxRSS });
  return { outcome, exitCode, left };
}

/** The new container if it runs and is healthy, else the kept one, which must then be. */
async function healContainer(config: DeployConfig, fleet: FleetConnection, host: JournalHost, keptId: string | undefined, signal: AbortSignal, other: 'remove' | 'keep'): Promise<string> {
  const remote = fleet.host(host.name);
  const ctx = { config, target: { host, remote } };
  const live = await inspectLive(remote, config.container.name);
  if (live?.running) {
    try {
      await waitHealthy(ctx, signal);
      return `kept ${live.image}: it runs and is healthy`;
    } catch {
      // Not healthy: the kept container comes back below.
    }
  }
  await restorePrevious(remote, config, keptId, signal, other);
  const back = await inspectLive(remote, config.container.name);
  await waitHealthy(ctx, signal);
  return `back on ${back?.image ?? 'the kept container'}${live ? ` (${live.image} ${live.running ? 'was not healthy' : 'was not running'})` : ''}`;
}

function wouldDo(e: JournalEntry): string {
  const c = e.change;
  switch (c.kind) {
    case 'container-replaced':
      return `${hostLabel(c.host)}: keep ${c.to} if it runs and passes its health check, else start the kept ${c.keptAs}${c.from ? ` (${c.from})` : ''} again`;
    case 'deregistered':
      return `register ${hostLabel(c.host)} again and wait until in service (${e.what})`;
    default:
      return `undo: ${e.what}`;
  }
}

function uniqueHosts(hosts: readonly JournalHost[]): Host[] {
  const byName = new Map<string, Host>();
  for (const h of hosts) if (!byName.has(h.name)) byName.set(h.name, { ...h, tags: {}, groups: [] });
  return [...byName.values()];
}
