/**
 * `baton recover` and `baton resume`: what to do after a run that did not finish (killed, its machine
 * gone, an undo that failed). `recover` undoes what its journal holds open; `resume` does that, then
 * finishes the rollout it interrupted, skipping hosts already on its image.
 */
import { awsSettings, createAwsClients, type AwsClients } from '../aws/clients.ts';
import { awsServices } from '../aws/services.ts';
import type { DeployConfig } from '../config/index.ts';
import { loadFlaggedConfig, type ConfigFlags } from './config-flags.ts';
import { ConfigError, ExitCode } from '../errors.ts';
import type { ReporterName } from '../report/choose.ts';
import type { EventBus } from '../events/events.ts';
import type { InterruptController } from '../rollout/interrupt.ts';
import { planRecovery, recover } from '../rollout/recover.ts';
import { connectFleet } from '../ssh/fleet.ts';
import { goneInstances } from '../aws/ec2.ts';
import { openEntries, readJournal, type JournalDocument } from '../state/journal.ts';
import { RunLedger } from '../state/ledger.ts';
import type { StateStore } from '../state/store.ts';
import { ciBuild, deployerName, runId } from './run-identity.ts';
import { openRunSession } from './session.ts';

export interface RecoverCommandOptions extends ConfigFlags {
  readonly check: boolean;
  readonly reporter: ReporterName;
  /** Entries (by seq) to close by hand without their undo, with the reason: recorded in the history. */
  readonly forget?: readonly number[];
  readonly reason?: string;
}

export async function runRecover(options: RecoverCommandOptions): Promise<number> {
  checkForget(options);
  const config = await loadFlaggedConfig(options);
  await using session = await openRunSession(config, options.reporter);
  const { store, events, interrupt } = session;
  if (options.check) return await planOnly(store, events);
  using aws = createAwsClients(awsSettings(config));
  const startedAt = new Date();
  const ledger = new RunLedger(
    store,
    {
      id: runId(startedAt),
      kind: 'recover',
      deployer: deployerName(),
      deployment: options.deployment,
      startedAt: startedAt.toISOString(),
      ...(ciBuild() && { build: ciBuild() }),
    },
    events,
    { signal: interrupt.stopSignal },
  );
  const left = await ledger.takeOver();
  if (options.forget?.length) return await forgetEntries(ledger, left, options.forget, options.reason!, events);
  if (!left) {
    await ledger.end({ outcome: 'recovered', exitCode: ExitCode.Ok, hosts: [] });
    return nothingOpen(store, events);
  }
  return await recoverLeft({ config, left, ledger, aws, events, interrupt });
}

/** `--forget` takes a reason, and a reason goes only with `--forget`. */
function checkForget(options: RecoverCommandOptions): void {
  if (options.forget?.length && !options.reason?.trim())
    throw new ConfigError(
      '--reason',
      'say why the entries are forgotten (it is recorded in the history, with who forgot them)',
    );
  if (!options.forget?.length && options.reason !== undefined) throw new ConfigError('--reason', 'goes with --forget');
}

/** `recover --check`: what would be undone, from the journal alone; nothing is taken or changed. */
async function planOnly(store: StateStore, events: EventBus): Promise<number> {
  const found = await readJournal(store);
  const open = openEntries(found?.doc);
  if (!open.length) return nothingOpen(store, events);
  events.declareNames(
    open.map((e) => e.change),
    'a name in the journal',
  );
  events.emit(planRecovery(open));
  events.emit({
    type: 'run-finished',
    outcome: 'checked',
    exitCode: ExitCode.Ok,
    ms: 0,
    hosts: [],
    maxRssKb: process.resourceUsage().maxRSS,
  });
  return ExitCode.Ok;
}

/** The configuration with the route the run that left the journal took to its hosts (an inventory's ProxyJump, say). */
function reachedAsLeft(config: DeployConfig, left: JournalDocument): DeployConfig {
  const route = left.run.replay?.bastion;
  if (!route) return config;
  const bastion = { ...config.ssh.bastion, ...route, user: route.user ?? config.ssh.bastion?.user ?? config.ssh.user };
  return { ...config, ssh: { ...config.ssh, bastion } };
}

/** Undoes what the journal holds open, newest first, under the lock just taken over. */
async function recoverLeft(r: {
  config: DeployConfig;
  left: JournalDocument;
  ledger: RunLedger;
  aws: AwsClients;
  events: EventBus;
  interrupt: InterruptController;
}): Promise<number> {
  const { left, ledger, aws, events } = r;
  events.declareNames(
    openEntries(left).map((e) => e.change),
    'a name in the journal',
  );
  const reachable = reachedAsLeft(r.config, left);
  events.emit({
    type: 'warning',
    message: `recovering what ${left.run.deployer}'s ${left.run.kind}${left.run.image ? ` of ${left.run.image}` : ''} (started ${left.run.startedAt}) left open: ${openEntries(left).length} change(s)`,
  });
  try {
    const result = await recover({
      config: reachable,
      entries: openEntries(left),
      journal: ledger.journal!,
      services: awsServices(aws),
      connect: (hosts) => connectFleet(reachable, hosts),
      events,
      signal: r.interrupt.signal,
      gone: (ids) => goneInstances(aws.ec2, ids),
    });
    await ledger.end({ outcome: result.outcome, exitCode: result.exitCode, hosts: [] });
    return result.exitCode;
  } catch (error) {
    // Whatever is still open stays in the journal; the lock and the history are settled all the same.
    await ledger.end({
      outcome: 'failed',
      exitCode: ExitCode.NeedsOperator,
      hosts: [],
      error: (error as Error).message,
    });
    throw error;
  }
}

/**
 * `recover --forget`: closes the named open entries without undoing them (an operator put the host
 * back by hand, or it can never be undone), each with who and why, in the journal and the history.
 */
async function forgetEntries(
  ledger: RunLedger,
  left: Awaited<ReturnType<RunLedger['takeOver']>>,
  seqs: readonly number[],
  reason: string,
  events: EventBus,
): Promise<number> {
  const open = openEntries(left);
  const unknown = seqs.filter((n) => !open.some((e) => e.seq === n));
  if (unknown.length) {
    const listed = open.map((e) => `${e.seq}: ${e.what}`).join('; ') || 'none';
    await ledger.end({
      outcome: 'failed',
      exitCode: ExitCode.BadInput,
      hosts: [],
      error: `no open entry ${unknown.join(', ')}`,
    });
    throw new ConfigError(
      '--forget',
      `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not open in the journal (open: ${listed})`,
    );
  }
  const by = deployerName();
  const forgotten = open.filter((e) => seqs.includes(e.seq));
  for (const e of forgotten) {
    await ledger.journal!.close(e, `forgotten by ${by}: ${reason}`);
    events.emit({
      type: 'warning',
      message: `forgotten, not undone: ${e.what} (by ${by}: ${reason}); if it still needs it, by hand: ${e.fix}`,
    });
  }
  const rest = open.length - forgotten.length;
  const exitCode = rest ? ExitCode.Locked : ExitCode.Ok;
  await ledger.end({
    outcome: rest ? 'failed' : 'recovered',
    exitCode,
    hosts: [],
    forgotten: forgotten.map((e) => ({ seq: e.seq, what: e.what, by, why: reason })),
  });
  events.emit({
    type: 'run-finished',
    outcome: rest ? 'failed' : 'recovered',
    exitCode,
    ms: 0,
    hosts: [],
    maxRssKb: process.resourceUsage().maxRSS,
  });
  return exitCode;
}

function nothingOpen(store: StateStore, events: EventBus): number {
  events.emit({
    type: 'warning',
    message: `${store.label}: nothing to recover, no run left changes open (${store.url('journal.json')})`,
  });
  return ExitCode.Ok;
}
