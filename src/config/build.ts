/**
 * The merged configuration read into a DeployConfig, section by section, every value through its entry
 * in schema.ts (type, default, check) with the Reader, which records each problem with its path and
 * origin. What joins several settings (health.http or command, registry logins, secretFilesDir with
 * secretFiles) is checked here, after the values.
 */
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { registerSecret } from '../secrets/mask.ts';
import { Reader, show } from './reader.ts';
import * as S from './schema.ts';
import type {
  ContainerSettings,
  DeployConfig,
  HealthSettings,
  RegistrySettings,
  RolloutSettings,
  Serial,
  SerialStep,
  SshSettings,
  StateSettings,
  VaultSettings,
} from './types.ts';

type Paths = (p: string) => string;

/** A reader's section: unknown keys are refused with the section's own list. */
function open(r: Reader, key: string, section: S.AnySection): Reader {
  const child = r.child(key);
  child.known(S.keysOf(section));
  return child;
}

export function buildConfig(r: Reader, source: string, deployment: string): DeployConfig {
  const dir = dirname(resolve(source));
  const path: Paths = (p) => {
    const expanded = p.startsWith('~/') ? `${homedir()}${p.slice(1)}` : p;
    return isAbsolute(expanded) ? expanded : resolve(dir, expanded);
  };
  const T = S.CONFIG.settings;
  r.known(S.keysOf(S.CONFIG));
  const aws = open(r, 'aws', S.AWS);
  const endpoint = aws.string('endpoint', S.AWS.settings.endpoint);
  const profile = aws.string('profile', S.AWS.settings.profile);
  const maxAttempts = aws.integer('maxAttempts', S.AWS.settings.maxAttempts);
  const alarms = r.strings('alarms', T.alarms);
  return {
    source,
    deployment,
    region: r.string('region', T.region),
    stack: r.string('stack', T.stack),
    release: r.string('release', T.release),
    aws: { ...(endpoint && { endpoint }), ...(profile && { profile }), ...(maxAttempts && { maxAttempts }) },
    ssh: sshSettings(open(r, 'ssh', S.SSH), path),
    container: containerSettings(open(r, 'container', S.CONTAINER)),
    health: healthSettings(open(r, 'health', S.HEALTH)),
    autoscaling: {
      processes: open(r, 'autoscaling', S.AUTOSCALING).strings('processes', S.AUTOSCALING.settings.processes),
    },
    alarms,
    sharedDeployments: r.strings('sharedDeployments', T.sharedDeployments),
    ...(r.has('personalDeployments') && {
      personalDeployments: r.strings('personalDeployments', T.personalDeployments),
    }),
    rollout: rolloutSettings(open(r, 'rollout', S.ROLLOUT), path, alarms),
    timeouts: timeoutSettings(open(r, 'timeouts', S.TIMEOUTS)),
    state: stateSettings(open(r, 'state', S.STATE), path),
    ...(r.has('vault') && { vault: vaultSettings(open(r, 'vault', S.VAULT), path) }),
    ...(r.has('registry') && { registry: registrySettings(open(r, 'registry', S.REGISTRY)) }),
  };
}

function sshSettings(ssh: Reader, path: Paths): SshSettings {
  const E = S.SSH.settings;
  const user = ssh.string('user', { ...E.user, fallback: userInfo().username });
  const bastion = ssh.has('bastion') ? open(ssh, 'bastion', S.BASTION) : undefined;
  // A setting would accept new keys on every run, silently: only the flag may, for one run.
  if (ssh.has('acceptNewHostKeys'))
    ssh.problem(
      'acceptNewHostKeys',
      'is taken only from the --accept-new-host-keys flag, for one run, never from a file or -e',
    );
  const B = S.BASTION.settings;
  return {
    user,
    port: ssh.integer('port', E.port),
    ...optional('identityFile', ssh.string('identityFile', E.identityFile), path),
    knownHosts: path(ssh.string('knownHosts', E.knownHosts)),
    // Set by the --accept-new-host-keys flag alone (see runDeploy).
    acceptNewHostKeys: false,
    ...(bastion && {
      bastion: {
        host: bastion.string('host', B.host),
        port: bastion.integer('port', B.port),
        user: bastion.string('user', { ...B.user, fallback: user }),
        given: (['port', 'user'] as const).filter((k) => bastion.has(k) || (k === 'user' && ssh.has('user'))),
      },
    }),
    connectTimeout: ssh.duration('connectTimeout', E.connectTimeout),
    commandTimeout: ssh.duration('commandTimeout', E.commandTimeout),
    keepaliveInterval: ssh.duration('keepaliveInterval', E.keepaliveInterval),
    maxChannels: ssh.integer('maxChannels', E.maxChannels),
    ...optional('config', ssh.string('config', E.config), (v) => (v === 'none' ? v : path(v))),
    given: (['user', 'port', 'identityFile', 'knownHosts'] as const).filter((k) => ssh.has(k)),
  };
}

function containerSettings(c: Reader): ContainerSettings {
  const E = S.CONTAINER.settings;
  const secretFilesDir = c.string('secretFilesDir', E.secretFilesDir);
  if (c.has('secretFiles') && !secretFilesDir) {
    c.problem(
      'secretFilesDir',
      'is required with secretFiles: a tmpfs folder on the hosts that outlives SSH sessions, like /run/baton-secrets (an fstab line: tmpfs /run/baton-secrets tmpfs mode=0700,uid=deploy,size=1m 0 0)',
    );
  }
  const volumes = c.strings('volumes', E.volumes);
  return {
    name: c.string('name', E.name),
    ports: c.strings('ports', E.ports),
    env: c.map('env', { ...E.env, value: (v, key) => checkEnvValue(expandEnv(v, `container.env.${key}`)) }),
    volumes: volumes.includes('/dev/log:/dev/log') ? volumes : [...volumes, '/dev/log:/dev/log'],
    restart: c.oneOf('restart', E.restart.values, E.restart),
    stopTimeout: c.duration('stopTimeout', E.stopTimeout),
    labels: c.map('labels', E.labels),
    keepImages: c.integer('keepImages', E.keepImages),
    ...(secretFilesDir && { secretFilesDir }),
    secretFiles: c.map('secretFiles', {
      ...E.secretFiles,
      value: (v, key) => expandEnv(v, `container.secretFiles.${key}`),
    }),
  };
}

function healthSettings(health: Reader): HealthSettings {
  const E = S.HEALTH.settings;
  const http = health.has('http') ? open(health, 'http', S.HEALTH_HTTP) : undefined;
  const command = health.has('command') ? health.strings('command', E.command) : undefined;
  if (!http === !command)
    health.problem(
      '',
      http
        ? 'set either http or command, not both'
        : 'set http ({ port, path }) or command ([argv]) to say how a new container is checked',
    );
  if (command && command.length === 0) health.problem('command', 'is an empty list');
  const H = S.HEALTH_HTTP.settings;
  return {
    ...(http && {
      http: {
        port: http.integer('port', H.port),
        path: http.string('path', H.path),
        status: http.integer('status', H.status),
      },
    }),
    ...(command && { command }),
    timeout: health.duration('timeout', E.timeout),
    interval: health.duration('interval', E.interval),
    healthyThreshold: health.integer('healthyThreshold', E.healthyThreshold),
  };
}

function rolloutSettings(rollout: Reader, path: Paths, alarms: readonly string[]): RolloutSettings {
  const E = S.ROLLOUT.settings;
  const retryFile = rollout.string('retryFile', E.retryFile);
  const canary = open(rollout, 'canary', S.ROLLOUT_CANARY);
  const gate = open(rollout, 'gate', S.ROLLOUT_GATE);
  const G = S.ROLLOUT_GATE.settings;
  return {
    serial: rollout.custom('serial', parseSerial, 1),
    maxFailPercentage: rollout.integer('maxFailPercentage', E.maxFailPercentage),
    minInService: rollout.integer('minInService', E.minInService),
    onFailure: rollout.oneOf('onFailure', E.onFailure.values, E.onFailure),
    allowNoLoadBalancer: rollout.boolean('allowNoLoadBalancer', E.allowNoLoadBalancer),
    ...(retryFile && { retryFile: path(retryFile) }),
    canary: { bake: canary.duration('bake', S.ROLLOUT_CANARY.settings.bake) },
    // Unless named, the alarms Baton silences: CloudWatch goes on evaluating them.
    gate: {
      alarms: gate.has('alarms') ? gate.strings('alarms', G.alarms) : alarms,
      interval: gate.duration('interval', G.interval),
    },
  };
}

function timeoutSettings(t: Reader): DeployConfig['timeouts'] {
  const E = S.TIMEOUTS.settings;
  return {
    pull: t.duration('pull', E.pull),
    drain: t.duration('drain', E.drain),
    drainMargin: t.duration('drainMargin', E.drainMargin),
    inService: t.duration('inService', E.inService),
    undo: t.duration('undo', E.undo),
    awsRequest: t.duration('awsRequest', E.awsRequest),
    awsConnect: t.duration('awsConnect', E.awsConnect),
  };
}

function stateSettings(state: Reader, path: Paths): StateSettings {
  const E = S.STATE.settings;
  const bucket = state.string('bucket', E.bucket);
  const region = state.string('region', E.region);
  return {
    ...(bucket && { bucket }),
    directory: path(state.string('directory', { ...E.directory, fallback: defaultStateDirectory() })),
    prefix: state.string('prefix', E.prefix),
    ...(region && { region }),
    staleAfter: state.duration('staleAfter', E.staleAfter),
  };
}

function registrySettings(g: Reader): RegistrySettings {
  const E = S.REGISTRY.settings;
  const ecr = g.boolean('ecr', E.ecr);
  const server = g.string('server', E.server);
  const username = g.string('username', E.username);
  // The password is a secret: never quoted in a problem; ${VAR} is read from Baton's environment.
  const password = g.secret('password', (v) => checkEnvValue(expandEnv(v, 'registry.password')));
  if (ecr && (username || password)) g.problem('ecr', 'takes no username or password: the token comes from ECR');
  if (!ecr && (!username || !password))
    g.problem(username ? 'password' : 'username', 'is needed to log in (or set ecr: true for Amazon ECR)');
  return { ...optional('server', server), ...optional('username', username), ...optional('password', password), ecr };
}

function vaultSettings(v: Reader, path: Paths): VaultSettings {
  const E = S.VAULT.settings;
  const A = S.VAULT_AUTH.settings;
  const auth = v.has('auth') ? open(v, 'auth', S.VAULT_AUTH) : undefined;
  const method = auth?.has('method') ? auth.oneOf('method', A.method.values, A.method) : undefined;
  const a = auth && {
    ...(method && { method }),
    ...optional('mount', auth.string('mount', A.mount)),
    ...optional('roleId', auth.string('roleId', A.roleId)),
    ...optional('roleIdFile', auth.string('roleIdFile', A.roleIdFile), path),
    ...optional('secretIdFile', auth.string('secretIdFile', A.secretIdFile), path),
    ...optional('role', auth.string('role', A.role)),
    ...optional('serverIdHeader', auth.string('serverIdHeader', A.serverIdHeader)),
  };
  return {
    ...optional('address', v.string('address', E.address)),
    ...optional('namespace', v.string('namespace', E.namespace)),
    ...optional('caCert', v.string('caCert', E.caCert), path),
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

const optional = <T, K extends string>(key: K, value: T | undefined, map: (v: T) => T = (v) => v): { [k in K]?: T } =>
  (value === undefined ? {} : { [key]: map(value) }) as { [k in K]?: T };
