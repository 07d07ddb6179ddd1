/**
 * baton.yaml: read once, layered (file top level, then the deployment's overlay, then command-line
 * overrides, then `-e` extra vars), validated once into the readonly DeployConfig. Every problem is
 * reported together, each naming its path, its value and where it came from.
 */
import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import { decryptVault, isVaulted, type VaultSecret } from '../secrets/ansible-vault.ts';
import { openVault, parseVaultReference } from '../secrets/hashicorp-vault.ts';
import { registerSecret } from '../secrets/mask.ts';
import { vaultPasswords } from '../secrets/sources.ts';
import { revealVaulted, VAULT_TAG } from '../secrets/yaml-vault.ts';
import { isObject, Reader, show, type Issue, type Origin } from './reader.ts';
export type { Origin } from './reader.ts';
import type { DeployConfig, RegistrySettings, Serial, SerialStep, VaultSettings } from './types.ts';

export type * from './types.ts';

export interface LoadOptions {
  readonly deployment: string;
  /** `-e key.path=value`, applied last; the value is parsed as YAML. */
  readonly extraVars?: readonly string[];
  /** From flags (`--serial`), applied after the overlay and before extra vars. */
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** Ansible Vault passwords for `!vault` values (loadConfig reads them only if the file has some). */
  readonly vaultSecrets?: readonly VaultSecret[];
  /** Filled with where each given value came from, by dotted path (`baton config show`). */
  readonly origins?: Map<string, Origin>;
}

/** Deployments a personal (remote-run) build never deploys into unless forced, by default. */
export const DEFAULT_SHARED: readonly string[] = ['integration', 'production'];

/** Auto Scaling's processes; the default suspends those that launch, terminate or re-register instances. */
export const SCALING_PROCESSES = [
  'Launch',
  'Terminate',
  'AddToLoadBalancer',
  'AlarmNotification',
  'AZRebalance',
  'HealthCheck',
  'InstanceRefresh',
  'ReplaceUnhealthy',
  'ScheduledActions',
] as const;
const DEFAULT_PROCESSES = [
  'Launch',
  'Terminate',
  'AddToLoadBalancer',
  'AZRebalance',
  'HealthCheck',
  'ReplaceUnhealthy',
];

export async function loadConfig(options: LoadOptions & { readonly file: string }): Promise<DeployConfig> {
  let text: string;
  try {
    text = readFileSync(options.file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      '',
      `cannot read the configuration: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      options.file,
    );
  }
  // A whole file encrypted with ansible-vault, or `!vault` values in it: passwords are read only then.
  if (isVaulted(text)) text = decryptVault(text, await vaultPasswords(), options.file).toString('utf8');
  const vaultSecrets = /!vault\b/.test(text) ? await vaultPasswords() : [];
  const config = parseConfig(text, options.file, { ...options, vaultSecrets });
  return resolveVaultReferences(config);
}

/**
 * `vault:<path>#<key>` values (container.env, registry.password), read from HashiCorp Vault once, before
 * anything else; every value read is a secret.
 */
async function resolveVaultReferences(config: DeployConfig): Promise<DeployConfig> {
  const wanted = [
    ...Object.entries(config.container.env).map(([k, v]) => [`container.env.${k}`, v] as const),
    ...Object.entries(config.container.secretFiles).map(([k, v]) => [`container.secretFiles.${k}`, v] as const),
    ...(config.registry?.password ? [['registry.password', config.registry.password] as const] : []),
  ].flatMap(([setting, v]) => {
    const ref = parseVaultReference(v);
    return ref ? [{ setting, ref }] : [];
  });
  if (!wanted.length) return config;
  const vault = await openVault(config.vault, process.env, `${config.source}: vault`);
  const read = new Map<string, string>();
  try {
    for (const { setting, ref } of wanted) {
      const value = await vault.read(ref);
      // A secret file may hold lines (a certificate); an env value or a password may not.
      if (!setting.startsWith('container.secretFiles.') && /[\r\n\0]/.test(value))
        throw new ConfigError(
          setting,
          `the value read from vault:${ref.path}#${ref.key} holds a line break or NUL, which Baton cannot pass on`,
          config.source,
        );
      registerSecret(value, `${setting} (vault:${ref.path}#${ref.key})`);
      read.set(setting, value);
    }
  } finally {
    vault.close();
  }
  const env = Object.fromEntries(
    Object.entries(config.container.env).map(([k, v]) => [k, read.get(`container.env.${k}`) ?? v]),
  );
  const secretFiles = Object.fromEntries(
    Object.entries(config.container.secretFiles).map(([k, v]) => [k, read.get(`container.secretFiles.${k}`) ?? v]),
  );
  const password = read.get('registry.password');
  return deepFreeze({
    ...config,
    container: { ...config.container, env, secretFiles },
    ...(config.registry && password && { registry: { ...config.registry, password } }),
  });
}

/** `--serial` as given on the command line: a count, or a percentage (or ramp) the configuration checks. */
export const serialFromFlag = (flag: string): number | string => (/^\d+$/.test(flag) ? Number(flag) : flag);

/** Pure: the configuration `text` (from `source`) for one deployment. */
export function parseConfig(text: string, source: string, options: LoadOptions): DeployConfig {
  const doc = parseDocument(text, { customTags: [VAULT_TAG] });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0] ? `${source}:${e.linePos[0].line}:${e.linePos[0].col}` : source;
    throw new ConfigError('', `not valid YAML: ${e.message.split('\n')[0]}`, at);
  }
  const file = revealVaulted(doc.toJS() ?? {}, options.vaultSecrets ?? [], source) as unknown;
  if (!isObject(file)) throw new ConfigError('', 'the configuration must be a mapping of settings', source);

  const badName = safeName(options.deployment);
  if (badName) throw new ConfigError('--deployment', `${JSON.stringify(options.deployment)} ${badName}`);
  const deployments = file.deployments;
  const names = isObject(deployments) ? Object.keys(deployments) : [];
  if (!names.includes(options.deployment)) {
    throw new ConfigError(
      'deployments',
      `deployment ${JSON.stringify(options.deployment)} is not defined (${names.length ? `deployments: ${names.join(', ')}` : 'the file defines none'})`,
      source,
    );
  }
  const { deployments: _, ...base } = file;
  const overlay = (deployments as Record<string, unknown>)[options.deployment] ?? {};
  if (!isObject(overlay))
    throw new ConfigError(`deployments.${options.deployment}`, `${show(overlay)} is not a mapping of settings`, source);

  // Where each value came from, so an error says "deployments.integration.rollout.serial" or "-e".
  const origins = options.origins ?? new Map<string, Origin>();
  const layer = (target: Record<string, unknown>, value: Record<string, unknown>, origin: Origin) =>
    deepMerge(target, value, '', origins, origin);
  const merged: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  layer(merged, base, { source, prefix: '' });
  layer(merged, overlay, { source, prefix: `deployments.${options.deployment}.` });
  if (options.overrides)
    layer(merged, structuredClone(options.overrides) as Record<string, unknown>, {
      source: 'command line',
      prefix: '',
    });
  // Anything under container, registry or vault may be a secret: errors name the setting, never echo the value.
  for (const extra of options.extraVars ?? [])
    layer(merged, parseExtraVar(extra), {
      source: `-e ${isSecretExtraVar(extra) ? extra.replace(/=[\s\S]*$/, '=***') : extra}`,
      prefix: '',
    });

  const issues: Issue[] = [];
  const config = build(new Reader(merged, origins, issues, { source, prefix: '' }), source, options.deployment);
  if (issues.length) {
    const lines = issues.map((i) => `${i.origin.source}: ${i.origin.prefix}${i.path}: ${i.problem}`);
    throw new ConfigError(
      '',
      lines.length === 1
        ? lines[0]!
        : `${lines.length} problems in the configuration:\n${lines.map((l) => `  ${l}`).join('\n')}`,
    );
  }
  return deepFreeze(config);
}

function build(r: Reader, source: string, deployment: string): DeployConfig {
  const dir = dirname(resolve(source));
  const path = (p: string) => {
    const expanded = p.startsWith('~/') ? `${homedir()}${p.slice(1)}` : p;
    return isAbsolute(expanded) ? expanded : resolve(dir, expanded);
  };
  r.known([
    'region',
    'stack',
    'release',
    'aws',
    'ssh',
    'container',
    'health',
    'autoscaling',
    'alarms',
    'sharedDeployments',
    'personalDeployments',
    'rollout',
    'timeouts',
    'state',
    'vault',
    'registry',
  ]);

  const aws = r.child('aws');
  aws.known(['endpoint', 'profile', 'maxAttempts']);
  const endpoint = aws.string('endpoint', {
    optional: true,
    check: (v) => (/^https?:\/\/[^\s/]+/.test(v) ? undefined : 'is not an http(s) URL'),
  });
  const profile = aws.string('profile', { optional: true });
  const maxAttempts = aws.integer('maxAttempts', { optional: true, min: 1, max: 20 });

  const ssh = r.child('ssh');
  ssh.known([
    'user',
    'port',
    'identityFile',
    'knownHosts',
    'acceptNewHostKeys',
    'bastion',
    'connectTimeout',
    'commandTimeout',
    'keepaliveInterval',
    'maxChannels',
    'config',
  ]);
  const user = ssh.string('user', { fallback: userInfo().username });
  const bastion = ssh.has('bastion') ? ssh.child('bastion') : undefined;
  bastion?.known(['host', 'port', 'user']);
  // A setting would accept new keys on every run, silently: only the flag may, for one run.
  if (ssh.has('acceptNewHostKeys'))
    ssh.problem(
      'acceptNewHostKeys',
      'is taken only from the --accept-new-host-keys flag, for one run, never from a file or -e',
    );

  const container = r.child('container');
  container.known([
    'name',
    'ports',
    'env',
    'volumes',
    'restart',
    'stopTimeout',
    'labels',
    'keepImages',
    'secretFiles',
    'secretFilesDir',
  ]);
  const secretFilesDir = container.string('secretFilesDir', {
    optional: true,
    check: (v) =>
      /^\/[A-Za-z0-9._@+/-]*[^/]$/.test(v) && !/(^|\/)\.\.(\/|$)/.test(v)
        ? undefined
        : 'is not an absolute path on the hosts (like /run/baton-secrets)',
  });
  if (container.has('secretFiles') && !secretFilesDir) {
    container.problem(
      'secretFilesDir',
      'is required with secretFiles: a tmpfs folder on the hosts that outlives SSH sessions, like /run/baton-secrets (an fstab line: tmpfs /run/baton-secrets tmpfs mode=0700,uid=deploy,size=1m 0 0)',
    );
  }
  const volumes = container.strings('volumes', {
    fallback: [],
    check: (v) => (v.split(':').length >= 2 ? undefined : 'is not SOURCE:TARGET[:OPTIONS]'),
  });

  const health = r.child('health');
  health.known(['http', 'command', 'timeout', 'interval', 'healthyThreshold']);
  const http = health.has('http') ? health.child('http') : undefined;
  http?.known(['port', 'path', 'status']);
  const command = health.has('command')
    ? health.strings('command', { check: (v) => (v ? undefined : 'is empty') })
    : undefined;
  if (!http === !command)
    health.problem(
      '',
      http
        ? 'set either http or command, not both'
        : 'set http ({ port, path }) or command ([argv]) to say how a new container is checked',
    );
  if (command && command.length === 0) health.problem('command', 'is an empty list');

  const autoscaling = r.child('autoscaling');
  autoscaling.known(['processes']);
  const rollout = r.child('rollout');
  rollout.known(['serial', 'maxFailPercentage', 'minInService', 'onFailure', 'retryFile', 'allowNoLoadBalancer']);
  const retryFile = rollout.string('retryFile', { optional: true });
  const timeouts = r.child('timeouts');
  timeouts.known(['pull', 'drain', 'drainMargin', 'inService', 'undo', 'awsRequest', 'awsConnect']);
  const state = r.child('state');
  state.known(['bucket', 'directory', 'prefix', 'region', 'staleAfter']);
  const stateRegion = state.string('region', { optional: true });
  const stateBucket = state.string('bucket', {
    optional: true,
    check: (v) => (/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v) ? undefined : 'is not an S3 bucket name'),
  });

  return {
    source,
    deployment,
    region: r.string('region', {
      check: (v) => (/^[a-z]{2}(-[a-z]+)+-\d$/.test(v) ? undefined : 'is not an AWS region (like eu-west-1)'),
    }),
    stack: r.string('stack', { check: safeName }),
    release: r.string('release', { check: safeName }),
    aws: { ...(endpoint && { endpoint }), ...(profile && { profile }), ...(maxAttempts && { maxAttempts }) },
    ssh: {
      user,
      port: ssh.integer('port', { fallback: 22, min: 1, max: 65535 }),
      ...optional('identityFile', ssh.string('identityFile', { optional: true }), path),
      knownHosts: path(ssh.string('knownHosts', { fallback: '~/.ssh/known_hosts' })),
      // Only the --accept-new-host-keys flag, run by run: a setting would accept new keys on every run.
      // Set by the --accept-new-host-keys flag alone (see runDeploy).
      acceptNewHostKeys: false,
      ...(bastion && {
        bastion: {
          host: bastion.string('host'),
          port: bastion.integer('port', { fallback: 22, min: 1, max: 65535 }),
          user: bastion.string('user', { fallback: user }),
          given: (['port', 'user'] as const).filter((k) => bastion.has(k) || (k === 'user' && ssh.has('user'))),
        },
      }),
      connectTimeout: ssh.duration('connectTimeout', { fallback: 15_000 }),
      commandTimeout: ssh.duration('commandTimeout', { fallback: 120_000 }),
      keepaliveInterval: ssh.duration('keepaliveInterval', { fallback: 10_000 }),
      maxChannels: ssh.integer('maxChannels', { fallback: 8, min: 1, max: 64 }),
      ...optional('config', ssh.string('config', { optional: true }), (v) => (v === 'none' ? v : path(v))),
      given: (['user', 'port', 'identityFile', 'knownHosts'] as const).filter((k) => ssh.has(k)),
    },
    container: {
      name: container.string('name', {
        fallback: 'live',
        check: (v) => (/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(v) ? undefined : 'is not a valid container name'),
      }),
      ports: container.strings('ports', {
        fallback: [],
        check: (v) =>
          /^(\d{1,3}(\.\d{1,3}){3}:)?(\d{1,5}:)?\d{1,5}(\/(tcp|udp))?$/.test(v)
            ? undefined
            : 'is not a port mapping (like 8080:8080)',
      }),
      env: container.map('env', {
        fallback: {},
        key: /^[A-Za-z_][A-Za-z0-9_]*$/,
        value: (v, key) => checkEnvValue(expandEnv(v, `container.env.${key}`)),
        secret: true,
      }),
      volumes: volumes.includes('/dev/log:/dev/log') ? volumes : [...volumes, '/dev/log:/dev/log'],
      restart: container.oneOf('restart', ['no', 'always', 'unless-stopped', 'on-failure'] as const, {
        fallback: 'unless-stopped',
      }),
      stopTimeout: container.duration('stopTimeout', { fallback: 10_000 }),
      labels: container.map('labels', { fallback: {} }),
      keepImages: container.integer('keepImages', { fallback: 2, min: 0, max: 100 }),
      // Keys are absolute paths in the container (no `:` or `,`, which docker's -v would misread), values secrets.
      ...(secretFilesDir && { secretFilesDir }),
      secretFiles: container.map('secretFiles', {
        fallback: {},
        key: /^\/(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._@+/-]+$/,
        value: (v, key) => expandEnv(v, `container.secretFiles.${key}`),
        secret: true,
      }),
    },
    health: {
      ...(http && {
        http: {
          port: http.integer('port', { min: 1, max: 65535 }),
          path: http.string('path', {
            fallback: '/health',
            check: (v) =>
              !v.startsWith('/')
                ? 'must start with /'
                : /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/.test(v) && !/%(?![0-9A-Fa-f]{2})/.test(v)
                  ? undefined
                  : 'is not a URL path: percent-encode spaces and other characters (%20)',
          }),
          status: http.integer('status', { fallback: 200, min: 100, max: 599 }),
        },
      }),
      ...(command && { command }),
      timeout: health.duration('timeout', { fallback: 60_000 }),
      interval: health.duration('interval', { fallback: 1_000, min: 50 }),
      healthyThreshold: health.integer('healthyThreshold', { fallback: 1, min: 1, max: 100 }),
    },
    autoscaling: {
      processes: autoscaling.strings('processes', {
        fallback: DEFAULT_PROCESSES,
        check: (v) =>
          (SCALING_PROCESSES as readonly string[]).includes(v)
            ? undefined
            : `is not an Auto Scaling process (${SCALING_PROCESSES.join(', ')})`,
      }),
    },
    alarms: r.strings('alarms', { fallback: [] }),
    sharedDeployments: r.strings('sharedDeployments', { fallback: DEFAULT_SHARED }),
    ...(r.has('personalDeployments') && { personalDeployments: r.strings('personalDeployments', { fallback: [] }) }),
    rollout: {
      serial: rollout.custom('serial', parseSerial, 1),
      maxFailPercentage: rollout.integer('maxFailPercentage', { fallback: 0, min: 0, max: 100 }),
      minInService: rollout.integer('minInService', { fallback: 0, min: 0, max: 10_000 }),
      onFailure: rollout.oneOf('onFailure', ['rollback', 'stop'] as const, { fallback: 'rollback' }),
      allowNoLoadBalancer: rollout.boolean('allowNoLoadBalancer', { fallback: false }),
      ...(retryFile && { retryFile: path(retryFile) }),
    },
    timeouts: {
      pull: timeouts.duration('pull', { fallback: 600_000 }),
      drain: timeouts.duration('drain', { fallback: 300_000 }),
      drainMargin: timeouts.duration('drainMargin', { fallback: 60_000, min: 0 }),
      inService: timeouts.duration('inService', { fallback: 300_000 }),
      undo: timeouts.duration('undo', { fallback: 300_000, min: 10_000 }),
      awsRequest: timeouts.duration('awsRequest', { fallback: 30_000, min: 1_000 }),
      awsConnect: timeouts.duration('awsConnect', { fallback: 5_000, min: 500 }),
    },
    state: {
      ...(stateBucket && { bucket: stateBucket }),
      directory: path(state.string('directory', { fallback: defaultStateDirectory() })),
      prefix: state.string('prefix', {
        fallback: 'baton',
        check: (v) => (/^[^/].*[^/]$|^[^/]$/.test(v) ? undefined : 'must not start or end with /'),
      }),
      ...(stateRegion && { region: stateRegion }),
      staleAfter: state.duration('staleAfter', { fallback: 120_000, min: 1_000 }),
    },
    ...(r.has('vault') && { vault: vaultSettings(r.child('vault'), path) }),
    ...(r.has('registry') && { registry: registrySettings(r.child('registry')) }),
  };
}

function registrySettings(g: Reader): RegistrySettings {
  g.known(['server', 'username', 'password', 'ecr']);
  const ecr = g.boolean('ecr', { fallback: false });
  const server = g.string('server', {
    optional: true,
    check: (v) =>
      /^[A-Za-z0-9.-]+(:\d+)?$/.test(v) ? undefined : 'is not a registry host (like registry.example.com:5000)',
  });
  const username = g.string('username', { optional: true });
  // The password is a secret: never quoted in a problem; ${VAR} is read from Baton's environment.
  const password = g.secret('password', (v) => checkEnvValue(expandEnv(v, 'registry.password')));
  if (ecr && (username || password)) g.problem('ecr', 'takes no username or password: the token comes from ECR');
  if (!ecr && (!username || !password))
    g.problem(username ? 'password' : 'username', 'is needed to log in (or set ecr: true for Amazon ECR)');
  return { ...optional('server', server), ...optional('username', username), ...optional('password', password), ecr };
}

function vaultSettings(v: Reader, path: (p: string) => string): VaultSettings {
  v.known(['address', 'namespace', 'caCert', 'auth']);
  const auth = v.has('auth') ? v.child('auth') : undefined;
  auth?.known(['method', 'mount', 'roleId', 'roleIdFile', 'secretIdFile', 'role', 'serverIdHeader']);
  const opt = (r: Reader | undefined, key: string, check?: (s: string) => string | undefined) =>
    r?.string(key, { optional: true, ...(check && { check }) });
  const address = opt(v, 'address', (s) => (/^https?:\/\/[^\s/]+/.test(s) ? undefined : 'is not an http(s) URL'));
  const namespace = opt(v, 'namespace');
  const caCert = opt(v, 'caCert');
  const method = auth?.has('method')
    ? auth.oneOf('method', ['token', 'approle', 'aws'] as const, { fallback: 'token' })
    : undefined;
  const a = auth && {
    ...(method && { method }),
    ...optional('mount', opt(auth, 'mount')),
    ...optional('roleId', opt(auth, 'roleId')),
    ...optional('roleIdFile', opt(auth, 'roleIdFile'), path),
    ...optional('secretIdFile', opt(auth, 'secretIdFile'), path),
    ...optional('role', opt(auth, 'role')),
    ...optional('serverIdHeader', opt(auth, 'serverIdHeader')),
  };
  return {
    ...optional('address', address),
    ...optional('namespace', namespace),
    ...optional('caCert', caCert, path),
    ...(a && { auth: a }),
  };
}

/** Where state lives without a bucket, as the XDG base directory spec places state. */
function defaultStateDirectory(): string {
  return process.env.XDG_STATE_HOME ? `${process.env.XDG_STATE_HOME}/baton` : '~/.local/state/baton';
}

/** Docker env files are line-based: a value with a line break or a NUL would be cut or misread. */
function checkEnvValue(v: string | { problem: string }): string | { problem: string } {
  if (typeof v !== 'string') return v;
  return /[\r\n\0]/.test(v)
    ? {
        problem:
          'holds a line break or a NUL, which a docker env file cannot carry (use container.volumes with a file instead)',
      }
    : v;
}

/** `serial`: a count, "N%", or a non-empty list of them. Returns a problem string when invalid. */
export function parseSerial(value: unknown): { value: Serial } | { problem: string } {
  const step = (v: unknown): SerialStep | undefined => {
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    if (typeof v === 'string' && /^\d+$/.test(v) && Number(v) > 0) return Number(v);
    if (typeof v === 'string' && /^\d+(\.\d+)?%$/.test(v) && Number.parseFloat(v) > 0 && Number.parseFloat(v) <= 100)
      return v as `${number}%`;
    return undefined;
  };
  const problem = (v: unknown) => ({
    problem: `${show(v)} is not a count or a percentage (like 2, "25%" or [1, "25%", "100%"])`,
  });
  if (!Array.isArray(value)) {
    const s = step(value);
    return s === undefined ? problem(value) : { value: s };
  }
  if (!value.length) return { problem: 'is an empty list (give at least one batch size)' };
  const steps = value.map(step);
  const bad = steps.findIndex((s) => s === undefined);
  return bad >= 0 ? problem(value[bad]) : { value: steps as SerialStep[] };
}

/** `${VAR}` in an env value is read from Baton's own environment, so secrets stay out of the file. */
function expandEnv(value: string, setting: string): string | { problem: string } {
  const missing: string[] = [];
  const out = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = process.env[name];
    if (v === undefined) missing.push(name);
    else registerSecret(v, `${setting} (\${${name}})`);
    return v ?? '';
  });
  return missing.length
    ? { problem: `refers to \${${missing.join('}, ${')}}, which is not set in the environment` }
    : out;
}

/** Whether an `-e key=value` may carry a secret (anything under container, registry or vault): never echoed, never stored. */
export const isSecretExtraVar = (extra: string): boolean => /^\s*(container|registry|vault)\b/.test(extra);

/** The key of an `-e key=value`. */
export const extraVarKey = (extra: string): string => extra.slice(0, Math.max(0, extra.indexOf('='))).trim();

function parseExtraVar(extra: string): Record<string, unknown> {
  const eq = extra.indexOf('=');
  const key = eq > 0 ? extra.slice(0, eq).trim() : '';
  if (!key || !/^[A-Za-z][\w-]*(\.[A-Za-z][\w-]*)*$/.test(key))
    throw new ConfigError('', `${JSON.stringify(extra)} is not key.path=value`, '-e');
  const forbidden = key.split('.').find((part) => PROTOTYPE_KEYS.has(part));
  if (forbidden) throw new ConfigError(key, `is not a setting (a key named ${forbidden} is never merged)`, '-e');
  const raw = extra.slice(eq + 1);
  let value: unknown = raw;
  const doc = parseDocument(raw);
  if (!doc.errors.length) value = doc.toJS();
  const root: Record<string, unknown> = {};
  const parts = key.split('.');
  let at = root;
  for (const part of parts.slice(0, -1)) at = at[part] = {} as Record<string, unknown>;
  at[parts.at(-1)!] = value ?? '';
  return root;
}

/**
 * Stack, release and deployment names become EC2 tag filters (where `*` and `?` are wildcards) and S3
 * key prefixes (where `/` nests): letters, digits, `.`, `_` and `-` only.
 */
export function safeName(v: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(v)
    ? undefined
    : 'may hold only letters, digits, ".", "_" and "-" (it is matched as an EC2 tag and used in S3 keys)';
}

/** Keys that would reach an object's prototype if merged: refused wherever they come from. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function deepMerge(
  target: Record<string, unknown>,
  value: Record<string, unknown>,
  path: string,
  origins: Map<string, Origin>,
  origin: Origin,
): void {
  for (const [key, v] of Object.entries(value)) {
    const p = path ? `${path}.${key}` : key;
    if (PROTOTYPE_KEYS.has(key))
      throw new ConfigError(
        origin.prefix + p,
        'is not a setting (a key named __proto__, constructor or prototype is never merged)',
        origin.source,
      );
    if (isObject(v) && isObject(target[key])) {
      deepMerge(target[key] as Record<string, unknown>, v, p, origins, origin);
    } else {
      target[key] = isObject(v) ? nullPrototype(v) : v;
      for (const k of [...origins.keys()]) if (k.startsWith(`${p}.`)) origins.delete(k);
      origins.set(p, origin);
      if (isObject(v)) markAll(v, p, origins, origin);
    }
  }
}

/** A deep copy on objects without a prototype, so no key can reach Object.prototype. */
function nullPrototype(value: Record<string, unknown>): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(value)) {
    if (PROTOTYPE_KEYS.has(k)) continue;
    out[k] = isObject(v) ? nullPrototype(v) : v;
  }
  return out;
}

function markAll(value: Record<string, unknown>, path: string, origins: Map<string, Origin>, origin: Origin): void {
  for (const [key, v] of Object.entries(value)) {
    origins.set(`${path}.${key}`, origin);
    if (isObject(v)) markAll(v, `${path}.${key}`, origins, origin);
  }
}

const optional = <T, K extends string>(key: K, value: T | undefined, map: (v: T) => T = (v) => v): { [k in K]?: T } =>
  (value === undefined ? {} : { [key]: map(value) }) as { [k in K]?: T };

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
