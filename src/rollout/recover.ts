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
import { systemClock, type Clock } from '../clock.ts';
import type { AwsServices } from '../aws/services.ts';
import {
  changeHost,
  hostLabel,
  undoChange,
  undoStep,
  wouldUndo,
  type JournalHost,
  type UndoContext,
} from '../changes/index.ts';
import type { DeployConfig } from '../config/types.ts';
import { ExitCode, LeaseLostError } from '../errors.ts';
import type { Host } from '../inventory/host.ts';
import type { FleetConnection } from '../remote/host.ts';
import type { JournalEntry } from '../state/journal.ts';
import type { DeployEvent, EventBus, RunOutcome } from '../events/events.ts';
import type { ChangeLog } from './journal-log.ts';

export interface RecoverOptions {
  readonly config: DeployConfig;
  /** The open entries, as found in the journal. */
  readonly entries: readonly JournalEntry[];
  readonly journal: ChangeLog;
  /** The AWS adapters the undos use (the CLI builds them from its clients; tests pass fakes). */
  readonly services: AwsServices;
  readonly connect: (hosts: readonly Host[]) => Promise<FleetConnection>;
  readonly events: EventBus;
  readonly signal: AbortSignal;
  /** Its time: health checks and load balancer waits are timed on it (the system's by default). */
  readonly clock?: Clock;
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
  return {
    type: 'plan',
    preTasks: newestFirst(entries).map((e) => ({ step: undoStep(e.change), would: wouldUndo(e.change, e.what) })),
    hosts: [],
  };
}

export async function recover(options: RecoverOptions): Promise<RecoverResult> {
  const { config, events, journal } = options;
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const todo = newestFirst(options.entries);
  const aws = options.services;
  // Host by host: one that cannot be reached keeps its own entries open, and nothing else waits on it.
  const connections = new Map<string, FleetConnection>();
  await using _closeAll = {
    [Symbol.asyncDispose]: () => Promise.all([...connections.values()].map((c) => c.close())).then(() => undefined),
  };
  const reach = async (host: JournalHost) => {
    let fleet = connections.get(host.name);
    if (!fleet) connections.set(host.name, (fleet = await options.connect([{ ...host, tags: {}, groups: [] }])));
    return fleet.host(host.name);
  };
  const undoing: UndoContext = { config, aws, reach, signal: options.signal, clock };
  const left: JournalEntry[] = [];
  /** Hosts whose container could not be made healthy: they stay out of service. */
  const unhealthy = new Set<string>();
  const gone = await terminatedInstances(todo, options);
  for (const entry of todo) {
    const c = entry.change;
    const host = changeHost(c);
    const instanceId = host?.instanceId;
    if (instanceId && gone.has(instanceId)) {
      const because = `instance ${instanceId} is terminated: nothing left to undo`;
      await journal.close(entry, because);
      events.emit({ type: 'warning', message: `closed without undo: ${entry.what} (${because})` });
      continue;
    }
    const where = host ? { host: host.name } : {};
    if (c.kind === 'deregistered' && unhealthy.has(c.host.name)) {
      events.emit({
        type: 'warning',
        message: `${hostLabel(c.host)} stays out of service: its container is not healthy`,
      });
      left.push(entry);
      continue;
    }
    try {
      await journal.fence();
      await events.step(
        where,
        undoStep(c),
        () => undoChange(c, undoing),
        (detail) => detail || undefined,
      );
      await journal.close(entry);
    } catch (error) {
      if (error instanceof LeaseLostError) {
        // Another run may own the fleet now: nothing more is undone, everything left stays open for it.
        const rest = todo.slice(todo.indexOf(entry));
        events.emit({
          type: 'warning',
          message: `${error.message}. Not undone: ${rest.map((e) => e.what).join('; ')}`,
        });
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
  events.emit({
    type: 'run-finished',
    outcome,
    exitCode,
    ms: clock.now() - started,
    hosts: [],
    maxRssKb: process.resourceUsage().maxRSS,
  });
  return { outcome, exitCode, left };
}

/** The instances of `todo`'s hosts that EC2 says are terminated; none when EC2 cannot say. */
async function terminatedInstances(todo: readonly JournalEntry[], options: RecoverOptions): Promise<Set<string>> {
  const ids = [...new Set(todo.flatMap((e) => changeHost(e.change)?.instanceId ?? []))];
  if (!ids.length || !options.gone) return new Set<string>();
  // Not knowing (no ec2:DescribeInstances permission, throttling) is no reason to undo nothing.
  return options.gone(ids).catch((error: unknown) => {
    options.events.emit({
      type: 'warning',
      message: `could not ask EC2 which instances are terminated (${(error as Error).message}): every entry is undone as usual`,
    });
    return new Set<string>();
  });
}
