/**
 * The executor: applies a playbook to a fleet. Read-only work first (inventory, plan, connections,
 * discovery, each task's checks), so bad input stops the run before anything changes; then guards,
 * pre-tasks, batches, the hosts switched before a failed batch, post-tasks; and always, in `finally`,
 * the guards' undo. What happened is kept as facts; one pure function (outcome.ts) decides the end.
 */
import { systemClock } from '../clock.ts';
import { BatonError, ExitCode, InterruptedError, LeaseLostError, NothingChangedError } from '../errors.ts';
import type { AwsServices } from '../aws/services.ts';
import type { Host } from '../inventory/host.ts';
import type { Playbook, RunContext } from '../playbook/types.ts';
import { runBatches, runPostTasks, settleSwitched, type Rollout } from './batches.ts';
import type { HostSummary, RunOutcome } from '../events/events.ts';
import { GuardStack } from './guards.ts';
import { memoryLog, type ChangeLog } from './journal-log.ts';
import type { DeployOptions, DeployResult } from './options.ts';
import { decide, outcomeOf, type RunFact } from './outcome.ts';
import { planFor, runStartedEvent } from './plan.ts';
import { checkTasks, discoverTargets, explainPlan, selectHosts } from './read-only.ts';

export type { DeployOptions, DeployResult } from './options.ts';

export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const { playbook, config, events } = options;
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const finish = (outcome: RunOutcome, exitCode: number, hosts: HostSummary[]): DeployResult => {
    if (outcome !== 'checked') options.beforeFinish?.(hosts);
    events.emit({
      type: 'run-finished',
      outcome,
      exitCode,
      ms: clock.now() - started,
      hosts,
      maxRssKb: process.resourceUsage().maxRSS,
    });
    return { outcome, exitCode, hosts };
  };

  const found = await selectHosts(options);
  const plan = planFor(found, playbook, config.rollout);
  events.emit(
    runStartedEvent(
      playbook,
      { image: options.image, deployment: options.deployment, check: options.check || !!options.listHosts },
      found,
      plan,
    ),
  );
  if (options.listHosts) return finish('checked', ExitCode.Ok, []);

  const journal = await takeLock(options, found);
  const { services } = options;
  const fleet = await events.step(
    {},
    'connect',
    () => options.connect(found),
    () => `${found.length} hosts through ${config.ssh.bastion ? `bastion ${config.ssh.bastion.host}` : 'direct SSH'}`,
  );
  const guards = new GuardStack(journal, events, {
    config,
    aws: services,
    reach: async (h) => fleet.host(h.name),
    clock,
  });
  const summaries = new Map<string, HostSummary>();
  const facts: RunFact[] = [];
  try {
    const targets = await discoverTargets(options, found, fleet, services.loadBalancers);
    const ctx = runContext(options, { targets, services, clock }, guards.record);
    await checkTasks(ctx, playbook);
    if (options.check) {
      events.emit(explainPlan(ctx, playbook, plan.batches));
      return finish('checked', ExitCode.Ok, []);
    }
    await runPreTasks(ctx, playbook, options);
    const byName = new Map(targets.map((t) => [t.host.name, t]));
    const rollout: Rollout = { ctx, playbook, plan, journal, byName, options, summaries, facts };
    const failedBatch = await runBatches(rollout);
    if (failedBatch !== undefined) await settleSwitched(rollout, failedBatch);
    if (outcomeOf(facts) === 'deployed') await runPostTasks(rollout);
  } catch (error) {
    recordFailure(error, { changed: guards.size > 0 || summaries.size > 0, options, facts });
  } finally {
    if (await guards.undoAll(config.timeouts.undo)) facts.push({ kind: 'undo-failed' });
    await fleet.close();
  }
  const hosts = found.map(
    (h) =>
      summaries.get(h.name) ?? {
        host: h.name,
        result: 'not-started' as const,
        newImage: options.image,
        outOfServiceMs: 0,
      },
  );
  const { outcome, exitCode } = decide(facts);
  return finish(outcome, exitCode, hosts);
}

/** The playbook's pre-tasks, in order, before any host leaves service; an interrupt stops them. */
async function runPreTasks(ctx: RunContext, playbook: Playbook, options: DeployOptions): Promise<void> {
  for (const task of playbook.preTasks) {
    if (options.interrupt.stopRequested) throw new InterruptedError('interrupted before any host left service');
    await options.events.step(
      {},
      task.name,
      () => task.run(ctx),
      (d) => d || undefined,
    );
  }
}

/**
 * What a failure means for the run: before anything changed it is thrown as it is (bad input, an AWS
 * answer) or as "nothing changed"; after, it is a fact for the outcome, and the undo runs.
 */
function recordFailure(error: unknown, r: { changed: boolean; options: DeployOptions; facts: RunFact[] }): void {
  const { options } = r;
  if (error instanceof BatonError && error.exitCode === ExitCode.BadInput) throw error;
  // Nothing changed yet (discovery, a read-only check): no undo, no summary; the error says it all.
  if (!r.changed && !options.interrupt.stopRequested) {
    // An AWS answer is left for the error boundary to word; a Baton error that defaults to "rolled back" is not one.
    if (!(error instanceof BatonError) || error.exitCode !== ExitCode.RolledBack) throw error;
    throw new NothingChangedError(error.message, { cause: error });
  }
  // A pre-task aborted by a second interrupt fails with whatever its call failed with: still an interrupt.
  const cause =
    error instanceof LeaseLostError
      ? 'lease-lost'
      : error instanceof InterruptedError || options.interrupt.signal.aborted
        ? 'interrupted'
        : 'other';
  r.facts.push({ kind: 'error', cause });
  options.events.emit({ type: 'warning', message: (error as Error).message });
}

/**
 * The deploy lock and its journal, unless nothing will change. Without a journal from the lock, an
 * in-memory one: the run is as careful, but a killed run leaves nothing for `baton recover`.
 */
async function takeLock(options: DeployOptions, hosts: readonly Host[]): Promise<ChangeLog> {
  if (!options.lock || options.check) return memoryLog();
  const held = await options.events.step(
    {},
    'lock',
    () => options.lock!(hosts),
    (l) => l.where,
  );
  return held.journal ?? memoryLog();
}

function runContext(
  options: DeployOptions,
  { targets, services, clock }: Pick<RunContext, 'targets' | 'clock'> & { services: AwsServices },
  guard: RunContext['guard'],
): RunContext {
  return {
    config: options.config,
    image: options.image,
    targetImage: options.targetImage,
    deployment: options.deployment,
    deployer: options.deployer,
    ...(options.registryLogin && { registryLogin: options.registryLogin }),
    targets,
    pulled: new Map(),
    aws: { clients: options.aws, ...services },
    events: options.events,
    signal: options.interrupt.signal,
    clock,
    guard,
  };
}
