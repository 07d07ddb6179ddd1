/**
 * `baton status`: read-only. For each host of a deployment, the image its live container runs, since
 * when and by whom (from the labels Baton writes), its load balancer states, and the rollback
 * candidate kept on it.
 */
import { awsSettings, createAwsClients } from '../aws/clients.ts';
import { describeMembership, LoadBalancers } from '../aws/load-balancers.ts';
import { loadFlaggedConfig, type ConfigFlags } from './config-flags.ts';
import { ExitCode } from '../errors.ts';
import { inspectLive, previousName } from '../remote/container.ts';
import { textTable } from '../report/plain.ts';
import { connectFleet } from '../ssh/fleet.ts';
import { hostSource } from './hosts.ts';
import { describeHeld, inspectLock } from '../state/lock.ts';
import { openStateStore } from '../state/store.ts';
import { describeUnfinished, openEntries, readJournal, UnreadableJournalError } from '../state/journal.ts';
import { printable } from '../printable.ts';

/** Text for a person: what came from outside (tags, labels, log lines, remote errors) cannot drive the terminal. */
const say = (text: string) => process.stdout.write(printable(text));

export interface StatusCommandOptions extends ConfigFlags {
  readonly limit?: string;
  /** `-i`: an inventory instead of the deployment's EC2 tags. */
  readonly inventoryFile?: string;
  readonly json: boolean;
}

export interface HostStatus {
  host: string;
  instanceId?: string;
  image?: string;
  running?: boolean;
  deployedAt?: string;
  deployedBy?: string;
  loadBalancers: { name: string; state: string }[];
  rollbackCandidate?: string;
}

export async function runStatus(options: StatusCommandOptions): Promise<number> {
  const loaded = await loadFlaggedConfig(options);
  using aws = createAwsClients(awsSettings(loaded));
  using source = await hostSource(loaded, options, () => aws);
  const config = source.config;
  using store = await openStateStore(config);
  const all = await source.all();
  const hosts = options.limit ? source.select(all, options.limit) : all;
  const lbs = new LoadBalancers(aws.elb, aws.elbv2);
  const instances = hosts.flatMap((h) => (h.instanceId ? [{ instanceId: h.instanceId, privateIp: h.privateIp }] : []));
  const [connected, memberships] = await Promise.all([connectFleet(config, hosts), lbs.membershipsOf(instances)]);
  await using fleet = connected;
  const rows = await Promise.all(
    hosts.map(async (host): Promise<HostStatus> => {
      const remote = fleet.host(host.name);
      const name = config.container.name;
      const [live, previous, states] = await Promise.all([
        inspectLive(remote, name),
        inspectLive(remote, previousName(name)),
        Promise.all(
          (host.instanceId ? (memberships.get(host.instanceId) ?? []) : []).map(async (m) => ({
            name: describeMembership(m),
            state: (await lbs.state(host.instanceId!, m)).state,
          })),
        ),
      ]);
      return {
        host: host.name,
        instanceId: host.instanceId,
        image: live?.image,
        running: live?.running,
        deployedAt: live?.labels['baton.deployed-at'],
        deployedBy: live?.labels['baton.deployer'],
        loadBalancers: states,
        rollbackCandidate: previous?.image,
      };
    }),
  );
  if (options.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else say(statusTable(rows));
  // What is on the hosts may be changing under this very status: say so.
  if (!options.json) {
    const [lock, journal] = await Promise.all([
      inspectLock(store).catch(() => undefined),
      readJournal(store).catch((error: unknown) => {
        // A journal this Baton cannot read still holds changes open on the fleet: said, never hidden.
        if (error instanceof UnreadableJournalError) say(`\n${error.message}\n`);
        return undefined;
      }),
    ]);
    if (lock) say(`\n${describeHeld(store, lock)}\n`);
    if (journal && openEntries(journal.doc).length && (!lock || lock.stale))
      say(`\n${describeUnfinished(store, journal.doc)}\n`);
  }
  return ExitCode.Ok;
}

function statusTable(rows: readonly HostStatus[]): string {
  return textTable([
    ['host', 'live image', 'since', 'by', 'load balancers', 'rollback candidate'],
    ...rows.map((r) => [
      r.host,
      r.image ? `${r.image}${r.running ? '' : ' (stopped)'}` : '(none)',
      r.deployedAt ?? '-',
      r.deployedBy ?? '-',
      r.loadBalancers.map((l) => `${l.name}: ${l.state}`).join(', ') || '(none)',
      r.rollbackCandidate ?? '-',
    ]),
  ]);
}
