/**
 * One host's turn: its tasks in order, each a named step. Every change a task makes is journaled
 * before it is made (through `compensate`). If a task fails, the host's compensations run, last first,
 * and the host goes back to what it ran before; the run decides whether to go on. A compensation that
 * fails stops the ones after it: a host left out of service is safe, one put back half-restored is not.
 */
import { InterruptedError, LeaseLostError } from '../errors.ts';
import type { Compensation, HostContext, HostTask, RunContext, Target } from '../playbook/types.ts';
import type { JournalEntry } from '../state/journal.ts';
import { describeChange, fixCommand } from '../changes/index.ts';
import type { HostSummary } from '../events/events.ts';
import type { ChangeLog } from './journal-log.ts';

/** Compensations must finish even after a second Ctrl-C: each gets its own deadline instead. */
const COMPENSATION_TIMEOUT_MS = 10 * 60_000;

/** The image id `target` is to run: the pulled one, or for a rollback the kept container's; undefined when not known. */
export function wantedImageId(run: RunContext, target: Target): string | undefined {
  return run.targetImage ? target.previous?.imageId : run.pulled.get(target.host.name)?.id;
}

/**
 * Whether the host already runs what it is to run: the same reference and, where the id is known (as
 * after the pre-pull), the very same image: a tag pushed again names another image, and is deployed;
 * another tag of the same image is deployed too, so the host says what it was given.
 */
export function alreadyRuns(run: RunContext, target: Target): boolean {
  const wanted = run.targetImage?.(target) ?? run.image;
  if (target.liveImage === undefined || target.liveImage !== wanted) return false;
  const id = wantedImageId(run, target);
  return id === undefined || target.liveImageId === id;
}

export async function runHost(
  run: RunContext,
  target: Target,
  tasks: readonly HostTask[],
  journal: ChangeLog,
): Promise<HostSummary> {
  const name = target.host.name;
  const { events } = run;
  const wanted = run.targetImage?.(target) ?? run.image;
  const id = wantedImageId(run, target);
  const digest = run.targetImage ? undefined : run.pulled.get(name)?.digest;
  const base = {
    host: name,
    oldImage: target.liveImage,
    newImage: wanted,
    ...(target.liveImageId && { oldImageId: target.liveImageId }),
    ...(id && { imageId: id }),
    ...(digest && { digest }),
  };
  if (alreadyRuns(run, target)) {
    events.emit({ type: 'host-finished', ...base, result: 'unchanged', outOfServiceMs: 0 });
    return { ...base, result: 'unchanged', outOfServiceMs: 0 };
  }
  const compensations: (Compensation & { entries: JournalEntry[] })[] = [];
  const service: HostContext['service'] = {};
  const ctx: HostContext = {
    ...run,
    target,
    service,
    fence: () => journal.fence(),
    compensate: async (c) => {
      const entries: JournalEntry[] = [];
      events.declareNames(c.changes ?? [], 'a name in the journal');
      try {
        for (const change of c.changes ?? [])
          entries.push(await journal.record(change, describeChange(change), fixCommand(change, run.config.region)));
      } catch (error) {
        // None of these changes will be made: the ones already journaled are closed again.
        for (const e of entries) void journal.close(e);
        throw error;
      }
      compensations.push({ ...c, entries });
    },
  };
  const outOfService = () => (service.left ? (service.back ?? run.clock.now()) - service.left : 0);
  try {
    for (const task of tasks) {
      if (run.signal.aborted) throw new InterruptedError(`interrupted before ${task.name}`);
      // Every task may change the host or its load balancers: only while the run holds its lease.
      await journal.fence();
      await events.step(
        { host: name },
        task.name,
        () => task.run(ctx),
        (d) => d || undefined,
      );
    }
    for (const c of compensations) for (const e of c.entries) void journal.close(e);
    const summary = { ...base, result: 'deployed' as const, outOfServiceMs: outOfService() };
    events.emit({ type: 'host-finished', ...summary });
    return summary;
  } catch (error) {
    const reason = (error as Error).message;
    const putBack = await compensate(name, compensations, journal, events);
    const result: HostSummary['result'] = error instanceof LeaseLostError || !putBack ? 'failed' : 'rolled-back';
    const summary = { ...base, result, outOfServiceMs: outOfService(), error: reason };
    events.emit({ type: 'host-finished', ...summary });
    return summary;
  }
}

/**
 * Undoes a host's changes, newest first, each only while the run holds its lease; stops at the first
 * that fails and says what is left open. True when everything was put back.
 */
async function compensate(
  name: string,
  compensations: (Compensation & { entries: JournalEntry[] })[],
  journal: ChangeLog,
  events: RunContext['events'],
): Promise<boolean> {
  for (const c of compensations.reverse()) {
    try {
      // No blind undo: a run that lost its lease leaves the host to the run that holds it now.
      await journal.fence();
      await events.step({ host: name }, c.what, () => c.undo(AbortSignal.timeout(COMPENSATION_TIMEOUT_MS)));
      for (const e of c.entries) void journal.close(e);
    } catch (undoError) {
      const left = compensations.slice(compensations.indexOf(c)).flatMap((x) => x.entries);
      const open = left.map((e) => e.what).join('; ') || 'nothing journaled';
      events.emit({
        type: 'warning',
        message:
          undoError instanceof LeaseLostError
            ? `${name}: not put back: ${undoError.message}; left open: ${open}`
            : `${name}: could not ${c.what}: ${(undoError as Error).message}; left for \`baton recover\`: ${open}`,
      });
      return false;
    }
  }
  return true;
}
