/**
 * `baton recover` and `baton resume`: what to do after a run that did not finish (killed, its machine
 * gone, an undo that failed). `recover` undoes what its journal holds open; `resume` does that, then
 * finishes the rollout it interrupted, skipping hosts already on its image.
 */
import { awsSettings, createAwsClients } from '../aws/clients.ts';
import { extraVarKey, loadConfig } from '../config/index.ts';
import { ConfigError, ExitCode } from '../errors.ts';
import { chooseReporter, type ReporterName } from '../report/choose.ts';
import { EventBus } from '../events/events.ts';
import { InterruptController } from '../rollout/interrupt.ts';
import { planRecovery, recover } from '../rollout/recover.ts';
import { connectFleet } from '../ssh/fleet.ts';
import { goneInstances } from '../aws/ec2.ts';
import { readHistory } from '../state/history.ts';
import { openEntries, readJournal, type RunReplay } from '../state/journal.ts';
import { existsSync } from 'node:fs';
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
  /** Entries (by seq) to close by hand without their undo, with the reason: recorded in the history. */
  readonly forget?: readonly number[];
  readonly reason?: string;
}

export async function runRecover(options: RecoverCommandOptions): Promise<number> {
  if (options.forget?.length && !options.reason?.trim())
    throw new ConfigError(
      '--reason',
      'say why the entries are forgotten (it is recorded in the history, with who forgot them)',
    );
  if (!options.forget?.length && options.reason !== undefined) throw new ConfigError('--reason', 'goes with --forget');
  const config = await loadConfig({
    file: options.configFile,
    deployment: options.deployment,
    extraVars: [...options.extraVars],
  });
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
      {
        signal: interrupt.stopSignal,
      },
    );
    const left = await ledger.takeOver();
    if (options.forget?.length) return await forgetEntries(ledger, left, options.forget, options.reason!, events);
    if (!left) {
      await ledger.end({ outcome: 'recovered', exitCode: ExitCode.Ok, hosts: [] });
      return nothingOpen(store, events);
    }
    events.declareNames(
      openEntries(left).map((e) => e.change),
      'a name in the journal',
    );
    // The hosts are reached the way the run that left them reached them (an inventory's ProxyJump, say).
    const route = left.run.replay?.bastion;
    const reachable = route
      ? {
          ...config,
          ssh: {
            ...config.ssh,
            bastion: {
              ...config.ssh.bastion,
              ...route,
              user: route.user ?? config.ssh.bastion?.user ?? config.ssh.user,
            },
          },
        }
      : config;
    events.emit({
      type: 'warning',
      message: `recovering what ${left.run.deployer}'s ${left.run.kind}${left.run.image ? ` of ${left.run.image}` : ''} (started ${left.run.startedAt}) left open: ${openEntries(left).length} change(s)`,
    });
    try {
      const result = await recover({
        config: reachable,
        entries: openEntries(left),
        journal: ledger.journal!,
        aws,
        connect: (hosts) => connectFleet(reachable, hosts),
        events,
        signal: interrupt.signal,
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
  const config = await loadConfig({
    file: options.configFile,
    deployment: options.deployment,
    extraVars: [...options.extraVars],
  });
  const store = await openStateStore(config);
  let target: Awaited<ReturnType<typeof interruptedRollout>>;
  try {
    target = await interruptedRollout(store);
  } finally {
    store.close();
  }
  const replay = target.replay ?? {};
  const extraVars = [...(replay.extraVars ?? []), ...options.extraVars];
  // A value Baton never recorded (it may be a secret) must be given again, by the same key.
  const given = new Set(options.extraVars.map(extraVarKey));
  const missing = (replay.secretExtraVars ?? []).filter((k) => !given.has(k));
  if (missing.length) {
    throw new ConfigError(
      '-e',
      `the interrupted run was given ${missing.map((k) => `-e ${k}=...`).join(', ')}, whose value${missing.length === 1 ? '' : 's'} Baton does not record (${missing.length === 1 ? 'it' : 'they'} may be secret): give ${missing.length === 1 ? 'it' : 'them'} again, as \`baton resume ... ${missing.map((k) => `-e ${k}=<value>`).join(' ')}\``,
    );
  }
  for (const [flag, file] of [
    ['--playbook', replay.playbook],
    ['-i', replay.inventory],
  ] as const) {
    if (file !== undefined && !existsSync(file))
      throw new ConfigError(
        flag,
        `the interrupted run used ${file}, which is gone: resume cannot run it again as it ran (deploy again, naming what to use)`,
      );
  }
  const said = [
    replay.playbook && `playbook ${replay.playbook}`,
    replay.inventory && `inventory ${replay.inventory}`,
    replay.serial && `serial ${replay.serial}`,
    replay.onFailure && `on failure ${replay.onFailure}`,
    replay.noLoadBalancer && '--no-load-balancer',
    replay.extraVars?.length && `-e ${replay.extraVars.join(' -e ')}`,
  ].filter(Boolean);
  process.stderr.write(
    `baton: ${options.check ? 'would resume' : 'resuming'} ${target.from}${said.length ? `, as it ran (${said.join(', ')})` : ''}\n`,
  );
  if (target.open) {
    const recovered = await runRecover({ ...options, extraVars });
    if (recovered !== ExitCode.Ok) {
      process.stderr.write('baton: the recovery did not finish, so the rollout is not resumed\n');
      return recovered;
    }
  }
  return runDeploy({
    image: target.image,
    deployment: options.deployment,
    configFile: options.configFile,
    extraVars,
    check: options.check,
    limit: target.hosts.join(','),
    reporter: options.reporter,
    ...(replay.playbook && { playbookFile: replay.playbook }),
    ...(replay.inventory && { inventoryFile: replay.inventory }),
    ...(replay.serial !== undefined && { serial: replay.serial }),
    ...(replay.onFailure && { onFailure: replay.onFailure }),
    ...(replay.noLoadBalancer && { noLoadBalancer: true }),
    ...(options.acceptNewHostKeys !== undefined && { acceptNewHostKeys: options.acceptNewHostKeys }),
  });
}

/** The rollout to finish: the journal's, if one is open, else the last deploy in the history that did not complete. */
async function interruptedRollout(
  store: StateStore,
): Promise<{ image: string; hosts: readonly string[]; from: string; open: boolean; replay?: RunReplay }> {
  const found = await readJournal(store);
  if (found && openEntries(found.doc).length) {
    const r = found.doc.run;
    if (r.kind !== 'deploy' || !r.image || !r.hosts?.length) {
      throw new ConfigError(
        '',
        `the run that did not finish was a ${r.kind}, not a deploy: \`baton recover --deployment ${store.scope.deployment}\` undoes what it left`,
      );
    }
    return {
      image: r.image,
      hosts: r.hosts,
      from: `${r.deployer}'s deploy of ${r.image} (started ${r.startedAt}, from its journal)`,
      open: true,
      ...(r.replay && { replay: r.replay }),
    };
  }
  const [last] = (await readHistory(store, 20)).filter((e) => e.kind === 'deploy' || e.kind === 'resume');
  if (!last || !last.image || last.outcome === 'deployed' || last.outcome === 'checked') {
    throw new ConfigError(
      '',
      `nothing to resume in ${store.label}: ${last ? `the last deploy (${last.image ?? '?'}, ${last.startedAt}) finished` : 'no deploy is recorded'}`,
    );
  }
  const hosts = last.hosts.map((h) => h.host);
  if (!hosts.length)
    throw new ConfigError(
      '',
      `nothing to resume in ${store.label}: the last deploy (${last.startedAt}) stopped before it chose its hosts; deploy again`,
    );
  return {
    image: last.image,
    hosts,
    from: `${last.deployer}'s deploy of ${last.image} (started ${last.startedAt}, ${last.outcome})`,
    open: false,
    ...(last.replay && { replay: last.replay }),
  };
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
