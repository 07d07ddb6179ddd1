/**
 * The command line's options, each declared once, and the mapping of parsed flags to the typed options
 * the commands take. Nothing here runs a command.
 */
import type { Argv } from 'yargs';
import type { ReporterName } from '../report/choose.ts';
import { vaultPasswordsFrom, type VaultPasswords } from '../secrets/sources.ts';

/** Options several commands share. */
export const DEPLOYMENT = {
  type: 'string',
  demandOption: true,
  describe: 'the deployment: integration, production, your own',
} as const;
export const CONFIG = { type: 'string', default: 'baton.yaml', describe: 'the configuration file' } as const;
export const LIMIT = { alias: 'l', type: 'string', describe: 'only these hosts: an Ansible host pattern' } as const;
export const INVENTORY = {
  alias: 'i',
  type: 'string',
  describe: 'a static Ansible inventory (INI or YAML) or an aws_ec2 inventory file instead of EC2 tags',
} as const;
export const JSON_OUTPUT = { type: 'boolean', default: false, describe: 'print JSON' } as const;
export const extraVars = (example: string) =>
  ({
    alias: 'e',
    type: 'string',
    array: true,
    default: [] as string[],
    describe: `override a setting: -e ${example}`,
  }) as const;

/** A flag that may be repeated: none, one, or several values. */
export const list = (v: unknown): string[] => (v === undefined ? [] : ([] as unknown[]).concat(v).map(String));

/** The global `--vault-id` and `--vault-password-file` flags, as every command may be given them. */
export interface VaultFlags {
  'vault-id'?: unknown;
  'vault-password-file'?: unknown;
}

/** The Ansible Vault passwords a command was given, for whatever file of its turns out vaulted. */
export function vaultPasswordsOf(args: object): VaultPasswords {
  const flags: VaultFlags = args;
  return vaultPasswordsFrom({ vaultIds: list(flags['vault-id']), passwordFiles: list(flags['vault-password-file']) });
}

/**
 * `--list-hosts` from a static inventory needs no AWS: a light path that loads none of the SDK. EC2
 * tags, an aws_ec2 inventory, a remote-run branch or TeamCity (whose branch picks the deployment) take
 * the full one.
 */
export function quickList(args: {
  'list-hosts': boolean;
  inventory?: string;
  deployment?: string;
  branch?: string;
}): boolean {
  return (
    args['list-hosts'] &&
    args.inventory !== undefined &&
    !/aws_ec2\.ya?ml$/.test(args.inventory) &&
    args.deployment !== undefined &&
    !args.branch &&
    !process.env.TEAMCITY_VERSION
  );
}

export function quickListArgs(
  args: VaultFlags & {
    deployment?: string;
    config: string;
    inventory?: string;
    limit?: string;
    serial?: string;
    'extra-vars': (string | number)[];
    reporter: ReporterName;
  },
) {
  return {
    deployment: args.deployment!,
    configFile: args.config,
    inventoryFile: args.inventory!,
    limit: args.limit,
    serial: args.serial,
    extraVars: args['extra-vars'].map(String),
    vaultPasswords: vaultPasswordsOf(args),
    reporter: args.reporter,
  };
}

/** `baton vault` file commands' options, as ansible-vault names them. */
export function vaultFileOptions<T>(y: Argv<T>) {
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

export const vaultFileArgs = (
  args: VaultFlags & { files: string[]; output?: string; 'encrypt-vault-id'?: string },
) => ({
  vaultPasswords: vaultPasswordsOf(args),
  files: args.files.map(String),
  output: args.output,
  encryptVaultId: args['encrypt-vault-id'],
});

/** The options `deploy` and `rollback` share. */
export function rolloutOptions<T>(y: Argv<T>) {
  return y
    .option('deployment', { ...DEPLOYMENT, demandOption: false })
    .option('config', CONFIG)
    .option('serial', { type: 'string', describe: 'hosts per batch: a count or a percentage' })
    .option('check', {
      type: 'boolean',
      default: false,
      describe: 'print what every step would do on every host, and change nothing',
    })
    .option('limit', {
      ...LIMIT,
      describe: "only these hosts: an Ansible host pattern ('app-1', 'web:!app-3', '~app-[12]', @retry-file)",
    })
    .option('list-hosts', {
      type: 'boolean',
      default: false,
      describe: 'print the selected hosts and batches, then exit',
    })
    .option('inventory', { ...INVENTORY, describe: 'a static Ansible inventory (INI or YAML) instead of EC2 tags' })
    .option('extra-vars', extraVars('rollout.serial=2'))
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

/** `--deployment`, `--config` and `-e`: the options of every command that acts on one named deployment. */
function deploymentOptions<T>(y: Argv<T>, example: string) {
  return y.option('deployment', DEPLOYMENT).option('config', CONFIG).option('extra-vars', extraVars(example));
}

/** The same three, as the commands take them, with the vault passwords the configuration may need. */
function deploymentArgs(args: VaultFlags & { deployment: string; config: string; 'extra-vars': (string | number)[] }) {
  return {
    deployment: args.deployment,
    configFile: args.config,
    extraVars: args['extra-vars'].map(String),
    vaultPasswords: vaultPasswordsOf(args),
  };
}

/** The options `recover` and `resume` share. */
export function recoverOptions<T>(y: Argv<T>) {
  return deploymentOptions(y, 'ssh.user=admin')
    .option('check', { type: 'boolean', default: false, describe: 'print what would be done, and change nothing' })
    .option('reporter', {
      choices: ['auto', 'tty', 'plain', 'json', 'teamcity'] as const,
      default: 'auto' as const,
      describe: 'how progress is shown',
    });
}

export function recoverArgs(args: Parameters<typeof deploymentArgs>[0] & { check: boolean; reporter: ReporterName }) {
  return { ...deploymentArgs(args), check: args.check, reporter: args.reporter };
}

/** The options of the commands that read the state bucket. */
export function stateOptions<T>(y: Argv<T>) {
  return deploymentOptions(y, 'state.bucket=other').option('json', JSON_OUTPUT);
}

export function stateArgs(args: Parameters<typeof deploymentArgs>[0] & { json: boolean }) {
  return { ...deploymentArgs(args), json: args.json };
}

export type RolloutArgs = Awaited<ReturnType<ReturnType<typeof rolloutOptions>['parseAsync']>>;

export function rolloutArgs(args: RolloutArgs) {
  return {
    deployment: args.deployment,
    configFile: args.config,
    serial: args.serial,
    check: args.check,
    limit: args.limit,
    listHosts: args['list-hosts'],
    inventoryFile: args.inventory,
    extraVars: args['extra-vars'].map(String),
    vaultPasswords: vaultPasswordsOf(args),
    acceptNewHostKeys: args['accept-new-host-keys'],
    step: args.step,
    canary: args.canary,
    lockWait: args['lock-wait'],
    onFailure: args['on-failure'],
    ...(args['load-balancer'] === false && { noLoadBalancer: true }),
    reporter: args.reporter,
  };
}
