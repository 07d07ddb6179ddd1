/**
 * `baton resume`: recover what a run that did not finish left open, then finish its rollout as it ran
 * (its playbook, inventory, bastion, serial, on-failure and -e), skipping hosts already on its image.
 */
import { existsSync } from 'node:fs';
import { extraVarKey } from '../config/index.ts';
import { loadFlaggedConfig } from './config-flags.ts';
import { ConfigError, ExitCode } from '../errors.ts';
import { readHistory } from '../state/history.ts';
import { openEntries, readJournal, type RunReplay } from '../state/journal.ts';
import { openStateStore, type StateStore } from '../state/store.ts';
import { runDeploy } from './deploy.ts';
import { runRecover, type RecoverCommandOptions } from './recover.ts';

export interface ResumeCommandOptions extends RecoverCommandOptions {
  readonly acceptNewHostKeys?: boolean;
}

/**
 * Finishes the last rollout that did not: first recovers what its journal holds open, then deploys its
 * image to its hosts again, with the same guards; hosts already on that image are left alone.
 */
export async function runResume(options: ResumeCommandOptions): Promise<number> {
  const config = await loadFlaggedConfig(options);
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
    replay.canary && `canary ${replay.canary}`,
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
    vaultPasswords: options.vaultPasswords,
    check: options.check,
    limit: target.hosts.join(','),
    reporter: options.reporter,
    ...(replay.playbook && { playbookFile: replay.playbook }),
    ...(replay.inventory && { inventoryFile: replay.inventory }),
    ...(replay.serial !== undefined && { serial: replay.serial }),
    ...(replay.onFailure && { onFailure: replay.onFailure }),
    ...(replay.noLoadBalancer && { noLoadBalancer: true }),
    ...(replay.canary && { canary: replay.canary }),
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
