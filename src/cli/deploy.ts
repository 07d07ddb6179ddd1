/** `baton deploy`: assembles the run's dependencies from typed options and hands over to the executor. */
import { userInfo } from 'node:os';
import { createAwsClients } from '../aws/clients.ts';
import { loadConfig } from '../config/index.ts';
import { selectHosts } from '../inventory/limit.ts';
import { loadInventory } from '../inventory/static.ts';
import { loadPlaybook } from '../playbook/load.ts';
import { rollbackPlaybook } from '../playbook/rollback.ts';
import { ConfigError } from '../errors.ts';
import { parseRemoteRun, personalDeployment, remoteRunTag, type RemoteRun } from './remote-run.ts';
import { chooseReporter, type ReporterName } from '../report/choose.ts';
import { EventBus } from '../rollout/events.ts';
import { InterruptController } from '../rollout/interrupt.ts';
import { deploy } from '../rollout/run.ts';
import { connectFleet } from '../ssh/fleet.ts';

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
  readonly reporter: ReporterName;
}

export async function runDeploy(options: DeployCommandOptions): Promise<number> {
  const overrides: Record<string, unknown> = {};
  if (options.serial !== undefined) overrides.rollout = { serial: /^\d+$/.test(options.serial) ? Number(options.serial) : options.serial };
  if (options.acceptNewHostKeys !== undefined) overrides.ssh = { acceptNewHostKeys: options.acceptNewHostKeys };
  const personal = parseRemoteRun(options.branch);
  // A personal build goes to its user's own deployment unless another is named (then checked once loaded).
  const deployment = options.deployment ?? personal?.user;
  if (!deployment) throw new ConfigError('--deployment', 'say which deployment to deploy into (or build a remote-run/<user>/<feature> branch)');
  const loaded = await loadConfig({ file: options.configFile, deployment, extraVars: [...options.extraVars], overrides });
  const inventory = options.inventoryFile ? loadInventory(options.inventoryFile) : undefined;
  // A bastion named by the inventory's ProxyJump replaces the configuration's, as it would for ansible.
  const jump = inventory?.bastion;
  const config = jump ? { ...loaded, ssh: { ...loaded.ssh, bastion: { ...jump, user: jump.user || loaded.ssh.bastion?.user || loaded.ssh.user } } } : loaded;
  if (personal) personalDeployment(personal, options.deployment, config.sharedDeployments, options.forceShared ?? false);
  const image = options.image ?? personalImage(personal, options);
  const playbook = options.rollback ? rollbackPlaybook : await loadPlaybook(options.playbookFile);
  const events = new EventBus();
  const reporter = chooseReporter(options.reporter, events);
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
  try {
    const result = await deploy({
      playbook,
      config,
      image: image ?? "each host's previous container",
      targetImage: options.rollback ? (target) => target.previous?.image : undefined,
      deployment,
      deployer: process.env.BATON_DEPLOYER ?? userInfo().username,
      check: options.check,
      listHosts: options.listHosts,
      inventory: inventory && (async () => inventory.hosts),
      limit: options.limit === undefined ? undefined : (hosts) => selectHosts(hosts, options.limit!),
      events,
      interrupt,
      aws,
      connect: (hosts) => connectFleet(config, hosts),
    });
    return result.exitCode;
  } finally {
    stopListening();
    aws.destroy();
    await reporter.close();
  }
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
