/** `baton deploy`: assembles the run's dependencies from typed options and hands over to the executor. */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { createAwsClients, createEc2Client } from '../aws/clients.ts';
import { DEFAULT_SHARED, loadConfig } from '../config/index.ts';
import { parseDuration } from '../config/reader.ts';
import { selectHosts } from '../inventory/limit.ts';
import { isAwsEc2Inventory, loadAwsEc2Inventory } from '../inventory/aws-ec2.ts';
import { loadInventory } from '../inventory/static.ts';
import { loadPlaybook } from '../playbook/load.ts';
import { rollbackPlaybook } from '../playbook/rollback.ts';
import { ConfigError } from '../errors.ts';
import { parseRemoteRun, personalDeployment, remoteRunTag, teamcityBranch, type RemoteRun } from './remote-run.ts';
import { chooseReporter, type ReporterName } from '../report/choose.ts';
import { notifyWebhook, parseWebhookUrl } from '../report/notify.ts';
import { EventBus } from '../rollout/events.ts';
import { InterruptController } from '../rollout/interrupt.ts';
import { deploy } from '../rollout/run.ts';
import { connectFleet } from '../ssh/fleet.ts';
import { RunLedger } from '../state/ledger.ts';
import { checkPaceNeedsTerminal, pace, parseCanary } from './pace.ts';
import { describeHeld, inspectLock } from '../state/lock.ts';
import { openStateStore } from '../state/store.ts';

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
  readonly reporter: ReporterName;
}

export async function runDeploy(options: DeployCommandOptions): Promise<number> {
  const overrides: Record<string, unknown> = {};
  if (options.serial !== undefined) overrides.rollout = { serial: /^\d+$/.test(options.serial) ? Number(options.serial) : options.serial };
  if (options.acceptNewHostKeys !== undefined) overrides.ssh = { acceptNewHostKeys: options.acceptNewHostKeys };
  const canary = parseCanary(options.canary);
  const lockWaitMs = options.lockWait === undefined ? 0 : parseDuration(options.lockWait);
  if (lockWaitMs === undefined) throw new ConfigError('--lock-wait', `${JSON.stringify(options.lockWait)} is not a duration (like 30s or 10m)`);
  const webhook = process.env.BATON_WEBHOOK_URL ? parseWebhookUrl(process.env.BATON_WEBHOOK_URL, '$BATON_WEBHOOK_URL') : undefined;
  const step = options.step ?? false;
  checkPaceNeedsTerminal({ step, canary });
  const personal = parseRemoteRun(options.branch ?? teamcityBranch()?.branch);
  // A personal build goes to its user's own deployment unless another is named (then checked once loaded).
  const deployment = options.deployment ?? personal?.user;
  if (!deployment) throw new ConfigError('--deployment', 'say which deployment to deploy into (or build a remote-run/<user>/<feature> branch)');
  const loaded = await loadConfig({ file: options.configFile, deployment, extraVars: [...options.extraVars], overrides }).catch((error: unknown) => {
    // A personal build aimed at another deployment is refused for that reason first, even when the
    // configuration has no such deployment (the refusal is what the user needs to read).
    if (personal && options.deployment !== personal.user && !options.forceShared) personalDeployment(personal, options.deployment, DEFAULT_SHARED, false);
    throw error;
  });
  const ec2Inventory = options.inventoryFile !== undefined && isAwsEc2Inventory(options.inventoryFile);
  const inventory = options.inventoryFile && !ec2Inventory ? loadInventory(options.inventoryFile) : undefined;
  // A bastion named by the inventory's ProxyJump replaces the configuration's, as it would for ansible.
  const jump = inventory?.bastion;
  const config = jump ? { ...loaded, ssh: { ...loaded.ssh, bastion: { ...jump, user: jump.user || loaded.ssh.bastion?.user || loaded.ssh.user } } } : loaded;
  if (personal) personalDeployment(personal, options.deployment, config.sharedDeployments, options.forceShared ?? false);
  const image = options.image ?? personalImage(personal, options);
  const playbook = options.rollback ? rollbackPlaybook : await loadPlaybook(options.playbookFile);
  const events = new EventBus();
  // Prompts and a redrawing task list would fight over the terminal: asking means plain lines.
  const asks = step || (canary !== undefined && 'confirm' in canary);
  const reporter = chooseReporter(asks && options.reporter === 'auto' ? 'plain' : options.reporter, events);
  const interrupt = new InterruptController();
  const stopListening = interrupt.listen((count) =>
    events.emit({
      type: 'warning',
      message:
        count === 1
          ? 'interrupted: finishing the hosts in flight, then stopping (Ctrl-C again to abort them; guards are undone either way)'
          : 'interrupted again: aborting the steps in flight; hosts are put back and guards undone',
    }),
  );
  const aws = createAwsClients({ region: config.region, ...config.aws });
  // An aws_ec2 inventory may name other regions than the stack's: one EC2 client for each.
  const regional = new Map<string, EC2Client>([[config.region, aws.ec2]]);
  const ec2For = (region: string) => regional.get(region) ?? regional.set(region, createEc2Client({ ...config.aws, region })).get(region)!;
  const store = openStateStore(config);
  const deployer = process.env.BATON_DEPLOYER ?? userInfo().username;
  const kind = options.rollback ? 'rollback' : 'deploy';
  const notifier = webhook && !options.listHosts && notifyWebhook(webhook, events, { stack: config.stack, release: config.release, deployment, deployer, kind, ...(ciBuild() && { build: ciBuild() }) });
  const startedAt = new Date();
  const ledger =
    store &&
    new RunLedger(
      store,
      {
        id: `${startedAt.getTime().toString(36)}-${randomBytes(3).toString('hex')}`,
        kind,
        deployer,
        deployment,
        ...(image && { image }),
        ...(personal && { branch: personal.branch }),
        ...(ciBuild() && { build: ciBuild() }),
        startedAt: startedAt.toISOString(),
      },
      events,
      { waitMs: lockWaitMs, signal: interrupt.stopSignal },
    );
  try {
    if (!store && !options.check && !options.listHosts) {
      events.emit({ type: 'warning', message: `${config.source}: no state.bucket is configured, so this run takes no deploy lock and leaves no history` });
    }
    if (store && options.check) {
      const held = await inspectLock(store);
      if (held) events.emit({ type: 'warning', message: describeHeld(store, held) });
    }
    const result = await deploy({
      playbook,
      config,
      image: image ?? "each host's previous container",
      targetImage: options.rollback ? (target) => target.previous?.image : undefined,
      deployment,
      deployer,
      check: options.check,
      listHosts: options.listHosts,
      inventory: ec2Inventory ? () => loadAwsEc2Inventory(options.inventoryFile!, (region) => ec2For(region)) : inventory && (async () => inventory.hosts),
      limit: options.limit === undefined ? undefined : (hosts) => selectHosts(hosts, options.limit!, '--limit', inventory?.groupHosts),
      events,
      interrupt,
      aws,
      connect: (hosts) => connectFleet(config, hosts),
      lock: ledger && (() => ledger.begin()),
      beforeBatch: pace({ step, canary, events, interrupt }),
    });
    await ledger?.end(result);
    return result.exitCode;
  } catch (error) {
    await ledger?.end({ outcome: 'failed', exitCode: (error as { exitCode?: number }).exitCode ?? 1, hosts: [], error: (error as Error).message });
    throw error;
  } finally {
    stopListening();
    for (const client of regional.values()) client.destroy();
    aws.destroy();
    store?.close();
    if (notifier) await notifier.close();
    await reporter.close();
  }
}

/** The CI build this run is part of, for the lock and the history. */
function ciBuild(): string | undefined {
  const env = process.env;
  if (env.TEAMCITY_VERSION && env.BUILD_NUMBER) return `${env.TEAMCITY_BUILDCONF_NAME ?? 'TeamCity'} #${env.BUILD_NUMBER}`;
  return env.BUILD_URL;
}

/** A personal build's image: `<repository>:<user>-<feature>-<commit>`. */
function personalImage(run: RemoteRun | undefined, options: DeployCommandOptions): string | undefined {
  if (options.rollback) return undefined;
  if (!run) throw new ConfigError('--image', 'say which image to deploy');
  if (!options.imageRepository || !options.commit) {
    throw new ConfigError('--image', `give --image, or --image-repository and --commit to build the tag of ${run.branch} (the commit is read from BUILD_VCS_NUMBER under TeamCity)`);
  }
  return `${options.imageRepository}:${remoteRunTag(run, options.commit)}`;
}
