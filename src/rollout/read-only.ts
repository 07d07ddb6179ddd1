/**
 * The executor's read-only phase: which hosts, what each runs now and where it is registered, and each
 * task's own checks. Nothing here changes the fleet, so bad input stops the run while it is untouched;
 * `--check` ends here, with every step's account of what it would do.
 */
import type { LoadBalancerService } from '../aws/services.ts';
import { describeHosts, type Host } from '../inventory/host.ts';
import type { Playbook, RunContext, Target } from '../playbook/types.ts';
import { inspectLive, previousName } from '../remote/container.ts';
import type { FleetConnection } from '../remote/host.ts';
import type { DeployEvent } from '../events/events.ts';
import { alreadyRuns } from './host.ts';
import type { DeployOptions } from './options.ts';

/** The inventory step: the hosts the run acts on, after `--limit`; their names are the fleet's, never secrets. */
export function selectHosts(options: DeployOptions): Promise<Host[]> {
  const { playbook, config, aws, events } = options;
  return events.step(
    {},
    'inventory',
    async () => {
      const { inventory } = options;
      const all =
        !inventory.fromFile && playbook.hosts ? await playbook.hosts({ config, aws }) : await inventory.hosts();
      const hosts = options.limit ? options.limit(all) : all;
      events.declareNames(
        [
          config.region,
          config.stack,
          config.release,
          options.deployment,
          options.image,
          hosts.map((h) => [h.name, h.address, h.instanceId ?? '']),
        ],
        'the names of the fleet',
      );
      return hosts;
    },
    describeHosts,
  );
}

/** The discover step: what each host runs now and where it is registered. */
export function discoverTargets(
  options: DeployOptions,
  hosts: readonly Host[],
  fleet: FleetConnection,
  lbs: LoadBalancerService,
): Promise<Target[]> {
  const { events } = options;
  return events.step(
    {},
    'discover',
    async () => {
      const ts = await discover(hosts, fleet, lbs, options.config.container.name);
      events.declareNames(
        ts.map((t) => [t.memberships, t.liveImage ?? '']),
        'a load balancer or image of the fleet',
      );
      return ts;
    },
    (ts) =>
      ts
        .map(
          (t) =>
            `${t.host.name}: ${t.liveImage ?? 'no live container'}, in ${t.memberships.map((m) => m.name).join(' + ') || 'no load balancer'}`,
        )
        .join('; '),
  );
}

/** Every task's read-only check: pre-tasks once, host tasks on every target in parallel. */
export async function checkTasks(ctx: RunContext, playbook: Playbook): Promise<void> {
  const { events, targets } = ctx;
  for (const task of playbook.preTasks) await events.step({}, `check: ${task.name}`, async () => task.prepare?.(ctx));
  for (const task of playbook.tasks) {
    if (!task.prepare) continue;
    await events.step(
      {},
      `check: ${task.name}`,
      async () => {
        const found = await Promise.all(targets.map(async (t) => [t.host.name, await task.prepare!(ctx, t)] as const));
        return found.flatMap(([host, said]) => (said ? [`${host}: ${said}`] : [])).join('; ');
      },
      (d) => d || undefined,
    );
  }
}

/** `--check`: every step's own account of what it would do, from what the read-only phase learned. */
export function explainPlan(
  ctx: RunContext,
  playbook: Playbook,
  batches: readonly (readonly Host[])[],
): Extract<DeployEvent, { type: 'plan' }> {
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
            ? [
                {
                  step: 'skip',
                  would: `runs ${wanted}${id} now: left alone, unless the pre-pull finds the registry's ${wanted} is another image (then it is deployed)`,
                },
              ]
            : playbook.tasks.map((t) => ({ step: t.name, would: t.explain?.(ctx, target) ?? 'run' })),
        };
      }),
    ),
  };
}

/** Read-only: what each host runs now and where it is registered. */
async function discover(
  hosts: readonly Host[],
  fleet: FleetConnection,
  lbs: LoadBalancerService,
  container: string,
): Promise<Target[]> {
  const instances = hosts.flatMap((h) => (h.instanceId ? [{ instanceId: h.instanceId, privateIp: h.privateIp }] : []));
  const memberships = instances.length ? await lbs.membershipsOf(instances) : new Map();
  return Promise.all(
    hosts.map(async (host) => {
      const remote = fleet.host(host.name);
      const [live, previous] = await Promise.all([
        inspectLive(remote, container),
        inspectLive(remote, previousName(container)),
      ]);
      return {
        host,
        remote,
        memberships: host.instanceId ? (memberships.get(host.instanceId) ?? []) : [],
        live,
        liveImage: live?.image,
        ...(live?.imageId && { liveImageId: live.imageId }),
        previous,
      };
    }),
  );
}
