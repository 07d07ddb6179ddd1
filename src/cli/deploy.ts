/** `baton deploy`: assembles the run's dependencies from typed options and hands over to the executor. */
import { knownHostsFileProblem } from '../ssh/known-hosts.ts';
import { awsSettings, createAwsClients, type AwsClients } from '../aws/clients.ts';
import { awsServices } from '../aws/services.ts';
import { hostSource, type HostSource } from './hosts.ts';
import { DEFAULT_SHARED, serialFromFlag, type DeployConfig } from '../config/index.ts';
import { loadFlaggedConfig, type ConfigFlags } from './config-flags.ts';
import { MAX_DURATION_MS, parseDuration } from '../config/reader.ts';
import { imageReferenceProblem } from '../remote/image.ts';
import { registryLogin } from '../secrets/registry.ts';
import { loadPlaybook } from '../playbook/load.ts';
import type { Playbook } from '../playbook/types.ts';
import { rollbackPlaybook } from '../playbook/rollback.ts';
import { ConfigError } from '../errors.ts';
import { personalDeployment, personalImage, whoseBuild, type WhoseBuild } from './remote-run.ts';
import type { ReporterName } from '../report/choose.ts';
import { parseWebhookUrl } from '../report/notify.ts';
import type { EventBus } from '../events/events.ts';
import type { InterruptController } from '../rollout/interrupt.ts';
import { openRunSession } from './session.ts';
import { recordRun } from './run-record.ts';
import { hostsChangedByLastDeploy, pickChanged, writeRetryFile } from './rollback-hosts.ts';

import { deploy } from '../rollout/run.ts';
import { connectFleet } from '../ssh/fleet.ts';
import { RunLedger } from '../state/ledger.ts';
import { checkPaceNeedsTerminal, pace, parseCanary } from './pace.ts';
import { describeHeld, inspectLock } from '../state/lock.ts';
import type { StateStore } from '../state/store.ts';

/** The deployment is optional: a remote-run branch names it. */
export interface DeployCommandOptions extends Omit<ConfigFlags, 'deployment'> {
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
  readonly playbookFile?: string;
  readonly serial?: string;
  readonly check: boolean;
  readonly limit?: string;
  /** A static Ansible inventory (INI or YAML) instead of EC2 tags. */
  readonly inventoryFile?: string;
  readonly listHosts?: boolean;
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
  const flags = readFlags(options);
  const whose = whoseBuild(options);
  const { personal, deployment } = whose;
  const loaded = await loadDeploymentConfig(options, flags, whose);
  let aws: AwsClients | undefined;
  using source = await hostSource(
    loaded,
    { ...options, deployment },
    () => (aws ??= createAwsClients(awsSettings(loaded))),
  );
  const config = checkedConfig(source.config, options, whose);
  const image = options.image ?? personalImage(personal, options);
  const imageProblem = image === undefined ? undefined : imageReferenceProblem(image);
  if (imageProblem) throw new ConfigError('--image', `${JSON.stringify(image)} ${imageProblem}`);
  const playbook = options.rollback ? rollbackPlaybook : await loadPlaybook(options.playbookFile);
  // Prompts and a redrawing task list would fight over the terminal: asking means plain lines.
  await using session = await openRunSession(
    config,
    flags.asks && options.reporter === 'auto' ? 'plain' : options.reporter,
  );
  const { store, events, interrupt } = session;
  aws ??= createAwsClients(awsSettings(config));
  const { ledger, notifier, deployer } = recordRun({
    store,
    events,
    interrupt,
    config,
    options,
    flags,
    deployment,
    image,
    personal,
  });
  try {
    const result = await rollOut({
      options,
      config,
      image,
      playbook,
      deployment,
      deployer,
      source,
      store,
      ledger,
      events,
      interrupt,
      aws,
      flags,
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
    aws.destroy();
    if (notifier) await notifier.close();
  }
}

/** The deployment's configuration, with the flags' overrides. */
function loadDeploymentConfig(
  options: DeployCommandOptions,
  flags: ReturnType<typeof readFlags>,
  { personal, branchSource, deployment }: WhoseBuild,
): Promise<DeployConfig> {
  return loadFlaggedConfig({ ...options, deployment }, { overrides: flags.overrides }).catch((error: unknown) => {
    // A personal build aimed at a deployment not its own is refused for that reason first, even when
    // the configuration has no such deployment (the refusal is what the user needs to read).
    if (personal && !options.forceShared)
      personalDeployment(personal, options.deployment, DEFAULT_SHARED, false, branchSource);
    throw error;
  });
}

/** The configuration as this run may use it: new host keys only by flag, a personal build only where it may go. */
function checkedConfig(
  config: DeployConfig,
  options: DeployCommandOptions,
  { personal, branchSource }: WhoseBuild,
): DeployConfig {
  if (personal)
    personalDeployment(
      personal,
      options.deployment,
      config.sharedDeployments,
      options.forceShared ?? false,
      branchSource,
      config.personalDeployments,
    );
  if (!options.acceptNewHostKeys) return config;
  return { ...config, ssh: { ...config.ssh, acceptNewHostKeys: checkKnownHostsWritable(config.ssh.knownHosts) } };
}

/** What the flags say beyond the configuration: overrides for it, pacing, the lock wait, the webhook. */
function readFlags(options: DeployCommandOptions) {
  const overrides: Record<string, unknown> = {};
  const rollout: Record<string, unknown> = {};
  if (options.serial !== undefined) rollout.serial = serialFromFlag(options.serial);
  if (options.onFailure !== undefined) rollout.onFailure = options.onFailure;
  if (options.noLoadBalancer) rollout.allowNoLoadBalancer = true;
  const canary = parseCanary(options.canary);
  // A timed canary is the executor's (its gate watches the bake); `confirm` is the terminal's.
  // As written (a number alone would read as seconds, as in baton.yaml).
  if (canary && 'watchMs' in canary) rollout.canary = { bake: options.canary };
  if (Object.keys(rollout).length) overrides.rollout = rollout;
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
  return { overrides, canary, lockWaitMs, webhook, step, asks: checkPaceNeedsTerminal({ step, canary }) };
}

interface RollOut {
  readonly options: DeployCommandOptions;
  readonly config: DeployConfig;
  readonly image: string | undefined;
  readonly playbook: Playbook;
  readonly deployment: string;
  readonly deployer: string;
  readonly source: HostSource;
  readonly store: StateStore;
  readonly ledger: RunLedger;
  readonly events: EventBus;
  readonly interrupt: InterruptController;
  readonly aws: AwsClients;
  readonly flags: ReturnType<typeof readFlags>;
}

/** The run itself, under the lock: warnings about where state lives, the rollback's hosts, the executor. */
async function rollOut(r: RollOut) {
  const { options, config, image, playbook, store, events } = r;
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
  return deploy({
    playbook,
    ...(login && { registryLogin: login }),
    config,
    image: image ?? "each host's previous container",
    targetImage: options.rollback ? (target) => target.previous?.image : undefined,
    deployment: r.deployment,
    deployer: r.deployer,
    check: options.check,
    listHosts: options.listHosts,
    inventory: { hosts: () => r.source.all(), fromFile: r.source.fromFile },
    limit:
      options.limit !== undefined
        ? (hosts) => r.source.select(hosts, options.limit!)
        : changed && ((hosts) => pickChanged(hosts, changed)),
    events,
    interrupt: r.interrupt,
    aws: r.aws,
    services: awsServices(r.aws),
    connect: (hosts) =>
      connectFleet(config, hosts, { onWarning: (message) => events.emit({ type: 'warning', message }) }),
    lock: async (hosts) => ({ where: await r.ledger.begin(hosts.map((h) => h.name)), journal: r.ledger.journal }),
    rollback: options.rollback,
    beforeFinish: (hosts) => writeRetryFile(hosts, playbook.name, config.rollout.retryFile, events, options),
    beforeBatch: pace({ step: r.flags.step, canary: r.flags.canary, interrupt: r.interrupt }),
  });
}

/** `--accept-new-host-keys` records keys: into a real file that can be written, never /dev/null (which would accept every key, every run). */
function checkKnownHostsWritable(file: string): true {
  const problem = knownHostsFileProblem(file);
  if (problem)
    throw new ConfigError('--accept-new-host-keys', `records new host keys in ssh.knownHosts, and ${file} ${problem}`);
  return true;
}
