/**
 * `baton recover` and `baton resume`: what to do after a run that did not finish (killed, its machine
 * gone, an undo that failed). `recover` undoes what its journal holds open; `resume` does that, then
 * finishes the rollout it interrupted, skipping hosts already on its image.
 */
import { awsSettings, createAwsClients } from '../aws/clients.ts';
import { loadConfig } from '../config/index.ts';
import { ConfigError, ExitCode } from '../errors.ts';
import { chooseReporter, type ReporterName } from '../report/choose.ts';
import { EventBus } from '../rollout/events.ts';
import { InterruptController } from '../rollout/interrupt.ts';
import { planRecovery, recover } from '../rollout/recover.ts';
import { connectFleet } from '../ssh/fleet.ts';
import { readHistory } from '../state/history.ts';
import { openEntries, readJournal } from '../state/journal.ts';
import { RunLedger } from '../state/ledger.ts';
import { openStateStore, type StateStore } from '../state/store.ts';
import { ciBuild, deployerName, runDeploy, runId } from './deploy.ts';
import { guardProcess } from './lifecycle.ts';

export interface RecoverCommandOptions {
  readonly deployment: string;
  readonly configFile: string;
  readonly extraVars: readonly string[];
  readonly check: boolean;
  readonly reporter: ReporterName;
}

export async function runRecover(options: RecoverCommandOptions): Promise<number> {
  const config = await loadConfig({ file: options.configFile, deployment: options.deployment, extraVars: [...options.extraVars] });
  const store = await openStateStore(config);
  const events = new EventBus();
  const reporter = chooseReporter(options.reporter, events);
  const interrupt = new InterruptController();
  const stopListening = guardProcess(interrupt, events);
  try {
    if (options.check) {
      const found = await readJournal(store);
      const open = openEntries(found?.doc);
      if (!open.length) return nothingOpen(store, events);
      events.declareNames(open.map((e) => e.change), 'a name in the journal');
      events.emit(planRecovery(open));
      events.emit({ type: 'run-finished', outcome: 'checked', exitCode: ExitCode.Ok, ms: 0, hosts: [], maxRssKb: process.resourceUsage().maxRSS });
      return ExitCode.Ok;
    }
    using aws = createAwsClients(awsSettings(config));
    const startedAt = new Date();
    const ledger = new RunLedger(store, { id: runId(startedAt), kind: 'recover', deployer: deployerName(), deployment: options.deployment, startedAt: startedAt.toISOString(), ...(ciBuild() && { build: ciBuild() }) }, events, {
      signal: interrupt.stopSignal,
    });
    const left = await ledger.takeOver();
    if (!left) {
      await ledger.end({ outcome: 'recovered', exitCode: ExitCode.Ok, hosts: [] });
      return nothingOpen(store, events);
    }
    events.declareNames(openEntries(left).map((e) => e.change), 'a name in the journal');
    events.emit({ type: 'warning', message: `recovering what ${left.run.deployer}'s ${left.run.kind}${left.run.image ? ` of ${left.run.image}` : ''} (started ${left.run.startedAt}) left open: ${openEntries(left).length} change(s)` });
    try {
      const result = await recover({ config, entries: openEntries(left), journal: ledger.journal!, aws, connect: (hosts) => connectFleet(config, hosts), events, signal: interrupt.signal });
      await ledger.end({ outcome: result.outcome, exitCode: result.exitCode, hosts: [] });
      return result.exitCode;
    } catch (error) {
      // Whatever is still open stays in the journal; the lock and the history are settled all the same.
      await ledger.end({ outcome: 'failed', exitCode: ExitCode.NeedsOperator, hosts: [], error: (error as Error).message });
      throw error;
    }
  } finally {
    stopListening();
    store.close();
    await reporter.close();
  }
}

export interface ResumeCommandOptions extends RecoverCommandOptions {
  readonly acceptNewHostKeys?: boolean;
}

/**
 * Finishes the last rollout that did not: first recovers what its journal holds open, then deploys its
 * image to its hosts again, with the same guards; hosts already on that image are left alone.
 */
export async function runResume(options: ResumeCommandOptions): Promise<number> {
  const config = await loadConfig({ file: options.configFile, deployment: options.deployment, extraVars: [...options.extraVars] });
  const store = await openStateStore(config);
  let target: Awaited<ReturnType<typeof interruptedRollout>>;
  try {
    target = await interruptedRollout(store);
  } finally {
    store.close();
  }
  process.stderr.write(`baton: ${options.check ? 'would resume' : 'resuming'} ${target.from}\n`);
  if (target.open) {
    const recovered = await runRecover(options);
    if (recovered !== ExitCode.Ok) {
      process.stderr.write('baton: the recovery did not finish, so the rollout is not resumed\n');
      return recovered;
    }
  }
  return runDeploy({
    image: target.image,
    deployment: options.deployment,
    configFile: options.configFile,
    extraVars: options.extraVars,
    check: options.check,
    limit: target.hosts.join(','),
    reporter: options.reporter,
    ...(options.acceptNewHostKeys !== undefined && { acceptNewHostKeys: options.acceptNewHostKeys }),
  });
}

/** The rollout to finish: the journal's, if one is open, else the last deploy in the history that did not complete. */
async function interruptedRollout(store: StateStore): Promise<{ image: string; hosts: readonly string[]; from: string; open: boolean }> {
  const found = await readJournal(store);
  if (found && openEntries(found.doc).length) {
    const r = found.doc.run;
    if (r.kind !== 'deploy' || !r.image || !r.hosts?.length) {
      throw new ConfigError('', `the run that did not finish was a ${r.kind}, not a deploy: \`baton recover --deployment ${store.scope.deployment}\` undoes what it left`);
    }
    return { image: r.image, hosts: r.hosts, from: `${r.deployer}'s deploy of ${r.image} (started ${r.startedAt}, from its journal)`, open: true };
  }
  const [last] = (await readHistory(store, 20)).filter((e) => e.kind === 'deploy' || e.kind === 'resume');
  if (!last || !last.image || last.outcome === 'deployed' || last.outcome === 'checked') {
    throw new ConfigError('', `nothing to resume in ${store.label}: ${last ? `the last deploy (${last.image ?? '?'}, ${last.startedAt}) finished` : 'no deploy is recorded'}`);
  }
  const hosts = last.hosts.map((h) => h.host);
  if (!hosts.length) throw new ConfigError('', `nothing to resume in ${store.label}: the last deploy (${last.startedAt}) stopped before it chose its hosts; deploy again`);
  return { image: last.image, hosts, from: `${last.deployer}'s deploy of ${last.image} (started ${last.startedAt}, ${last.outcome})`, open: false };
}

function nothingOpen(store: StateStore, events: EventBus): number {
  events.emit({ type: 'warning', message: `${store.label}: nothing to recover, no run left changes open (${store.url('journal.json')})` });
  return ExitCode.Ok;
}

