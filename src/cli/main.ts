/**
 * The command line: declares commands and flags, maps them to typed options, dispatches. No logic here.
 * `main` is the one error boundary: everything below throws; here errors become messages and exit codes.
 */
import yargs, { type Argv } from 'yargs';
import { BatonError, ExitCode } from '../errors.ts';
import { maskSecrets } from '../secrets/mask.ts';
import { printable } from '../printable.ts';
import { setVaultPasswordSources } from '../secrets/sources.ts';
import { problemIdentity, serviceMessage } from '../report/teamcity.ts';
import type { ReporterName } from '../report/choose.ts';
import { readFileSync } from 'node:fs';

// Each command loads what it needs when it runs: `baton --help` never loads the AWS SDK or listr2.
const commands = {
  deploy: () => import('./deploy.ts'),
  recover: () => import('./recover.ts'),
  state: () => import('./state.ts'),
  status: () => import('./status.ts'),
  vault: () => import('./vault.ts'),
  config: () => import('./config.ts'),
  listHosts: () => import('./list-hosts.ts'),
};

/**
 * `--list-hosts` from a static inventory needs no AWS: a light path that loads none of the SDK. EC2
 * tags, an aws_ec2 inventory, a remote-run branch or TeamCity (whose branch picks the deployment) take
 * the full one.
 */
function quickList(args: { 'list-hosts': boolean; inventory?: string; deployment?: string; branch?: string }): boolean {
  return (
    args['list-hosts'] &&
    args.inventory !== undefined &&
    !/aws_ec2\.ya?ml$/.test(args.inventory) &&
    args.deployment !== undefined &&
    !args.branch &&
    !process.env.TEAMCITY_VERSION
  );
}

function quickListArgs(args: {
  deployment?: string;
  config: string;
  inventory?: string;
  limit?: string;
  serial?: string;
  'extra-vars': (string | number)[];
  reporter: ReporterName;
}) {
  return {
    deployment: args.deployment!,
    configFile: args.config,
    inventoryFile: args.inventory!,
    limit: args.limit,
    serial: args.serial,
    extraVars: args['extra-vars'].map(String),
    reporter: args.reporter,
  };
}

/** `baton vault` file commands' options, as ansible-vault names them. */
function vaultFileOptions<T>(y: Argv<T>) {
  return y
    .positional('files', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'files (none or - : stdin)',
    })
    .option('output', { type: 'string', describe: 'write here instead of in place (- : stdout)' })
    .option('encrypt-vault-id', { type: 'string', describe: 'the vault id to encrypt with, when several are given' });
}

/** A flag that may be repeated: none, one, or several values. */
const list = (v: unknown): string[] => (v === undefined ? [] : ([] as unknown[]).concat(v).map(String));

const vaultFileArgs = (args: { files: string[]; output?: string; 'encrypt-vault-id'?: string }) => ({
  files: args.files.map(String),
  output: args.output,
  encryptVaultId: args['encrypt-vault-id'],
});

/** The version in package.json, found from the built or the source tree alike. */
function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // Not here: the next level up.
    }
  }
  return 'unknown';
}

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  try {
    await yargs(argv)
      .scriptName('baton')
      .usage('$0 <command> [options]')
      .command(
        'deploy',
        'roll a new image across the fleet, host by host',
        (y) =>
          rolloutOptions(y)
            .option('image', { type: 'string', describe: 'the image to deploy (registry/name:tag)' })
            .option('playbook', {
              type: 'string',
              describe: 'a TypeScript playbook (default: the built-in rolling deploy)',
            })
            .option('branch', {
              type: 'string',
              default: process.env.BATON_BRANCH,
              defaultDescription: "$BATON_BRANCH, else TeamCity's teamcity.build.branch",
              describe: "the branch being built: remote-run/<user>/<feature> deploys into <user>'s own deployment",
            })
            .option('commit', {
              type: 'string',
              default: process.env.BUILD_VCS_NUMBER ?? process.env.GIT_COMMIT,
              defaultDescription: '$BUILD_VCS_NUMBER or $GIT_COMMIT',
              describe: 'the commit built, for the image tag of a remote-run build',
            })
            .option('image-repository', {
              type: 'string',
              describe: 'with a remote-run branch and no --image: deploy <repository>:<user>-<feature>-<commit>',
            })
            .option('force-shared', {
              type: 'boolean',
              default: false,
              describe: 'let a remote-run build deploy into a deployment other than its own',
            }),
        async (args) => {
          if (quickList(args)) {
            exitCode = await (
              await commands.listHosts()
            ).runListHosts({ ...quickListArgs(args), image: args.image, playbookFile: args.playbook });
            return;
          }
          exitCode = await (
            await commands.deploy()
          ).runDeploy({
            ...rolloutArgs(args),
            image: args.image,
            playbookFile: args.playbook,
            branch: args.branch,
            commit: args.commit,
            imageRepository: args['image-repository'],
            forceShared: args['force-shared'],
          });
        },
      )
      .command(
        'rollback',
        'put every selected host back on the container the last deploy kept, host by host, with the same guards',
        (y) => rolloutOptions(y),
        async (args) => {
          if (quickList(args)) {
            exitCode = await (await commands.listHosts()).runListHosts({ ...quickListArgs(args), rollback: true });
            return;
          }
          exitCode = await (await commands.deploy()).runDeploy({ ...rolloutArgs(args), rollback: true });
        },
      )
      .command(
        'recover',
        'undo what a run that did not finish left open (hosts out of service, autoscaling suspended, alarms silenced), newest first',
        (y) =>
          recoverOptions(y)
            .option('forget', {
              type: 'number',
              array: true,
              describe:
                'close these journal entries (by number, as `lock status --json` lists them) without undoing them: what was undone by hand, or can never be',
            })
            .option('reason', {
              type: 'string',
              describe: 'with --forget: why, recorded in the history with who forgot them',
            }),
        async (args) => {
          exitCode = await (
            await commands.recover()
          ).runRecover({
            ...recoverArgs(args),
            ...(args.forget && { forget: args.forget }),
            ...(args.reason !== undefined && { reason: args.reason }),
          });
        },
      )
      .command(
        'resume',
        'finish the rollout a run did not: recover what it left open, then deploy its image to its remaining hosts',
        (y) =>
          recoverOptions(y).option('accept-new-host-keys', {
            type: 'boolean',
            describe: 'trust and record unknown host keys (like StrictHostKeyChecking=accept-new)',
          }),
        async (args) => {
          exitCode = await (
            await commands.recover()
          ).runResume({ ...recoverArgs(args), acceptNewHostKeys: args['accept-new-host-keys'] });
        },
      )
      .command(
        'status',
        'show what each host runs, since when and by whom, its load balancer state and rollback candidate',
        (y) =>
          y
            .option('deployment', {
              type: 'string',
              demandOption: true,
              describe: 'the deployment: integration, production, your own',
            })
            .option('config', { type: 'string', default: 'baton.yaml', describe: 'the configuration file' })
            .option('limit', { alias: 'l', type: 'string', describe: 'only these hosts: an Ansible host pattern' })
            .option('inventory', {
              alias: 'i',
              type: 'string',
              describe: 'a static Ansible inventory (INI or YAML) or an aws_ec2 inventory file instead of EC2 tags',
            })
            .option('extra-vars', {
              alias: 'e',
              type: 'string',
              array: true,
              default: [],
              describe: 'override a setting: -e ssh.user=admin',
            })
            .option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
        async (args) => {
          exitCode = await (
            await commands.status()
          ).runStatus({
            deployment: args.deployment,
            configFile: args.config,
            limit: args.limit,
            inventoryFile: args.inventory,
            extraVars: args['extra-vars'].map(String),
            json: args.json,
          });
        },
      )
      .command('lock', 'show or release the deploy lock of a deployment', (y) =>
        stateOptions(y)
          .command(
            'status',
            'who holds the lock, since when, doing what, and whether that run is gone',
            (y2) => y2,
            async (args) => {
              exitCode = await (await commands.state()).runLockStatus(stateArgs(args));
            },
          )
          .command(
            'release',
            'remove the lock a run that is gone left behind',
            (y2) =>
              y2.option('force', {
                type: 'boolean',
                default: false,
                describe: 'required: say you checked that its holder is gone',
              }),
            async (args) => {
              exitCode = await (await commands.state()).runLockRelease({ ...stateArgs(args), force: args.force });
            },
          )
          .demandCommand(1, 'say what to do: baton lock status, or baton lock release --force'),
      )
      .command(
        'history',
        'list the runs recorded for a deployment: who, when, image before and after, hosts, result, duration',
        (y) =>
          stateOptions(y).option('last', {
            type: 'number',
            default: 20,
            describe: 'how many runs to show, newest first',
          }),
        async (args) => {
          if (!Number.isInteger(args.last) || args.last < 1)
            throw new UsageError(`--last ${String(args.last)} is not a positive whole number`);
          exitCode = await (await commands.state()).runHistory({ ...stateArgs(args), last: args.last });
        },
      )
      .command('config', 'show the configuration a deployment runs with', (y) =>
        y
          .command(
            'show',
            'every setting, resolved, with where it came from (secrets as ***)',
            (y2) => stateOptions(y2),
            async (args) => {
              exitCode = await (await commands.config()).runConfigShow(stateArgs(args));
            },
          )
          .demandCommand(1, 'say what to do: baton config show --deployment <name>'),
      )
      .command(
        'vault',
        'encrypt and decrypt files and values with Ansible Vault, as ansible-vault does (same format and options)',
        (y) =>
          y
            .command(
              'encrypt [files..]',
              'encrypt files in place (or stdin to stdout)',
              vaultFileOptions,
              async (args) => {
                exitCode = await (await commands.vault()).runVaultEncrypt(vaultFileArgs(args));
              },
            )
            .command(
              'decrypt [files..]',
              'decrypt files in place (or stdin to stdout)',
              vaultFileOptions,
              async (args) => {
                exitCode = await (await commands.vault()).runVaultDecrypt(vaultFileArgs(args));
              },
            )
            .command('view [files..]', 'print decrypted files', vaultFileOptions, async (args) => {
              exitCode = await (await commands.vault()).runVaultView(vaultFileArgs(args));
            })
            .command(
              ['encrypt-string [strings..]', 'encrypt_string'],
              'print a !vault value to paste into YAML',
              (y2) =>
                y2
                  .positional('strings', { type: 'string', array: true, default: [] as string[] })
                  .option('name', {
                    alias: 'n',
                    type: 'string',
                    nargs: 1,
                    describe: 'the key for each string (repeat for several)',
                  })
                  .option('stdin-name', { type: 'string', describe: 'read the string from stdin and name it so' })
                  .option('encrypt-vault-id', {
                    type: 'string',
                    describe: 'the vault id to encrypt with, when several are given',
                  }),
              async (args) => {
                exitCode = await (
                  await commands.vault()
                ).runVaultEncryptString({
                  strings: args.strings.map(String),
                  names: list(args.name),
                  stdinName: args['stdin-name'],
                  encryptVaultId: args['encrypt-vault-id'],
                });
              },
            )
            .demandCommand(1, 'say what to do: baton vault encrypt | decrypt | view | encrypt-string'),
      )
      .option('vault-id', {
        type: 'string',
        nargs: 1,
        global: true,
        describe:
          'an Ansible Vault password: label@file, label@prompt, or a file (as ansible-vault; repeat for several)',
      })
      .option('vault-password-file', {
        type: 'string',
        nargs: 1,
        global: true,
        describe: 'an Ansible Vault password file (the default vault id)',
      })
      .middleware((args) =>
        setVaultPasswordSources({ vaultIds: list(args['vault-id']), passwordFiles: list(args['vault-password-file']) }),
      )
      .demandCommand(1, 'say what to do: baton deploy --help')
      .strict()
      .recommendCommands()
      .completion('completion', 'print a shell completion script')
      .help()
      .version('version', 'print the version of baton', version())
      .alias('version', 'V')
      .fail((message, error) => {
        throw error ?? new UsageError(message);
      })
      .parseAsync();
  } catch (error) {
    return report(error);
  }
  return exitCode;
}

/** The options `deploy` and `rollback` share. */
function rolloutOptions<T>(y: Argv<T>) {
  return y
    .option('deployment', { type: 'string', describe: 'the deployment: integration, production, your own' })
    .option('config', { type: 'string', default: 'baton.yaml', describe: 'the configuration file' })
    .option('serial', { type: 'string', describe: 'hosts per batch: a count or a percentage' })
    .option('check', {
      type: 'boolean',
      default: false,
      describe: 'print what every step would do on every host, and change nothing',
    })
    .option('limit', {
      alias: 'l',
      type: 'string',
      describe: "only these hosts: an Ansible host pattern ('app-1', 'web:!app-3', '~app-[12]', @retry-file)",
    })
    .option('list-hosts', {
      type: 'boolean',
      default: false,
      describe: 'print the selected hosts and batches, then exit',
    })
    .option('inventory', {
      alias: 'i',
      type: 'string',
      describe: 'a static Ansible inventory (INI or YAML) instead of EC2 tags',
    })
    .option('extra-vars', {
      alias: 'e',
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'override a setting: -e rollout.serial=2',
    })
    .option('lock-wait', {
      type: 'string',
      describe: 'when another run holds the deploy lock, wait this long for it (30s, 10m) instead of failing at once',
    })
    .option('step', {
      type: 'boolean',
      default: false,
      describe: 'ask before each batch, at a terminal: yes, no (stop here), or continue without asking',
    })
    .option('canary', {
      type: 'string',
      describe:
        'after the first batch, watch it for a while (--canary 5m) or until you confirm at the terminal (--canary confirm)',
    })
    .option('accept-new-host-keys', {
      type: 'boolean',
      describe: 'trust and record unknown host keys (like StrictHostKeyChecking=accept-new)',
    })
    .option('on-failure', {
      choices: ['rollback', 'stop'] as const,
      describe:
        'when a batch fails: put the hosts already switched back (rollback, the default) or leave the fleet mixed and say how (stop)',
    })
    .option('load-balancer', {
      type: 'boolean',
      default: true,
      describe:
        '--no-load-balancer: deploy hosts that are in no load balancer Baton can see (else refused: they would be stopped while still taking traffic)',
    })
    .option('reporter', {
      choices: ['auto', 'tty', 'plain', 'json', 'teamcity'] as const,
      default: 'auto' as const,
      describe: 'how progress is shown (auto: teamcity under TeamCity, tty in a terminal, else plain)',
    });
}

/** The options `recover` and `resume` share. */
function recoverOptions<T>(y: Argv<T>) {
  return y
    .option('deployment', {
      type: 'string',
      demandOption: true,
      describe: 'the deployment: integration, production, your own',
    })
    .option('config', { type: 'string', default: 'baton.yaml', describe: 'the configuration file' })
    .option('extra-vars', {
      alias: 'e',
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'override a setting: -e ssh.user=admin',
    })
    .option('check', { type: 'boolean', default: false, describe: 'print what would be done, and change nothing' })
    .option('reporter', {
      choices: ['auto', 'tty', 'plain', 'json', 'teamcity'] as const,
      default: 'auto' as const,
      describe: 'how progress is shown',
    });
}

function recoverArgs(args: {
  deployment: string;
  config: string;
  'extra-vars': (string | number)[];
  check: boolean;
  reporter: ReporterName;
}) {
  return {
    deployment: args.deployment,
    configFile: args.config,
    extraVars: args['extra-vars'].map(String),
    check: args.check,
    reporter: args.reporter,
  };
}

/** The options of the commands that read the state bucket. */
function stateOptions<T>(y: Argv<T>) {
  return y
    .option('deployment', {
      type: 'string',
      demandOption: true,
      describe: 'the deployment: integration, production, your own',
    })
    .option('config', { type: 'string', default: 'baton.yaml', describe: 'the configuration file' })
    .option('extra-vars', {
      alias: 'e',
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'override a setting: -e state.bucket=other',
    })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' });
}

function stateArgs(args: { deployment: string; config: string; 'extra-vars': (string | number)[]; json: boolean }) {
  return {
    deployment: args.deployment,
    configFile: args.config,
    extraVars: args['extra-vars'].map(String),
    json: args.json,
  };
}

type RolloutArgs = Awaited<ReturnType<ReturnType<typeof rolloutOptions>['parseAsync']>>;

function rolloutArgs(args: RolloutArgs) {
  return {
    deployment: args.deployment,
    configFile: args.config,
    serial: args.serial,
    check: args.check,
    limit: args.limit,
    listHosts: args['list-hosts'],
    inventoryFile: args.inventory,
    extraVars: args['extra-vars'].map(String),
    acceptNewHostKeys: args['accept-new-host-keys'],
    step: args.step,
    canary: args.canary,
    lockWait: args['lock-wait'],
    onFailure: args['on-failure'],
    ...(args['load-balancer'] === false && { noLoadBalancer: true }),
    reporter: args.reporter,
  };
}

class UsageError extends BatonError {
  override readonly exitCode = ExitCode.BadInput;
}

function report(error: unknown): number {
  if (error instanceof Error) error.message = maskSecrets(error.message);
  if (error instanceof BatonError) {
    process.stderr.write(`baton: ${printable(error.message)}\n`);
    if (
      error.exitCode === ExitCode.BadInput ||
      error.exitCode === ExitCode.Locked ||
      error.exitCode === ExitCode.Unchanged
    )
      process.stderr.write('nothing on the fleet was changed\n');
    teamcityProblem(error.message, error.name);
    return error.exitCode;
  }
  const aws = awsProblem(error);
  if (aws) {
    // Raised before the guards (inventory, discovery): nothing changed. After them, the executor reports.
    process.stderr.write(`baton: ${aws}\nnothing on the fleet was changed\n`);
    teamcityProblem(aws, 'aws');
    return ExitCode.Unchanged;
  }
  process.stderr.write(
    `baton: unexpected error: ${printable(maskSecrets((error as Error)?.stack ?? String(error)))}\n`,
  );
  teamcityProblem(`unexpected error: ${String(error)}`, 'unexpected');
  return ExitCode.NeedsOperator;
}

/** Under TeamCity, an error that stops Baton before a run is also a build problem, one per kind of error. */
function teamcityProblem(description: string, kind: string): void {
  if (!process.env.TEAMCITY_VERSION) return;
  process.stdout.write(
    `${serviceMessage('buildProblem', { description: description.slice(0, 4000), identity: problemIdentity('error', kind) })}\n`,
  );
}

/** An AWS SDK error (a service answer, or no credentials) as one line an operator can act on. */
function awsProblem(error: unknown): string | undefined {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  if (e?.name === 'CredentialsProviderError') {
    return `AWS credentials not found: ${e.message} (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance role applies)`;
  }
  if (e?.$metadata) {
    return `AWS answered ${e.name}${e.$metadata.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}: ${e.message}${e.$metadata.requestId ? ` [request ${e.$metadata.requestId}]` : ''}`;
  }
  return undefined;
}
