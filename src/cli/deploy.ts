/** `baton deploy`: assembles the run's dependencies from typed options and hands over to the executor. */
import { userInfo } from 'node:os';
import { createAwsClients } from '../aws/clients.ts';
import { loadConfig } from '../config/index.ts';
import { selectHosts } from '../inventory/limit.ts';
import { loadPlaybook } from '../playbook/load.ts';
import { rollbackPlaybook } from '../playbook/rollback.ts';
import { chooseReporter, type ReporterName } from '../report/choose.ts';
import { EventBus } from '../rollout/events.ts';
import { InterruptController } from '../rollout/interrupt.ts';
import { deploy } from '../rollout/run.ts';
import { connectFleet } from '../ssh/fleet.ts';

export interface DeployCommandOptions {
  /** The image to deploy; absent for a rollback. */
  readonly image?: string;
  /** `baton rollback`: every selected host goes back to the container the last deploy kept. */
  readonly rollback?: boolean;
  readonly deployment: string;
  readonly configFile: string;
  readonly playbookFile?: string;
  readonly serial?: string;
  readonly check: boolean;
  readonly limit?: string;
  readonly listHosts?: boolean;
  readonly extraVars: readonly string[];
  readonly acceptNewHostKeys?: boolean;
  readonly reporter: ReporterName;
}

export async function runDeploy(options: DeployCommandOptions): Promise<number> {
  const overrides: Record<string, unknown> = {};
  if (options.serial !== undefined) overrides.rollout = { serial: /^\d+$/.test(options.serial) ? Number(options.serial) : options.serial };
  if (options.acceptNewHostKeys !== undefined) overrides.ssh = { acceptNewHostKeys: options.acceptNewHostKeys };
  const config = await loadConfig({ file: options.configFile, deployment: options.deployment, extraVars: [...options.extraVars], overrides });
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
      image: options.image ?? "each host's previous container",
      targetImage: options.rollback ? (target) => target.previous?.image : undefined,
      deployment: options.deployment,
      deployer: process.env.BATON_DEPLOYER ?? userInfo().username,
      check: options.check,
      listHosts: options.listHosts,
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
