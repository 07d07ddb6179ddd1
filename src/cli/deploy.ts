/** `baton deploy`: assembles the run's dependencies from typed options and hands over to the executor. */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { knownHostsFileProblem } from '../ssh/known-hosts.ts';
import { resolve } from 'node:path';
import { userInfo } from 'node:os';
import { awsSettings, createAwsClients, type AwsClients } from '../aws/clients.ts';
import { hostSource } from './hosts.ts';
import {
  DEFAULT_SHARED,
  extraVarKey,
  isSecretExtraVar,
  loadConfig,
  serialFromFlag,
  type DeployConfig,
} from '../config/index.ts';
import type { RunReplay } from '../state/journal.ts';
import { MAX_DURATION_MS, parseDuration } from '../config/reader.ts';
import type { Host } from '../inventory/host.ts';
import { imageReferenceProblem } from '../remote/image.ts';
import { registryLogin } from '../secrets/registry.ts';
import { loadPlaybook } from '../playbook/load.ts';
import { rollbackPlaybook } from '../playbook/rollback.ts';
import { ConfigError } from '../errors.ts';
import { parseRemoteRun, personalDeployment, remoteRunTag, teamcityBranch, type RemoteRun } from './remote-run.ts';
import { chooseReporter, type ReporterName } from '../report/choose.ts';
import { notifyWebhook, parseWebhookUrl } from '../report/notify.ts';
import { EventBus, type HostSummary } from '../events/events.ts';
import { InterruptController } from '../rollout/interrupt.ts';
import { guardProcess } from './lifecycle.ts';
import { deploy } from '../rollout/run.ts';
import { connectFleet } from '../ssh/fleet.ts';
import { RunLedger } from '../state/ledger.ts';
import { checkPaceNeedsTerminal, pace, parseCanary } from './pace.ts';
import { describeHeld, inspectLock } from '../state/lock.ts';
import { openStateStore, type StateStore } from '../state/store.ts';
import { readHistory } from '../state/history.ts';

export interface DeployCommandOptions {
  /** The branch being built: `remote-run/<user>/<feature>` makes this a personal deploy. */
  readonly branch?: string;
  /** With a remote-run branch and no --image: the commit and repository the image tag is made from. */
  readonly commit?: string;
  readonly imageRepository?: string;
  /** Let a remote-run build deploy somewhere other than its user's own deployment. */
  readonly forceShared?: boolean;
  /** The image to deploy; absent for a rollback. */
  readonly image?: string;
  /** `baton rollback`: every selected host goes back to the container the last deploy kept. */
  readonly rollback?: boolean;
  readonly deployment?: string;
  readonly configFile: string;
  readonly playbookFile?: string;
  readonly serial?: string;
  readonly check: boolean;
  readonly limit?: string;
  /** A static Ansible inventory (INI or YAML) instead of EC2 tags. */
  readonly inventoryFile?: string;
  readonly listHosts?: boolean;
  readonly extraVars: readonly string[];
  readonly acceptNewHostKeys?: boolean;
  /** Ask before each batch (at a terminal). */
  readonly step?: boolean;
  /** After the first batch: a duration to watch it, or `confirm`. */
  readonly canary?: string;
  /** How long to wait for a deploy lock another run holds (a duration); by default, not at all. */
  readonly lockWait?: string;
  /** `--on-failure`: overrides `rollout.onFailure`. */
  readonly onFailure?: 'rollback' | 'stop';
  /** `--no-load-balancer`: hosts in no load balancer are deployed (else refused before anything changes). */
  readonly noLoadBalancer?: boolean;
  readonly reporter: ReporterName;
}

export async function runDeploy(options: DeployCommandOptions): Promise<number> {
  const overrides: Record<string, unknown> = {};
  const rollout: Record<string, unknown> = {};
  if (options.serial !== undefined) rollout.serial = serialFromFlag(options.serial);
  if (options.onFailure !== undefined) rollout.onFailure = options.onFailure;
  if (options.noLoadBalancer) rollout.allowNoLoadBalancer = true;
  if (Object.keys(rollout).length) overrides.rollout = rollout;
  const canary = parseCanary(options.canary);
  const lockWaitMs = options.lockWait === undefined ? 0 : parseDuration(options.lockWait);
  if (lockWaitMs === undefined)
    throw new ConfigError('--lock-wait', `${JSON.stringify(options.lockWait)} is not a duration (like 30s or 10m)`);
  if (lockWaitMs > MAX_DURATION_MS)
    throw new ConfigError(
      '--lock-wait',
      `${JSON.stringify(options.lockWait)} is too long (at most ${MAX_DURATION_MS / 3_600_000}h)`,
    );
  const webhook = process.env.BATON_WEBHOOK_URL
    ? parseWebhookUrl(process.env.BATON_WEBHOOK_URL, '$BATON_WEBHOOK_URL')
    : undefined;
  const step = options.step ?? false;
  const asks = checkPaceNeedsTerminal({ step, canary });
  const fromTeamcity = options.branch === undefined ? teamcityBranch() : undefined;
  const personal = parseRemoteRun(options.branch ?? fromTeamcity?.branch);
  const branchSource = fromTeamcity
    ? fromTeamcity.source
    : process.env.BATON_BRANCH !== undefined && options.branch === process.env.BATON_BRANCH
      ? '$BATON_BRANCH'
      : '--branch';
  // A personal build goes to its user's own deployment unless another is named (then checked once loaded).
  const deployment = options.deployment ?? personal?.user;
  if (!deployment)
    throw new ConfigError(
      '--deployment',
      'say which deployment to deploy into (or build a remote-run/<user>/<feature> branch)',
    );
  const loaded = await loadConfig({
    file: options.configFile,
    deployment,
    extraVars: [...options.extraVars],
    overrides,
  }).catch((error: unknown) => {
    // A personal build aimed at a deployment not its own is refused for that reason first, even when
    // the configuration has no such deployment (the refusal is what the user needs to read).
    if (personal && !options.forceShared)
      personalDeployment(personal, options.deployment, DEFAULT_SHARED, false, branchSource);
    throw error;
  });
  let aws: AwsClients | undefined;
  using source = await hostSource(
    loaded,
    options.inventoryFile,
    () => (aws ??= createAwsClients(awsSettings(loaded))),
    deployment,
  );
  const config = options.acceptNewHostKeys
    ? {
        ...source.config,
        ssh: { ...source.config.ssh, acceptNewHostKeys: checkKnownHostsWritable(loaded.ssh.knownHosts) },
      }
    : source.config;
  if (personal)
    personalDeployment(
      personal,
      options.deployment,
      config.sharedDeployments,
      options.forceShared ?? false,
      branchSource,
      config.personalDeployments,
    );
  const image = options.image ?? personalImage(personal, options);
  const imageProblem = image === undefined ? undefined : imageReferenceProblem(image);
  if (imageProblem) throw new ConfigError('--image', `${JSON.stringify(image)} ${imageProblem}`);
  const playbook = options.rollback ? rollbackPlaybook : await loadPlaybook(options.playbookFile);
  const events = new EventBus();
  // Prompts and a redrawing task list would fight over the terminal: asking means plain lines.
  const reporter = chooseReporter(asks && options.reporter === 'auto' ? 'plain' : options.reporter, events);
  const interrupt = new InterruptController();
  const stopListening = guardProcess(interrupt, events);
  aws ??= createAwsClients(awsSettings(config));
  const store = await openStateStore(config);
  const deployer = deployerName();
  const kind = options.rollback ? 'rollback' : 'deploy';
  const build = ciBuild();
  const notifier =
    webhook &&
    !options.listHosts &&
    notifyWebhook(webhook, events, {
      stack: config.stack,
      release: config.release,
      deployment,
      deployer,
      kind,
      ...(build && { build }),
    });
  const startedAt = new Date();
  const ledger = new RunLedger(
    store,
    {
      id: runId(startedAt),
      kind,
      deployer,
      deployment,
      ...(image && { image }),
      ...(personal && { branch: personal.branch }),
      ...(build && { build }),
      startedAt: startedAt.toISOString(),
      replay: replayOf(options, config),
    },
    events,
    {
      waitMs: lockWaitMs,
      signal: interrupt.stopSignal,
      onLost: (why, fenced) => {
        events.emit({
          type: 'warning',
          message: fenced
            ? `this run lost the deploy lock (${why}): another run may own the fleet now, so this one changes nothing more (no new change, no undo); what it left open stays in the journal for that run`
            : why.startsWith('it was released by force')
              ? `this run lost the deploy lock (${why}): stopping after the hosts in flight, undoing the guards`
              : `this run cannot renew the deploy lock (${why}): stopping after the hosts in flight; it changes and undoes nothing until a renewal succeeds`,
        });
        interrupt.request();
      },
    },
  );
  try {
    if (!store.shared && !options.check && !options.listHosts) {
      events.emit({
        type: 'warning',
        message: `${config.source}: no state.bucket is configured: the deploy lock, the journal and the history are kept in ${store.url()} on this machine only, where no other deployer sees them`,
      });
    }
    if (options.check) {
      const held = await inspectLock(store);
      if (held) events.emit({ type: 'warning', message: describeHeld(store, held) });
    }
    // A rollback moves back only what the last deploy changed: a host it never touched keeps its image
    // (its kept container is older still, and going back to it would be a change nobody asked for).
    const changed =
      options.rollback && options.limit === undefined ? await hostsChangedByLastDeploy(store, events) : undefined;
    // The pull's registry login (an ECR token is fetched here): a rollback pulls nothing.
    const login =
      image && !options.rollback && !options.listHosts
        ? await registryLogin(config.registry, image, awsSettings(config), config.source)
        : undefined;
    const result = await deploy({
      playbook,
      ...(login && { registryLogin: login }),
      config,
      image: image ?? "each host's previous container",
      targetImage: options.rollback ? (target) => target.previous?.image : undefined,
      deployment,
      deployer,
      check: options.check,
      listHosts: options.listHosts,
      inventory: source.fromFile ? () => source.all() : undefined,
      limit:
        options.limit !== undefined
          ? (hosts) => source.select(hosts, options.limit!)
          : changed && ((hosts) => pickChanged(hosts, changed)),
      events,
      interrupt,
      aws,
      connect: (hosts) =>
        connectFleet(config, hosts, { onWarning: (message) => events.emit({ type: 'warning', message }) }),
      lock: async (hosts) => ({ where: await ledger.begin(hosts.map((h) => h.name)), journal: ledger.journal }),
      rollback: options.rollback,
      beforeFinish: (hosts) => writeRetryFile(hosts, playbook.name, config.rollout.retryFile, events, options),
      beforeBatch: pace({ step, canary, events, interrupt }),
    });
    await ledger.end(result);
    return result.exitCode;
  } catch (error) {
    await ledger.end({
      outcome: 'failed',
      exitCode: (error as { exitCode?: number }).exitCode ?? 1,
      hosts: [],
      error: (error as Error).message,
    });
    throw error;
  } finally {
    stopListening();
    aws.destroy();
    store.close();
    if (notifier) await notifier.close();
    await reporter.close();
  }
}

/** `--accept-new-host-keys` records keys: into a real file that can be written, never /dev/null (which would accept every key, every run). */
function checkKnownHostsWritable(file: string): true {
  const problem = knownHostsFileProblem(file);
  if (problem)
    throw new ConfigError('--accept-new-host-keys', `records new host keys in ssh.knownHosts, and ${file} ${problem}`);
  return true;
}

/**
 * Like Ansible's retry files: after a run that left hosts off the target image, their names, one a
 * line, in `rollout.retryFile` (default `<playbook>.retry` here), for `--limit @<file>`.
 */
function writeRetryFile(
  hosts: readonly HostSummary[],
  playbookName: string,
  configured: string | undefined,
  events: EventBus,
  options: DeployCommandOptions,
): void {
  const left = hosts.filter((h) => h.result !== 'deployed' && h.result !== 'unchanged').map((h) => h.host);
  if (!left.length) return;
  const file = configured ?? `${playbookName.replace(/[^A-Za-z0-9._-]+/g, '-')}.retry`;
  try {
    writeFileSync(file, `${left.join('\n')}\n`);
  } catch (error) {
    events.emit({ type: 'warning', message: `could not write the retry file ${file}: ${(error as Error).message}` });
    return;
  }
  const command = options.rollback ? 'rollback' : 'deploy';
  events.emit({
    type: 'warning',
    message: `${left.length} host${left.length === 1 ? ' is' : 's are'} not on the target image: ${left.join(', ')}; to retry just ${left.length === 1 ? 'it' : 'them'}: baton ${command} ... --limit @${file}`,
  });
}

/** The hosts the last deploy switched, when the history has it; undefined to take every host. */
async function hostsChangedByLastDeploy(store: StateStore, events: EventBus): Promise<string[] | undefined> {
  const [last] = (await readHistory(store, 20)).filter(
    (e) => e.kind === 'deploy' || e.kind === 'rollback' || e.kind === 'resume',
  );
  // A run that never recorded its end (killed): which hosts it switched is unknown, so every host.
  if (!last || last.kind === 'rollback' || !last.hosts.length || last.outcome === 'running') return undefined;
  const changed = last.hosts.filter((h) => h.result === 'deployed').map((h) => h.host);
  if (!changed.length)
    throw new ConfigError(
      '',
      `the last deploy (${last.image ?? '?'}, ${last.startedAt}, ${last.outcome}) changed no host: nothing to roll back (name hosts with --limit to roll them back anyway)`,
    );
  events.emit({
    type: 'warning',
    message: `rolling back only what the last deploy (${last.image}, ${last.startedAt}, ${last.outcome}) changed: ${changed.join(', ')}; every other host keeps its image (name hosts with --limit to roll them back too)`,
  });
  return changed;
}

/** The hosts of `hosts` the history names (by name, or instance id when a shared name changed). */
function pickChanged(hosts: Host[], changed: readonly string[]): Host[] {
  const picked = hosts.filter(
    (h) =>
      changed.includes(h.name) ||
      (h.aliases ?? []).some((a) => changed.includes(a)) ||
      changed.some((c) => h.instanceId !== undefined && c.endsWith(`(${h.instanceId})`)),
  );
  if (!picked.length)
    throw new ConfigError(
      '--limit',
      `none of the hosts the last deploy changed (${changed.join(', ')}) is in the inventory now: name the hosts to roll back with --limit`,
    );
  return picked;
}

/** How this run can be run again (`baton resume`): what it was given, secrets by key only. */
function replayOf(options: DeployCommandOptions, config: DeployConfig): RunReplay {
  const bastion = config.ssh.bastion;
  return {
    ...(options.playbookFile && { playbook: resolve(options.playbookFile) }),
    ...(options.inventoryFile && { inventory: resolve(options.inventoryFile) }),
    ...(options.serial !== undefined && { serial: options.serial }),
    ...(options.onFailure && { onFailure: options.onFailure }),
    ...(options.limit !== undefined && { limit: options.limit }),
    ...(options.noLoadBalancer && { noLoadBalancer: true }),
    extraVars: options.extraVars.filter((e) => !isSecretExtraVar(e)),
    secretExtraVars: options.extraVars.filter(isSecretExtraVar).map(extraVarKey),
    ...(bastion && {
      bastion: { host: bastion.host, port: bastion.port, ...(bastion.user && { user: bastion.user }) },
    }),
  };
}

/** Who runs Baton, as the lock, the journal and the history record it. */
export const deployerName = () => process.env.BATON_DEPLOYER ?? userInfo().username;

/** A run's id, shared by its lock, journal and history entry: sortable by start time. */
export const runId = (startedAt: Date) => `${startedAt.getTime().toString(36)}-${randomBytes(3).toString('hex')}`;

/** The CI build this run is part of, for the lock and the history. */
export function ciBuild(): string | undefined {
  const env = process.env;
  if (env.TEAMCITY_VERSION && env.BUILD_NUMBER)
    return `${env.TEAMCITY_BUILDCONF_NAME ?? 'TeamCity'} #${env.BUILD_NUMBER}`;
  return env.BUILD_URL;
}

/** A personal build's image: `<repository>:<user>-<feature>-<commit>`. */
function personalImage(run: RemoteRun | undefined, options: DeployCommandOptions): string | undefined {
  if (options.rollback) return undefined;
  if (!run) throw new ConfigError('--image', 'say which image to deploy');
  if (!options.imageRepository || !options.commit) {
    throw new ConfigError(
      '--image',
      `give --image, or --image-repository and --commit to build the tag of ${run.branch} (the commit is read from BUILD_VCS_NUMBER under TeamCity)`,
    );
  }
  return `${options.imageRepository}:${remoteRunTag(run, options.commit)}`;
}
