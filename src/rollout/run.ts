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
import { BatonError, ExitCode, InterruptedError } from '../errors.ts';
import type { Host } from '../inventory/host.ts';
import type { Playbook, RunContext, Target } from '../playbook/types.ts';
import type { FleetConnection } from '../ssh/remote-host.ts';
import type { DeployEvent, EventBus, HostSummary, RunOutcome } from './events.ts';
import { runHost } from './host.ts';
import { planRollout } from './plan.ts';
import type { Interrupt } from './interrupt.ts';
import { inspectLive, previousName } from '../playbook/tasks/container.ts';

export interface DeployOptions {
  readonly playbook: Playbook;
  readonly config: DeployConfig;
  readonly image: string;
  /** Each host's own target image (a rollback); by default `image` for all. */
  readonly targetImage?: (target: Target) => string | undefined;
  readonly deployment: string;
  readonly deployer: string;
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
  readonly connect: (hosts: readonly Host[]) => Promise<FleetConnection>;
  /**
   * Runs once the selection is known and before the first connection, unless nothing will change
   * (`check`, `listHosts`): takes the deploy lock. Its release is the caller's, after the run.
   */
  readonly lock?: () => Promise<string | undefined>;
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
    events.emit({ type: 'run-finished', outcome, exitCode, ms: Date.now() - started, hosts, maxRssKb: process.resourceUsage().maxRSS });
    return { outcome, exitCode, hosts };
  };

  const found = await events.step({}, 'inventory', async () => {
    const all = options.inventory
      ? await options.inventory()
      : playbook.hosts
      ? await playbook.hosts({ config, aws })
      : await findInstancesByTags(aws.ec2, { stack: config.stack, release: config.release, deployment: options.deployment });
    return options.limit ? options.limit(all) : all;
  }, (hosts) => `${hosts.length} host${hosts.length === 1 ? '' : 's'}: ${hosts.map((h) => h.name).join(', ')}`);
  const plan = planRollout(found, {
    serial: playbook.serial ?? config.rollout.serial,
    maxFailPercentage: playbook.maxFailPercentage ?? config.rollout.maxFailPercentage,
    minInService: config.rollout.minInService,
  });
  const batches = plan.batches.map((b) => b.map((h) => h.name));
  events.emit({ type: 'run-started', playbook: playbook.name, image: options.image, deployment: options.deployment, hosts: found.map((h) => h.name), batches, preTasks: playbook.preTasks.map((t) => t.name), steps: playbook.tasks.map((t) => t.name), check: options.check || !!options.listHosts });
  if (options.listHosts) return finish('checked', ExitCode.Ok, []);

  if (options.lock && !options.check) await events.step({}, 'lock', options.lock, (where) => where);
  const loadBalancers = new LoadBalancers(aws.elb, aws.elbv2);
  const autoscaling = new AutoScaling(aws.autoscaling);
  const alarms = new Alarms(aws.cloudwatch);
  const fleet = await events.step({}, 'connect', () => options.connect(found), () => `${found.length} hosts through ${config.ssh.bastion ? `bastion ${config.ssh.bastion.host}` : 'direct SSH'}`);
  const guards: { what: string; undo: () => Promise<void>; fix: () => string }[] = [];
  const summaries = new Map<string, HostSummary>();
  let undoFailed = false;
  let outcome: RunOutcome = 'deployed';
  try {
    const targets = await events.step({}, 'discover', () => discover(found, fleet, loadBalancers, config.container.name), (ts) =>
      ts.map((t) => `${t.host.name}: ${t.liveImage ?? 'no live container'}, in ${t.memberships.map((m) => m.name).join(' + ') || 'no load balancer'}`).join('; '),
    );
    const ctx: RunContext = {
      config,
      image: options.image,
      targetImage: options.targetImage,
      deployment: options.deployment,
      deployer: options.deployer,
      targets,
      aws: { clients: aws, loadBalancers, autoscaling, alarms },
      events,
      signal: options.interrupt.signal,
      guard: (what, undo, fix) => guards.push({ what, undo, fix }),
    };
    for (const task of playbook.preTasks) await events.step({}, `check: ${task.name}`, async () => task.prepare?.(ctx));
    if (options.check) {
      events.emit(explainPlan(ctx, playbook, plan.batches));
      return finish('checked', ExitCode.Ok, []);
    }
    for (const task of playbook.preTasks) {
      if (options.interrupt.stopRequested) throw new InterruptedError('interrupted before any host left service');
      const held = guards.length;
      await events.step({}, task.name, () => task.run(ctx), (d) => d || undefined);
      for (const g of guards.slice(held)) events.emit({ type: 'guard', what: g.what, fix: g.fix() });
    }
    const byName = new Map(targets.map((t) => [t.host.name, t]));
    for (const [index, batch] of plan.batches.entries()) {
      if (options.interrupt.stopRequested) {
        outcome = 'interrupted';
        break;
      }
      const go = !options.beforeBatch || (await options.beforeBatch({ index: index + 1, of: plan.batches.length, hosts: batch.map((h) => h.name), previous: plan.batches[index - 1]?.map((h) => h.name) }));
      if (!go || options.interrupt.stopRequested) {
        const untouched = plan.batches.slice(index).flat().map((h) => h.name);
        events.emit({ type: 'warning', message: `stopped before batch ${index + 1}/${plan.batches.length}: ${untouched.join(', ')} keep${untouched.length === 1 ? 's' : ''} the image ${untouched.length === 1 ? 'it runs' : 'they run'}` });
        outcome = 'interrupted';
        break;
      }
      events.emit({ type: 'batch', index: index + 1, of: plan.batches.length, hosts: batch.map((h) => h.name), status: 'started' });
      const results = await Promise.all(batch.map((h) => runHost(ctx, byName.get(h.name)!, playbook.tasks)));
      for (const r of results) summaries.set(r.host, r);
      events.emit({ type: 'batch', index: index + 1, of: plan.batches.length, hosts: batch.map((h) => h.name), status: 'finished' });
      const failed = results.filter((r) => r.result === 'rolled-back' || r.result === 'failed');
      if (results.some((r) => r.result === 'failed')) outcome = 'failed';
      else if (failed.length && outcome === 'deployed') outcome = 'rolled-back';
      if (failed.length && plan.shouldStop(failed.length, batch.length)) break;
      if (options.interrupt.signal.aborted) {
        outcome = outcome === 'deployed' ? 'interrupted' : outcome;
        break;
      }
    }
    if (outcome === 'deployed') for (const task of playbook.postTasks ?? []) await events.step({}, task.name, () => task.run(ctx), (d) => d || undefined);
  } catch (error) {
    if (error instanceof BatonError && error.exitCode === ExitCode.BadInput) throw error;
    outcome = error instanceof InterruptedError ? 'interrupted' : 'rolled-back';
    events.emit({ type: 'warning', message: (error as Error).message });
  } finally {
    for (const guard of guards.reverse()) {
      try {
        await events.step({}, guard.what, guard.undo);
      } catch (error) {
        undoFailed = true;
        events.emit({ type: 'undo-failed', what: guard.what, error: (error as Error).message, fix: guard.fix() });
      }
    }
    await fleet.close();
  }
  const hosts = found.map((h) => summaries.get(h.name) ?? { host: h.name, result: 'not-started' as const, newImage: options.image, outOfServiceMs: 0 });
  if (undoFailed || outcome === 'failed') return finish(outcome === 'deployed' ? 'failed' : outcome, ExitCode.NeedsOperator, hosts);
  if (outcome === 'interrupted') return finish(outcome, ExitCode.Interrupted, hosts);
  return finish(outcome, outcome === 'deployed' ? ExitCode.Ok : ExitCode.RolledBack, hosts);
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
        const unchanged = target.liveImage === wanted;
        return {
          host: h.name,
          batch: i + 1,
          from: target.liveImage,
          steps: unchanged
            ? [{ step: 'skip', would: `already runs ${wanted}: left alone` }]
            : playbook.tasks.map((t) => ({ step: t.name, would: t.explain?.(ctx, target) ?? 'run' })),
        };
      }),
    ),
  };
}

/** Read-only: what each host runs now and where it is registered. */
async function discover(hosts: readonly Host[], fleet: FleetConnection, lbs: LoadBalancers, container: string): Promise<Target[]> {
  const ids = hosts.flatMap((h) => (h.instanceId ? [h.instanceId] : []));
  const memberships = ids.length ? await lbs.membershipsOf(ids) : new Map();
  return Promise.all(
    hosts.map(async (host) => {
      const remote = fleet.host(host.name);
      const [live, previous] = await Promise.all([inspectLive(remote, container), inspectLive(remote, previousName(container))]);
      return { host, remote, memberships: host.instanceId ? (memberships.get(host.instanceId) ?? []) : [], live, liveImage: live?.image, previous };
    }),
  );
}
