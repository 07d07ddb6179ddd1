/**
 * `deploy --list-hosts -i <static inventory>`: the hosts and batches a run would take, with no state
 * store, lock or AWS client opened: the configuration, the inventory, `--limit` and the batches only.
 * The hosts are found and selected by the same HostSource as a deploy's. EC2-tag and aws_ec2
 * inventories go the full way (they need AWS).
 */
import { serialFromFlag } from '../config/index.ts';
import { loadFlaggedConfig, type ConfigFlags } from './config-flags.ts';
import { ConfigError, ExitCode } from '../errors.ts';
import { imageReferenceProblem } from '../remote/image.ts';
import { describeHosts } from '../inventory/host.ts';
import { awsSettings, createAwsClients } from '../aws/clients.ts';
import { hostSource } from './hosts.ts';
import { loadPlaybook } from '../playbook/load.ts';
import { EventBus } from '../events/events.ts';
import { planFor, runStartedEvent } from '../rollout/plan.ts';
import { chooseReporter, type ReporterName } from '../report/choose.ts';

export interface ListHostsOptions extends ConfigFlags {
  readonly inventoryFile: string;
  readonly image?: string;
  readonly playbookFile?: string;
  readonly rollback?: boolean;
  readonly limit?: string;
  readonly serial?: string;
  readonly reporter: ReporterName;
}

export async function runListHosts(options: ListHostsOptions): Promise<number> {
  const imageProblem = options.image === undefined ? undefined : imageReferenceProblem(options.image);
  if (imageProblem) throw new ConfigError('--image', `${JSON.stringify(options.image)} ${imageProblem}`);
  const overrides = options.serial === undefined ? undefined : { rollout: { serial: serialFromFlag(options.serial) } };
  const config = await loadFlaggedConfig(options, overrides && { overrides });
  using source = await hostSource(config, options, () => createAwsClients(awsSettings(config)));
  const playbook = options.rollback
    ? (await import('../playbook/rollback.ts')).rollbackPlaybook
    : await loadPlaybook(options.playbookFile);
  const events = new EventBus();
  const reporter = chooseReporter(options.reporter, events);
  try {
    const started = Date.now();
    const found = await events.step(
      {},
      'inventory',
      async () => {
        const all = await source.all();
        return options.limit !== undefined ? source.select(all, options.limit) : all;
      },
      describeHosts,
    );
    const image = options.image ?? (options.rollback ? "each host's previous container" : '');
    events.emit(
      runStartedEvent(
        playbook,
        { image, deployment: options.deployment, check: true },
        found,
        planFor(found, playbook, config.rollout),
      ),
    );
    events.emit({
      type: 'run-finished',
      outcome: 'checked',
      exitCode: ExitCode.Ok,
      ms: Date.now() - started,
      hosts: [],
      maxRssKb: process.resourceUsage().maxRSS,
    });
    return ExitCode.Ok;
  } finally {
    await reporter.close();
  }
}
