/** The settings for reaching the hosts and running the container on them: ssh, container, health. */
import { port, section } from './setting.ts';

export const BASTION = section('The jump host every connection goes through. Absent: hosts are reached directly.', {
  host: {
    kind: 'string',
    optional: false,
    description: 'A host name, an address, or a `Host` alias of the OpenSSH client configuration.',
  },
  port: port('Its sshd port.', 22),
  user: { kind: 'string', defaultText: 'ssh.user', description: 'The user on the bastion.' },
});

export const SSH = section(
  'SSH to the hosts. Values given here or by a flag come before ~/.ssh/config’s, which come before the defaults.',
  {
    user: { kind: 'string', defaultText: 'the local user', description: 'The user on the app hosts.' },
    port: port('Port of the app hosts’ sshd.', 22),
    identityFile: {
      kind: 'string',
      optional: true,
      defaultText: 'ssh-agent',
      description: 'A private key file; when absent, the key comes from ssh-agent ($SSH_AUTH_SOCK).',
    },
    knownHosts: {
      kind: 'string',
      fallback: '~/.ssh/known_hosts',
      description: 'OpenSSH known_hosts file (hashed entries allowed). An unknown key stops the run.',
    },
    acceptNewHostKeys: {
      kind: 'boolean',
      fallback: false,
      description: 'Refused here: only the --accept-new-host-keys flag may accept new keys, for one run.',
    },
    bastion: BASTION,
    connectTimeout: {
      kind: 'duration',
      fallback: 15_000,
      description: 'Deadline of one connection, the bastion’s or a host’s.',
    },
    commandTimeout: {
      kind: 'duration',
      fallback: 120_000,
      description: 'Deadline of one remote command (docker run, stop, rename…).',
    },
    keepaliveInterval: { kind: 'duration', fallback: 10_000, description: 'Keepalive interval on every connection.' },
    maxChannels: {
      kind: 'integer',
      fallback: 8,
      min: 1,
      max: 64,
      description: 'Concurrent channels per connection, kept under sshd’s MaxSessions (10 by default).',
    },
    config: {
      kind: 'string',
      optional: true,
      defaultText: '~/.ssh/config',
      description: 'The OpenSSH client configuration read for every host and hop; `none` for none.',
    },
  },
);

export const CONTAINER = section('The service’s container on each host.', {
  name: {
    kind: 'string',
    fallback: 'live',
    check: (v) => (/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(v) ? undefined : 'is not a valid container name'),
    description: 'The live container’s name; the one kept for rollback is `<name>-previous`.',
  },
  ports: {
    kind: 'strings',
    fallback: [],
    check: (v) =>
      /^(\d{1,3}(\.\d{1,3}){3}:)?(\d{1,5}:)?\d{1,5}(\/(tcp|udp))?$/.test(v)
        ? undefined
        : 'is not a port mapping (like 8080:8080)',
    description: '`docker run -p` values: `8080:8080`, `127.0.0.1:9000:9000/udp`.',
  },
  env: {
    kind: 'map',
    fallback: {},
    key: /^[A-Za-z_][A-Za-z0-9_]*$/,
    secret: true,
    description:
      'Environment variables, passed to docker on stdin (never argv, never a file). `${VAR}` is read from Baton’s environment; `vault:<path>#<key>` from HashiCorp Vault. No line breaks.',
  },
  volumes: {
    kind: 'strings',
    fallback: [],
    check: (v) => (v.split(':').length >= 2 ? undefined : 'is not SOURCE:TARGET[:OPTIONS]'),
    description: '`docker run -v` values; `/dev/log:/dev/log` is always added.',
  },
  restart: {
    kind: 'oneOf',
    values: ['no', 'always', 'unless-stopped', 'on-failure'],
    fallback: 'unless-stopped',
    description: 'The live container’s restart policy (the kept one never restarts by itself).',
  },
  stopTimeout: { kind: 'duration', fallback: 10_000, description: 'Grace period `docker stop` gives before SIGKILL.' },
  labels: {
    kind: 'map',
    fallback: {},
    description: 'Labels on the new container, beside the ones Baton sets (`baton.image`, `baton.deployer`, …).',
  },
  keepImages: {
    kind: 'integer',
    fallback: 2,
    min: 0,
    max: 100,
    description:
      'After a deploy, the newest unused images of the repository kept on each host; older ones are removed.',
  },
  secretFiles: {
    kind: 'map',
    fallback: {},
    key: /^\/(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._@+/-]+$/,
    secret: true,
    description:
      'Files in the container (absolute path → content), written to a tmpfs and mounted read-only. Needs secretFilesDir.',
  },
  secretFilesDir: {
    kind: 'string',
    optional: true,
    check: (v) =>
      /^\/[A-Za-z0-9._@+/-]*[^/]$/.test(v) && !/(^|\/)\.\.(\/|$)/.test(v)
        ? undefined
        : 'is not an absolute path on the hosts (like /run/baton-secrets)',
    description:
      'A tmpfs folder on the hosts that outlives SSH sessions, where secret files are kept (required with secretFiles).',
  },
});

export const HEALTH_HTTP = section(
  'An HTTP GET on the host, through the SSH connection (or run on the host where sshd refuses forwarding).',
  {
    port: port('The container’s port on the host.'),
    path: {
      kind: 'string',
      fallback: '/health',
      check: (v) =>
        !v.startsWith('/')
          ? 'must start with /'
          : /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/.test(v) && !/%(?![0-9A-Fa-f]{2})/.test(v)
            ? undefined
            : 'is not a URL path: percent-encode spaces and other characters (%20)',
      description: 'The path asked for.',
    },
    status: {
      kind: 'integer',
      fallback: 200,
      min: 100,
      max: 599,
      description: 'The status a healthy container answers.',
    },
  },
);

export const HEALTH = section('How a new container is judged healthy: set http or command, not both.', {
  http: HEALTH_HTTP,
  command: {
    kind: 'strings',
    check: (v) => (v ? undefined : 'is empty'),
    defaultText: '(none)',
    description: 'A command (argv) run on the host; exit 0 is healthy.',
  },
  timeout: { kind: 'duration', fallback: 60_000, description: 'How long a new container has to become healthy.' },
  interval: { kind: 'duration', fallback: 1_000, min: 50, description: 'Time between two checks.' },
  healthyThreshold: { kind: 'integer', fallback: 1, min: 1, max: 100, description: 'Checks in a row that must pass.' },
});
