/**
 * The executor: applies a playbook to a fleet. Read-only work first (inventory, plan, connections,
 * discovery), so bad input stops the run before anything changes; then guards, pre-tasks, batches;
 * and always, in `finally`, the guards' undo.
 */
import { Alarms } from '../aws/alarms.ts';
import { AutoScaling } from '../aws/autoscaling.ts';
import type { AwsClients } from '../aws/clients.ts';
import { findInstancesByTags } from '../aws/ec2.ts';
import { LoadBalancers } from '../aws/load-balancers.ts';
import type { DeployConfig } from '../config/index.ts';
import { BatonError, ExitCode, InterruptedError, LeaseLostError, NothingChangedError } from '../errors.ts';
import { describeHosts, type Host } from '../inventory/host.ts';
import type { Playbook, RunContext, Target } from '../playbook/types.ts';
import type { FleetConnection } from '../ssh/remote-host.ts';
import type { DeployEvent, EventBus, HostSummary, RunOutcome } from './events.ts';
import { alreadyRuns, runHost } from './host.ts';
import { mixedFleetMessage, rollBackSwitched } from './roll-back-switched.ts';
import { awaitCapacity } from './capacity.ts';
import { planFor, runStartedEvent } from './plan.ts';
import type { Interrupt } from './interrupt.ts';
import { inspectLive, previousName } from '../playbook/tasks/container.ts';
import type { JournalEntry } from '../state/journal.ts';
import { describeChange, fixCommand, undoStep } from './changes.ts';
import { memoryLog, type ChangeLog } from './journal-log.ts';
import type { RegistryLogin } from '../remote/docker.ts';

export interface DeployOptions {
  readonly playbook: Playbook;
  readonly config: DeployConfig;
  readonly image: string;
  /** Each host's own target image (a rollback); by default `image` for all. */
  readonly targetImage?: (target: Target) => string | undefined;
  readonly deployment: string;
  readonly deployer: string;
  /** The image registry's login, for the pre-pull. */
  readonly registryLogin?: RegistryLogin;
  /** Print the plan and change nothing. */
  readonly check: boolean;
  /** Print the selected hosts and their batches, then stop: no connection, nothing changed. */
  readonly listHosts?: boolean;
  /** The hosts from a static inventory (`-i`); by default the playbook's, or EC2's by tags. */
  readonly inventory?: () => Promise<Host[]>;
  /** Narrows the inventory (the `--limit` selection); identity by default. */
  readonly limit?: (hosts: Host[]) => Host[];
  readonly events: EventBus;
  readonly interrupt: Interrupt;
  readonly aws: AwsClients;
  /** The AWS adapters the run works through; by default built on `aws`'s clients (tests pass fakes). */
  readonly services?: Omit<RunContext['aws'], 'clients'>;
  readonly connect: (hosts: readonly Host[]) => Promise<FleetConnection>;
  /**
   * Runs once the selection is known and before the first connection, unless nothing will change
   * (`check`, `listHosts`): takes the deploy lock and starts the journal every change is written to.
   * Its release is the caller's, after the run.
   */
  readonly lock?: (hosts: readonly Host[]) => Promise<{ readonly where: string; readonly journal?: ChangeLog }>;
  /** A rollback run: a failed batch never triggers another rollback. */
  readonly rollback?: boolean;
  /** Called with the hosts' results just before the run's last event (to write a retry file, say). */
  readonly beforeFinish?: (hosts: readonly HostSummary[]) => void;
  /** Asked before each batch (`--step`, a canary pause): false stops the rollout there. */
  readonly beforeBatch?: (batch: { index: number; of: number; hosts: string[]; previous?: string[] }) => Promise<boolean>;
}

export interface DeployResult {
  readonly outcome: RunOutcome;
  readonly exitCode: number;
  readonly hosts: HostSummary[];
}

export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const { playbook, config, events, aws } = options;
  const started = Date.now();
  const finish = (outcome: RunOutcome, exitCode: number, hosts: HostSummary[]): DeployResult => {
    if (outcome !== 'checked') options.beforeFinish?.(hosts);
    events.emit({ type: 'run-finished', outcome, exitCode, ms: Date.now() - started, hosts, maxRssKb: process.resourceUsage().maxRSS });
    return { outcome, exitCode, hosts };
  };

  const found = await events.step({}, 'inventory', async () => {
    const all = options.inventory
      ? await options.inventory()
      : playbook.hosts
      ? await playbook.hosts({ config, aws })
      : await findInstancesByTags(aws.ec2, { stack: config.stack, release: config.release, deployment: options.deployment });
    const hosts = options.limit ? options.limit(all) : all;
    events.declareNames([config.region, config.stack, config.release, options.deployment, options.image, hosts.map((h) => [h.name, h.address, h.instanceId ?? ''])], 'the names of the fleet');
    return hosts;
  }, describeHosts);
  const plan = planFor(found, playbook, config.rollout);
  events.emit(runStartedEvent(playbook, { image: options.image, deployment: options.deployment, check: options.check || !!options.listHosts }, found, plan));
  if (options.listHosts) return finish('checked', ExitCode.Ok, []);

  // Without a journal from the lock, an in-memory one: the run is as careful, but a killed run leaves
  // nothing for `baton recover`.
  let journal: ChangeLog = memoryLog();
  if (options.lock && !options.check) {
    const held = await events.step({}, 'lock', () => options.lock!(found), (l) => l.where);
    if (held.journal) journal = held.journal;
  }
  const loadBalancers = options.services?.loadBalancers ?? new LoadBalancers(aws.elb, aws.elbv2);
  const autoscaling = options.services?.autoscaling ?? new AutoScaling(aws.autoscaling);
  const alarms = options.services?.alarms ?? new Alarms(aws.cloudwatch);
  const fleet = await events.step({}, 'connect', () => options.connect(found), () => `${found.length} hosts through ${config.ssh.bastion ? `bastion ${config.ssh.bastion.host}` : 'direct SSH'}`);
  const guards: { what: string; undo: () => Promise<void>; entry: JournalEntry }[] = [];
  const summaries = new Map<string, HostSummary>();
  let undoFailed = false;
  let outcome: RunOutcome = 'deployed';
  try {
    const targets = await events.step({}, 'discover', async () => {
      const ts = await discover(found, fleet, loadBalancers, config.container.name);
      events.declareNames(ts.map((t) => [t.memberships, t.liveImage ?? '']), 'a load balancer or image of the fleet');
      return ts;
    }, (ts) =>
      ts.map((t) => `${t.host.name}: ${t.liveImage ?? 'no live container'}, in ${t.memberships.map((m) => m.name).join(' + ') || 'no load balancer'}`).join('; '),
    );
    const ctx: RunContext = {
      config,
      image: options.image,
      targetImage: options.targetImage,
      deployment: options.deployment,
      deployer: options.deployer,
      ...(options.registryLogin && { registryLogin: options.registryLogin }),
      targets,
      pulled: new Map(),
      aws: { clients: aws, loadBalancers, autoscaling, alarms },
      events,
      signal: options.interrupt.signal,
      guard: async ({ change, undo }) => {
        events.declareNames(change, 'a name in the journal');
        const entry = await journal.record(change, describeChange(change), fixCommand(change, config.region));
        guards.push({ what: undoStep(change), undo, entry });
        events.emit({ type: 'guard', what: entry.what, fix: entry.fix });
      },
    };
    for (const task of playbook.preTasks) await events.step({}, `check: ${task.name}`, async () => task.prepare?.(ctx));
    for (const task of playbook.tasks) {
      if (!task.prepare) continue;
      await events.step({}, `check: ${task.name}`, async () => {
        const found = await Promise.all(targets.map(async (t) => [t.host.name, await task.prepare!(ctx, t)] as const));
        return found.flatMap(([host, said]) => (said ? [`${host}: ${said}`] : [])).join('; ');
      }, (d) => d || undefined);
    }
    if (options.check) {
      events.emit(explainPlan(ctx, playbook, plan.batches));
      return finish('checked', ExitCode.Ok, []);
    }
    for (const task of playbook.preTasks) {
      if (options.interrupt.stopRequested) throw new InterruptedError('interrupted before any host left service');
      await events.step({}, task.name, () => task.run(ctx), (d) => d || undefined);
    }
    const byName = new Map(targets.map((t) => [t.host.name, t]));
    let failedBatch: number | undefined;
    for (const [index, batch] of plan.batches.entries()) {
      if (options.interrupt.stopRequested) {
        // A host an earlier batch could not put back still needs an operator: that outcome stands.
        if (outcome !== 'failed') outcome = 'interrupted';
        break;
      }
      const go = !options.beforeBatch || (await options.beforeBatch({ index: index + 1, of: plan.batches.length, hosts: batch.map((h) => h.name), previous: plan.batches[index - 1]?.map((h) => h.name) }));
      if (!go || options.interrupt.stopRequested) {
        const untouched = plan.batches.slice(index).flat().map((h) => h.name);
        events.emit({ type: 'warning', message: `stopped before batch ${index + 1}/${plan.batches.length}: ${untouched.join(', ')} keep${untouched.length === 1 ? 's' : ''} the image ${untouched.length === 1 ? 'it runs' : 'they run'}` });
        if (outcome !== 'failed') outcome = 'interrupted';
        break;
      }
      const leaving = batch.map((h) => byName.get(h.name)!).filter((t) => !alreadyRuns(ctx, t));
      if (config.rollout.minInService > 0 && leaving.length) {
        const why = await events.step({}, `count capacity for batch ${index + 1}`, () => awaitCapacity(loadBalancers, leaving, config.rollout.minInService, config.timeouts.inService, options.interrupt.signal), (w) => w);
        if (why) {
          const untouched = plan.batches.slice(index).flat().map((h) => h.name);
          events.emit({ type: 'warning', message: `stopped before batch ${index + 1}/${plan.batches.length}: ${why}; ${untouched.join(', ')} keep${untouched.length === 1 ? 's' : ''} the image ${untouched.length === 1 ? 'it runs' : 'they run'}` });
          const switchedSoFar = [...summaries.values()].filter((s) => s.result === 'deployed');
          if (outcome !== 'failed') outcome = switchedSoFar.length ? 'mixed' : 'rolled-back';
          if (switchedSoFar.length) events.emit({ type: 'warning', message: mixedFleetMessage(switchedSoFar, plan.batches.flat().map((h) => h.name), options.deployment) });
          break;
        }
      }
      events.emit({ type: 'batch', index: index + 1, of: plan.batches.length, hosts: batch.map((h) => h.name), status: 'started' });
      const results = await Promise.all(batch.map((h) => runHost(ctx, byName.get(h.name)!, playbook.tasks, journal)));
      for (const r of results) summaries.set(r.host, r);
      events.emit({ type: 'batch', index: index + 1, of: plan.batches.length, hosts: batch.map((h) => h.name), status: 'finished' });
      const failed = results.filter((r) => r.result === 'rolled-back' || r.result === 'failed');
      if (results.some((r) => r.result === 'failed')) outcome = 'failed';
      else if (failed.length && outcome === 'deployed') outcome = 'rolled-back';
      // A second interrupt aborted the hosts in flight: they were put back; that is not a failed batch.
      if (options.interrupt.signal.aborted) {
        outcome = outcome === 'failed' ? 'failed' : 'interrupted';
        break;
      }
      if (failed.length && plan.shouldStop(failed.length, batch.length)) {
        failedBatch = index + 1;
        break;
      }
    }
    const switched = plan.batches.flat().flatMap((h) => (summaries.get(h.name)?.result === 'deployed' ? [summaries.get(h.name)!] : []));
    if (failedBatch !== undefined && switched.length) {
      if (config.rollout.onFailure === 'rollback' && !options.rollback) {
        const back = await rollBackSwitched(ctx, plan.batches, summaries, byName, journal, failedBatch);
        if (back === 'failed') outcome = 'failed';
        else if (back === 'mixed' && outcome !== 'failed') outcome = 'mixed';
      } else if (outcome !== 'failed') {
        outcome = 'mixed';
        events.emit({ type: 'warning', message: mixedFleetMessage(switched, plan.batches.flat().map((h) => h.name), options.deployment) });
      }
    }
    if (outcome === 'deployed') {
      for (const task of playbook.postTasks ?? []) {
        await journal.fence();
        try {
          await events.step({}, task.name, () => task.run(ctx), (d) => d || undefined);
        } catch (error) {
          if (error instanceof LeaseLostError) throw error;
          // The rollout stands: every host runs the new image and is in service. Nothing is rolled back.
          outcome = 'post-task-failed';
          events.emit({ type: 'warning', message: `every host runs ${options.image} and is in service, but the post-task "${task.name}" failed: ${(error as Error).message}` });
          break;
        }
      }
    }
  } catch (error) {
    if (error instanceof BatonError && error.exitCode === ExitCode.BadInput) throw error;
    // Nothing changed yet (discovery, a read-only check): no undo, no summary; the error says it all.
    if (!guards.length && !summaries.size && !options.interrupt.stopRequested) {
      // An AWS answer is left for the error boundary to word; a Baton error that defaults to "rolled back" is not one.
      if (!(error instanceof BatonError) || error.exitCode !== ExitCode.RolledBack) throw error;
      throw new NothingChangedError(error.message, { cause: error });
    }
    // A pre-task aborted by a second interrupt fails with whatever its call failed with: still an interrupt.
    outcome = error instanceof LeaseLostError ? 'failed' : error instanceof InterruptedError || options.interrupt.signal.aborted ? 'interrupted' : 'rolled-back';
    events.emit({ type: 'warning', message: (error as Error).message });
  } finally {
    // The undo has a deadline of its own: whatever it cannot undo in time stays in the journal.
    const deadline = Date.now() + config.timeouts.undo;
    let fenced: LeaseLostError | undefined;
    const leftToThem: string[] = [];
    for (const guard of guards.reverse()) {
      try {
        // No guard is undone by a run that lost its lease: the run that holds it now owns them.
        if (fenced) throw fenced;
        await journal.fence();
        await events.step({}, guard.what, () => withDeadline(guard.undo(), deadline, `${guard.what}: the undo's time limit (timeouts.undo) ran out`));
        await journal.close(guard.entry);
      } catch (error) {
        undoFailed = true;
        if (error instanceof LeaseLostError) {
          fenced = error;
          leftToThem.push(guard.entry.what);
        } else events.emit({ type: 'undo-failed', what: guard.entry.what, error: (error as Error).message, fix: guard.entry.fix });
      }
    }
    if (fenced) {
      events.emit({ type: 'warning', message: `${fenced.message}. Not undone, left to that run: ${leftToThem.join('; ')}` });
    }
    await fleet.close();
  }
  const hosts = found.map((h) => summaries.get(h.name) ?? { host: h.name, result: 'not-started' as const, newImage: options.image, outOfServiceMs: 0 });
  if (undoFailed || outcome === 'failed') return finish(outcome === 'deployed' ? 'failed' : outcome, ExitCode.NeedsOperator, hosts);
  if (outcome === 'interrupted') return finish(outcome, ExitCode.Interrupted, hosts);
  if (outcome === 'mixed') return finish(outcome, ExitCode.Mixed, hosts);
  if (outcome === 'post-task-failed') return finish(outcome, ExitCode.PostTaskFailed, hosts);
  return finish(outcome, outcome === 'deployed' ? ExitCode.Ok : ExitCode.RolledBack, hosts);
}

/** Waits for `work` until `deadline` (epoch ms); then gives up with `message` (the work may go on). */
function withDeadline<T>(work: Promise<T>, deadline: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** `--check`: every step's own account of what it would do, from what the read-only phase learned. */
function explainPlan(ctx: RunContext, playbook: Playbook, batches: readonly (readonly Host[])[]): Extract<DeployEvent, { type: 'plan' }> {
  const byName = new Map(ctx.targets.map((t) => [t.host.name, t]));
  return {
    type: 'plan',
    preTasks: playbook.preTasks.map((t) => ({ step: t.name, would: t.explain?.(ctx) ?? 'run' })),
    hosts: batches.flatMap((batch, i) =>
      batch.map((h) => {
        const target = byName.get(h.name)!;
        const wanted = ctx.targetImage?.(target) ?? ctx.image;
        // Nothing is pulled in --check: a host on the same reference is judged once the pre-pull says what it names now.
        const unchanged = alreadyRuns(ctx, target);
        const id = target.liveImageId ? ` (image ${target.liveImageId.slice(0, 19)})` : '';
        return {
          host: h.name,
          batch: i + 1,
          from: target.liveImage,
          steps: unchanged
            ? [{ step: 'skip', would: `runs ${wanted}${id} now: left alone, unless the pre-pull finds the registry's ${wanted} is another image (then it is deployed)` }]
            : playbook.tasks.map((t) => ({ step: t.name, would: t.explain?.(ctx, target) ?? 'run' })),
        };
      }),
    ),
  };
}

/** Read-only: what each host runs now and where it is registered. */
async function discover(hosts: readonly Host[], fleet: FleetConnection, lbs: LoadBalancers, container: string): Promise<Target[]> {
  const instances = hosts.flatMap((h) => (h.instanceId ? [{ instanceId: h.instanceId, privateIp: h.privateIp }] : []));
  const memberships = instances.length ? await lbs.membershipsOf(instances) : new Map();
  return Promise.all(
    hosts.map(async (host) => {
      const remote = fleet.host(host.name);
      const [live, previous] = await Promise.all([inspectLive(remote, container), inspectLive(remote, previousName(container))]);
      return { host, remote, memberships: host.instanceId ? (memberships.get(host.instanceId) ?? []) : [], live, liveImage: live?.image, ...(live?.imageId && { liveImageId: live.imageId }), previous };
    }),
  );
}
