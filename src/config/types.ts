/**
 * The validated configuration: what `loadConfig` returns after merging the file's top level with the
 * chosen deployment's overlay, `--serial`/`-e` overrides and defaults. Readonly all the way down;
 * durations are milliseconds.
 */

/** Ansible's `serial`: a count, a percentage ("25%"), or a ramp of either ([1, "25%", "100%"]). */
export type SerialStep = number | `${number}%`;
export type Serial = SerialStep | readonly SerialStep[];

export interface BastionSettings {
  /** A host name, an address, or a `Host` alias of the OpenSSH client configuration. */
  readonly host: string;
  readonly port: number;
  /** Defaults to ssh.user. */
  readonly user: string;
  /** Which of port and user were given (else ~/.ssh/config's values come before the defaults). */
  readonly given?: readonly ('port' | 'user')[];
}

export interface SshSettings {
  readonly user: string;
  /** Port of the app hosts' sshd. */
  readonly port: number;
  /** A private key file; when absent, the key comes from ssh-agent ($SSH_AUTH_SOCK). */
  readonly identityFile?: string;
  /** OpenSSH known_hosts file (hashed entries allowed); default ~/.ssh/known_hosts. */
  readonly knownHosts: string;
  /** Like StrictHostKeyChecking=accept-new: trust and record keys of hosts not in known_hosts. */
  readonly acceptNewHostKeys: boolean;
  /** Absent: hosts are reached directly. */
  readonly bastion?: BastionSettings;
  readonly connectTimeout: number;
  /** Deadline of one remote command (docker run, stop, rename...). */
  readonly commandTimeout: number;
  /** Keepalive interval on every connection. */
  readonly keepaliveInterval: number;
  /** Concurrent channels per connection, kept under sshd's MaxSessions (default 10). */
  readonly maxChannels: number;
  /** The OpenSSH client configuration read for every host and hop: default ~/.ssh/config; `none`: none. */
  readonly config?: string;
  /**
   * Which of user, port, identityFile and knownHosts were set in the configuration or by a flag: those
   * come before ~/.ssh/config's values, which come before Baton's defaults.
   */
  readonly given?: readonly ('user' | 'port' | 'identityFile' | 'knownHosts')[];
}

export interface ContainerSettings {
  readonly name: string;
  /** docker -p values: "8080:8080", "127.0.0.1:9000:9000/udp". */
  readonly ports: readonly string[];
  /** Environment variables; passed through an env file on stdin, never argv. */
  readonly env: Readonly<Record<string, string>>;
  /** docker -v values; /dev/log:/dev/log is always added. */
  readonly volumes: readonly string[];
  readonly restart: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  /** Grace period given to `docker stop` before SIGKILL. */
  readonly stopTimeout: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Images of the deployed repository kept on each host beyond those containers use (pruning). */
  readonly keepImages: number;
  /**
   * Path in the container → content (a secret: `vault:`, `!vault`, `${VAR}`): files written to a
   * tmpfs on the host and mounted read-only, where `docker inspect` shows no value.
   */
  readonly secretFiles: Readonly<Record<string, string>>;
  /**
   * Where secret files are kept on the hosts: a tmpfs folder the deploy user can write that outlives
   * its SSH sessions (not $XDG_RUNTIME_DIR or, on systemd hosts, /dev/shm: logind empties both at
   * logout). Required with secretFiles.
   */
  readonly secretFilesDir?: string;
}

export interface HealthSettings {
  readonly http?: { readonly port: number; readonly path: string; readonly status: number };
  /** A command run on the host (argv), passing when it exits 0. */
  readonly command?: readonly string[];
  readonly timeout: number;
  readonly interval: number;
  readonly healthyThreshold: number;
}

export interface RolloutSettings {
  readonly serial: Serial;
  readonly maxFailPercentage: number;
  /** The capacity floor: never fewer than this many hosts in service. */
  readonly minInService: number;
  /** Deploy hosts that are in no load balancer Baton can see (`--no-load-balancer`); refused otherwise. */
  readonly allowNoLoadBalancer: boolean;
  /**
   * When a batch fails: `rollback` puts the hosts already switched back on their kept container, so the
   * fleet serves one version; `stop` leaves them and says exactly how the fleet is mixed.
   */
  readonly onFailure: 'rollback' | 'stop';
  /** Where a run that left hosts off the target image lists them, for `--limit @file` (default `<playbook>.retry`). */
  readonly retryFile?: string;
  /** The first batch as a canary: watched by the gate for `bake` ms (0: no canary) before the rest. */
  readonly canary: { readonly bake: number };
  /** What judges the release while it rolls: these alarms' state, every `interval` ms during the bake. */
  readonly gate: { readonly alarms: readonly string[]; readonly interval: number };
}

/**
 * Where the deploy lock, the journal and the history live: an S3 bucket every deployer of the stack can
 * reach, or, without one, a directory on this machine.
 */
export interface StateSettings {
  readonly bucket?: string;
  /** Used when no bucket is set: `$XDG_STATE_HOME/baton`, else `~/.local/state/baton`. */
  readonly directory: string;
  /** Keys start `<prefix>/<stack>/<release>/<deployment>/`. */
  readonly prefix: string;
  /** The bucket's region, when not the stack's. */
  readonly region?: string;
  /** A lock not renewed for this long belongs to a run that is gone. */
  readonly staleAfter: number;
}

/** HashiCorp Vault, for `vault:<path>#<key>` references; each unset value falls back to Vault's own variable. */
export interface VaultSettings {
  /** Default VAULT_ADDR. */
  readonly address?: string;
  /** Default VAULT_NAMESPACE. */
  readonly namespace?: string;
  /** Default VAULT_CACERT. */
  readonly caCert?: string;
  readonly auth?: {
    /** Default: approle when a role id is given, else token (VAULT_TOKEN, else ~/.vault-token). */
    readonly method?: 'token' | 'approle' | 'aws';
    readonly mount?: string;
    /** AppRole: the role id (or from roleIdFile, or VAULT_ROLE_ID); the secret id from secretIdFile or VAULT_SECRET_ID. */
    readonly roleId?: string;
    readonly roleIdFile?: string;
    readonly secretIdFile?: string;
    /** AWS IAM: the Vault role, and the X-Vault-AWS-IAM-Server-ID value if the mount requires one. */
    readonly role?: string;
    readonly serverIdHeader?: string;
  };
}

/**
 * Credentials for the registry the image is pulled from: a user and password (the password may be a
 * `vault:` reference, a `!vault` value or `${VAR}`), or Amazon ECR's token. Used for the pre-pull only.
 */
export interface RegistrySettings {
  /** The registry to log in to; by default the image's own (`registry.example.com:5000`). */
  readonly server?: string;
  readonly username?: string;
  readonly password?: string;
  /** Log in with a token from ECR's GetAuthorizationToken instead (user AWS). */
  readonly ecr: boolean;
}

export interface DeployConfig {
  /** The file it came from, for messages. */
  readonly source: string;
  readonly deployment: string;
  readonly region: string;
  readonly stack: string;
  readonly release: string;
  readonly aws: { readonly endpoint?: string; readonly profile?: string; readonly maxAttempts?: number };
  readonly ssh: SshSettings;
  readonly container: ContainerSettings;
  readonly health: HealthSettings;
  readonly autoscaling: { readonly processes: readonly string[] };
  readonly alarms: readonly string[];
  /** Deployments a personal (remote-run) build may never deploy into unless forced. */
  readonly sharedDeployments: readonly string[];
  /**
   * The deployments a personal build may go to, as globs (`dev-*`); unset: any that is not shared. A
   * remote-run branch whose user part is not one of them is refused, like a shared one.
   */
  readonly personalDeployments?: readonly string[];
  readonly rollout: RolloutSettings;
  readonly timeouts: {
    readonly pull: number;
    readonly drain: number;
    /** How long past a load balancer's own draining timeout Baton keeps waiting for it to report the host drained. */
    readonly drainMargin: number;
    readonly inService: number;
    /** How long the undo at the end of a run may take; what it could not undo stays in the journal. */
    readonly undo: number;
    /** One AWS call, from sending to the last byte of the answer; and its connection. */
    readonly awsRequest: number;
    readonly awsConnect: number;
  };
  readonly state: StateSettings;
  readonly vault?: VaultSettings;
  readonly registry?: RegistrySettings;
}
