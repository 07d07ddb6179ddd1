/**
 * One host's turn: its tasks in order, each a named step. If one fails, the host's compensations run,
 * last first, and the host goes back to what it ran before; the run decides whether to go on.
 */
import { InterruptedError } from '../errors.ts';
import type { HostContext, HostTask, RunContext, Target } from '../playbook/types.ts';
import type { HostSummary } from './events.ts';

/** Compensations must finish even after a second Ctrl-C: each gets its own deadline instead. */
const COMPENSATION_TIMEOUT_MS = 10 * 60_000;

export async function runHost(run: RunContext, target: Target, tasks: readonly HostTask[]): Promise<HostSummary> {
  const name = target.host.name;
  const { events } = run;
  const wanted = run.targetImage?.(target) ?? run.image;
  const base = { host: name, oldImage: target.liveImage, newImage: wanted };
  if (target.liveImage === wanted) {
    events.emit({ type: 'host-finished', ...base, result: 'unchanged', outOfServiceMs: 0 });
    return { ...base, result: 'unchanged', outOfServiceMs: 0 };
  }
  const compensations: { what: string; undo: (signal: AbortSignal) => Promise<void> }[] = [];
  const service: HostContext['service'] = {};
  const ctx: HostContext = { ...run, target, service, compensate: (what, undo) => compensations.push({ what, undo }) };
  const outOfService = () => (service.left ? (service.back ?? Date.now()) - service.left : 0);
  try {
    for (const task of tasks) {
      if (run.signal.aborted) throw new InterruptedError(`interrupted before ${task.name}`);
      await events.step({ host: name }, task.name, () => task.run(ctx), (d) => d || undefined);
    }
    const summary = { ...base, result: 'deployed' as const, outOfServiceMs: outOfService() };
    events.emit({ type: 'host-finished', ...summary });
    return summary;
  } catch (error) {
    const reason = (error as Error).message;
    let result: HostSummary['result'] = 'rolled-back';
    for (const { what, undo } of compensations.reverse()) {
      try {
        await events.step({ host: name }, what, () => undo(AbortSignal.timeout(COMPENSATION_TIMEOUT_MS)));
      } catch (undoError) {
        result = 'failed';
        events.emit({ type: 'warning', message: `${name}: could not ${what}: ${(undoError as Error).message}` });
      }
    }
    const summary = { ...base, result, outOfServiceMs: outOfService(), error: reason };
    events.emit({ type: 'host-finished', ...summary });
    return summary;
  }
}
