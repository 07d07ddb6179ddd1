/**
 * The rollout proper: batch after batch (each host's tasks in parallel within a batch), stopping
 * before a batch on an interrupt, `--step`'s no or too little capacity; then the hosts switched before
 * a failed batch (rolled back or left, and said so); then the post-tasks, on a fleet fully deployed.
 * Each function records what it saw as facts; `decide` (outcome.ts) reads them.
 */
import { BatonError, LeaseLostError } from '../errors.ts';
import type { Host } from '../inventory/host.ts';
import type { Playbook, RunContext, Target } from '../playbook/types.ts';
import { awaitCapacity } from './capacity.ts';
import { gateStep, watch } from './gate.ts';
import type { HostSummary } from '../events/events.ts';
import { alreadyRuns, runHost } from './host.ts';
import type { ChangeLog } from './journal-log.ts';
import type { DeployOptions } from './options.ts';
import { outcomeOf, type RunFact } from './outcome.ts';
import type { Plan } from './plan.ts';
import { mixedFleetMessage, rollBackSwitched } from './roll-back-switched.ts';

/** Everything the rollout works on; `summaries` and `facts` grow as it goes. */
export interface Rollout {
  readonly ctx: RunContext;
  readonly playbook: Playbook;
  readonly plan: Plan<Host>;
  readonly journal: ChangeLog;
  /** The run's targets by host name. */
  readonly byName: ReadonlyMap<string, Target>;
  readonly options: Pick<DeployOptions, 'interrupt' | 'beforeBatch' | 'rollback' | 'deployment' | 'image'>;
  readonly summaries: Map<string, HostSummary>;
  readonly facts: RunFact[];
}

/** The batches in order; returns the number of the batch that failed past `maxFailPercentage`, if one did. */
export async function runBatches(r: Rollout): Promise<number | undefined> {
  const { ctx, plan, options, facts, byName } = r;
  const { events } = ctx;
  for (const [index, batch] of plan.batches.entries()) {
    const untouched = () =>
      plan.batches
        .slice(index)
        .flat()
        .map((h) => h.name);
    if (options.interrupt.stopRequested) {
      facts.push({ kind: 'stopped' });
      return undefined;
    }
    const go =
      !options.beforeBatch ||
      (await options.beforeBatch({
        index: index + 1,
        of: plan.batches.length,
        hosts: batch.map((h) => h.name),
        previous: plan.batches[index - 1]?.map((h) => h.name),
      }));
    if (!go || options.interrupt.stopRequested) {
      events.emit({
        type: 'warning',
        message: `stopped before batch ${index + 1}/${plan.batches.length}: ${keepTheirImage(untouched())}`,
      });
      facts.push({ kind: 'stopped' });
      return undefined;
    }
    const leaving = batch.map((h) => byName.get(h.name)!).filter((t) => !alreadyRuns(ctx, t));
    if (await stoppedForCapacity(r, index, leaving, untouched())) return undefined;
    // A batch changes hosts, so it starts only while the run can prove its lease: a run paused past it
    // (SIGSTOP, a suspended VM) stops here, before any host, whatever its renewal has learnt so far.
    await r.journal.fence();
    const hosts = batch.map((h) => h.name);
    events.emit({ type: 'batch', index: index + 1, of: plan.batches.length, hosts, status: 'started' });
    const results = await Promise.all(batch.map((h) => runHost(ctx, byName.get(h.name)!, r.playbook.tasks, r.journal)));
    for (const result of results) r.summaries.set(result.host, result);
    events.emit({ type: 'batch', index: index + 1, of: plan.batches.length, hosts, status: 'finished' });
    const failed = results.filter((x) => x.result === 'rolled-back' || x.result === 'failed');
    facts.push({
      kind: 'batch',
      hostFailed: results.some((x) => x.result === 'failed'),
      hostRolledBack: failed.length > 0,
    });
    // A second interrupt aborted the hosts in flight: they were put back; that is not a failed batch.
    if (ctx.signal.aborted) {
      facts.push({ kind: 'aborted' });
      return undefined;
    }
    if (failed.length && plan.shouldStop(failed.length, batch.length)) return index + 1;
    if (await gateTripped(r, index, batch)) return index + 1;
  }
  return undefined;
}

class GateTripped extends BatonError {
  constructor(
    message: string,
    readonly subject: string,
  ) {
    super(message);
  }
}

/**
 * With a canary, the gate's look at the batch just done (gate.ts): the bake for the first batch, one
 * look for each later one. True when it tripped: the batch counts as failed.
 */
async function gateTripped(r: Rollout, index: number, batch: readonly Host[]): Promise<boolean> {
  const { ctx, plan, options, facts } = r;
  const bake = ctx.config.rollout.canary.bake;
  if (!bake || options.rollback) return false;
  const hosts = batch.map((h) => h.name);
  const targets = batch.map((h) => r.byName.get(h.name)!);
  try {
    await ctx.events.step({}, gateStep(index, hosts, bake), async () => {
      const tripped = await watch(ctx, targets, index === 0 ? bake : 0, options.interrupt.stopSignal);
      if (tripped) throw new GateTripped(tripped.reason, tripped.subject);
    });
    return false;
  } catch (error) {
    if (!(error instanceof GateTripped)) throw error;
    ctx.events.emit({
      type: 'gate-tripped',
      batch: index + 1,
      of: plan.batches.length,
      hosts,
      reason: error.message,
      subject: error.subject,
    });
    facts.push({ kind: 'gate-tripped' });
    return true;
  }
}

/**
 * With `rollout.minInService`: waits until taking `leaving` out keeps enough hosts in service behind
 * each load balancer; when it never does, says so (and how the fleet is mixed) and stops the rollout.
 */
async function stoppedForCapacity(r: Rollout, index: number, leaving: Target[], untouched: string[]): Promise<boolean> {
  const { ctx, plan, options, facts } = r;
  const { events, config } = ctx;
  if (config.rollout.minInService <= 0 || !leaving.length) return false;
  const why = await events.step(
    {},
    `count capacity for batch ${index + 1}`,
    () => awaitCapacity(ctx, leaving, config.rollout.minInService, config.timeouts.inService),
    (w) => w,
  );
  if (!why) return false;
  events.emit({
    type: 'warning',
    message: `stopped before batch ${index + 1}/${plan.batches.length}: ${why}; ${keepTheirImage(untouched)}`,
  });
  const switchedSoFar = [...r.summaries.values()].filter((s) => s.result === 'deployed');
  facts.push({ kind: 'capacity-stop', switchedBefore: switchedSoFar.length > 0 });
  if (switchedSoFar.length)
    events.emit({
      type: 'warning',
      message: mixedFleetMessage(
        switchedSoFar,
        plan.batches.flat().map((h) => h.name),
        options.deployment,
      ),
    });
  return true;
}

/** After a failed batch: the hosts switched before it go back (`onFailure: rollback`), or stay and are named. */
export async function settleSwitched(r: Rollout, failedBatch: number): Promise<void> {
  const { ctx, plan, options } = r;
  const switched = plan.batches
    .flat()
    .flatMap((h) => (r.summaries.get(h.name)?.result === 'deployed' ? [r.summaries.get(h.name)!] : []));
  if (!switched.length) return;
  if (ctx.config.rollout.onFailure === 'rollback' && !options.rollback) {
    const result = await rollBackSwitched(ctx, plan.batches, r.summaries, r.byName, r.journal, failedBatch);
    r.facts.push({ kind: 'switched-hosts', result });
  } else {
    r.facts.push({ kind: 'switched-hosts', result: 'left' });
    if (outcomeOf(r.facts) !== 'failed')
      ctx.events.emit({
        type: 'warning',
        message: mixedFleetMessage(
          switched,
          plan.batches.flat().map((h) => h.name),
          options.deployment,
        ),
      });
  }
}

/** The post-tasks, once every host runs the new image: one that fails leaves the rollout standing. */
export async function runPostTasks(r: Rollout): Promise<void> {
  const { ctx } = r;
  for (const task of r.playbook.postTasks ?? []) {
    await r.journal.fence();
    try {
      await ctx.events.step(
        {},
        task.name,
        () => task.run(ctx),
        (d) => d || undefined,
      );
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      r.facts.push({ kind: 'post-task-failed' });
      ctx.events.emit({
        type: 'warning',
        message: `every host runs ${r.options.image} and is in service, but the post-task "${task.name}" failed: ${(error as Error).message}`,
      });
      return;
    }
  }
}

const keepTheirImage = (hosts: readonly string[]) =>
  `${hosts.join(', ')} keep${hosts.length === 1 ? 's' : ''} the image ${hosts.length === 1 ? 'it runs' : 'they run'}`;
