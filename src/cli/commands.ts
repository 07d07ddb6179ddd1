/**
 * The commands, as yargs declares them: each maps its flags to a typed options object and hands it to
 * its command module, loaded only when it runs (`baton --help` never loads the AWS SDK or listr2).
 * `run` keeps the exit code the command returns.
 */
import type { Argv } from 'yargs';
import { UsageError } from './boundary.ts';
import {
  CONFIG,
  DEPLOYMENT,
  extraVars,
  INVENTORY,
  JSON_OUTPUT,
  LIMIT,
  list,
  quickList,
  quickListArgs,
  recoverArgs,
  recoverOptions,
  rolloutArgs,
  rolloutOptions,
  stateArgs,
  stateOptions,
  vaultFileArgs,
  vaultFileOptions,
  vaultPasswordsOf,
} from './options.ts';

/** Runs a command and keeps its exit code. */
export type Run = (command: () => Promise<number>) => Promise<void>;

const load = {
  deploy: () => import('./deploy.ts'),
  recover: () => import('./recover.ts'),
  resume: () => import('./resume.ts'),
  state: () => import('./state.ts'),
  status: () => import('./status.ts'),
  vault: () => import('./vault.ts'),
  config: () => import('./config.ts'),
  listHosts: () => import('./list-hosts.ts'),
};

/** `deploy` and `rollback`. */
export function rolloutCommands<T>(y: Argv<T>, run: Run): Argv<T> {
  return y
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
      (args) =>
        run(async () => {
          if (quickList(args))
            return (await load.listHosts()).runListHosts({
              ...quickListArgs(args),
              image: args.image,
              playbookFile: args.playbook,
            });
          return (await load.deploy()).runDeploy({
            ...rolloutArgs(args),
            image: args.image,
            playbookFile: args.playbook,
            branch: args.branch,
            commit: args.commit,
            imageRepository: args['image-repository'],
            forceShared: args['force-shared'],
          });
        }),
    )
    .command(
      'rollback',
      'put every selected host back on the container the last deploy kept, host by host, with the same guards',
      (y) => rolloutOptions(y),
      (args) =>
        run(async () =>
          quickList(args)
            ? (await load.listHosts()).runListHosts({ ...quickListArgs(args), rollback: true })
            : (await load.deploy()).runDeploy({ ...rolloutArgs(args), rollback: true }),
        ),
    );
}

/** `recover` and `resume`: what a run that did not finish left. */
export function recoverCommands<T>(y: Argv<T>, run: Run): Argv<T> {
  return y
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
      (args) =>
        run(async () =>
          (await load.recover()).runRecover({
            ...recoverArgs(args),
            ...(args.forget && { forget: args.forget }),
            ...(args.reason !== undefined && { reason: args.reason }),
          }),
        ),
    )
    .command(
      'resume',
      'finish the rollout a run did not: recover what it left open, then deploy its image to its remaining hosts',
      (y) =>
        recoverOptions(y).option('accept-new-host-keys', {
          type: 'boolean',
          describe: 'trust and record unknown host keys (like StrictHostKeyChecking=accept-new)',
        }),
      (args) =>
        run(async () =>
          (await load.resume()).runResume({ ...recoverArgs(args), acceptNewHostKeys: args['accept-new-host-keys'] }),
        ),
    );
}

/** `status`, `lock`, `history` and `config show`: what the fleet and the state bucket say. */
export function inspectCommands<T>(y: Argv<T>, run: Run): Argv<T> {
  return y
    .command(
      'status',
      'show what each host runs, since when and by whom, its load balancer state and rollback candidate',
      (y) =>
        y
          .option('deployment', DEPLOYMENT)
          .option('config', CONFIG)
          .option('limit', LIMIT)
          .option('inventory', INVENTORY)
          .option('extra-vars', extraVars('ssh.user=admin'))
          .option('json', JSON_OUTPUT),
      (args) =>
        run(async () =>
          (await load.status()).runStatus({
            deployment: args.deployment,
            configFile: args.config,
            limit: args.limit,
            inventoryFile: args.inventory,
            extraVars: args['extra-vars'].map(String),
            vaultPasswords: vaultPasswordsOf(args),
            json: args.json,
          }),
        ),
    )
    .command('lock', 'show or release the deploy lock of a deployment', (y) =>
      stateOptions(y)
        .command(
          'status',
          'who holds the lock, since when, doing what, and whether that run is gone',
          (y2) => y2,
          (args) => run(async () => (await load.state()).runLockStatus(stateArgs(args))),
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
          (args) => run(async () => (await load.state()).runLockRelease({ ...stateArgs(args), force: args.force })),
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
      (args) =>
        run(async () => {
          if (!Number.isInteger(args.last) || args.last < 1)
            throw new UsageError(`--last ${String(args.last)} is not a positive whole number`);
          return (await load.state()).runHistory({ ...stateArgs(args), last: args.last });
        }),
    )
    .command('config', 'show the configuration a deployment runs with', (y) =>
      y
        .command(
          'show',
          'every setting, resolved, with where it came from (secrets as ***)',
          (y2) => stateOptions(y2),
          (args) => run(async () => (await load.config()).runConfigShow(stateArgs(args))),
        )
        .demandCommand(1, 'say what to do: baton config show --deployment <name>'),
    );
}

/** `vault`: ansible-vault's commands, same files and options. */
export function vaultCommands<T>(y: Argv<T>, run: Run): Argv<T> {
  return y.command(
    'vault',
    'encrypt and decrypt files and values with Ansible Vault, as ansible-vault does (same format and options)',
    (y) =>
      y
        .command('encrypt [files..]', 'encrypt files in place (or stdin to stdout)', vaultFileOptions, (args) =>
          run(async () => (await load.vault()).runVaultEncrypt(vaultFileArgs(args))),
        )
        .command('decrypt [files..]', 'decrypt files in place (or stdin to stdout)', vaultFileOptions, (args) =>
          run(async () => (await load.vault()).runVaultDecrypt(vaultFileArgs(args))),
        )
        .command('view [files..]', 'print decrypted files', vaultFileOptions, (args) =>
          run(async () => (await load.vault()).runVaultView(vaultFileArgs(args))),
        )
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
          (args) =>
            run(async () =>
              (await load.vault()).runVaultEncryptString({
                strings: args.strings.map(String),
                names: list(args.name),
                stdinName: args['stdin-name'],
                encryptVaultId: args['encrypt-vault-id'],
                vaultPasswords: vaultPasswordsOf(args),
              }),
            ),
        )
        .demandCommand(1, 'say what to do: baton vault encrypt | decrypt | view | encrypt-string'),
  );
}
