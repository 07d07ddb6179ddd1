/** Where Baton keeps its state, and where secrets and registry logins come from: state, vault, registry. */
import { regionProblem } from '../../aws/region.ts';
import { section, URL_CHECK } from './setting.ts';

export const STATE = section(
  'Where the deploy lock, the journal and the history live: an S3 bucket every deployer reaches, else a folder on this machine.',
  {
    bucket: {
      kind: 'string',
      optional: true,
      check: (v) => (/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v) ? undefined : 'is not an S3 bucket name'),
      description: 'The S3 bucket. Without it, state stays on this machine and every run says so.',
    },
    directory: {
      kind: 'string',
      defaultText: '$XDG_STATE_HOME/baton or ~/.local/state/baton',
      description: 'The folder used without a bucket.',
    },
    prefix: {
      kind: 'string',
      fallback: 'baton',
      check: (v) => (/^[^/].*[^/]$|^[^/]$/.test(v) ? undefined : 'must not start or end with /'),
      description: 'Key prefix: objects live under `<prefix>/<stack>/<release>/<deployment>/`.',
    },
    region: {
      kind: 'string',
      optional: true,
      check: regionProblem,
      defaultText: 'region',
      description: 'The bucket’s region.',
    },
    staleAfter: {
      kind: 'duration',
      fallback: 120_000,
      min: 1_000,
      description: 'The lock’s lease: a holder renews it; a lock not renewed for this long may be taken over.',
    },
  },
);

export const VAULT_AUTH = section('How Baton logs in to Vault.', {
  method: {
    kind: 'oneOf',
    values: ['token', 'approle', 'aws'],
    fallback: 'token',
    description: '`token` (VAULT_TOKEN or ~/.vault-token), `approle` or `aws` (IAM).',
  },
  mount: { kind: 'string', optional: true, description: 'The auth method’s mount path, when not its default.' },
  roleId: { kind: 'string', optional: true, description: 'AppRole: the role id.' },
  roleIdFile: { kind: 'string', optional: true, description: 'AppRole: a file holding the role id.' },
  secretIdFile: { kind: 'string', optional: true, description: 'AppRole: a file holding the secret id.' },
  role: { kind: 'string', optional: true, description: 'AWS: the Vault role.' },
  serverIdHeader: { kind: 'string', optional: true, description: 'AWS: the X-Vault-AWS-IAM-Server-ID header.' },
});

export const VAULT = section(
  'HashiCorp Vault, for `vault:<path>#<key>` values. VAULT_ADDR, VAULT_NAMESPACE and VAULT_CACERT are read when these are absent.',
  {
    address: { kind: 'string', optional: true, check: URL_CHECK, description: 'Vault’s address.' },
    namespace: { kind: 'string', optional: true, description: 'The Vault Enterprise namespace.' },
    caCert: { kind: 'string', optional: true, description: 'A CA certificate file for Vault’s TLS.' },
    auth: VAULT_AUTH,
  },
);

export const REGISTRY = section('A login for pulling the image: a user and password, or an Amazon ECR token.', {
  server: {
    kind: 'string',
    optional: true,
    check: (v) =>
      /^[A-Za-z0-9.-]+(:\d+)?$/.test(v) ? undefined : 'is not a registry host (like registry.example.com:5000)',
    defaultText: 'the image’s registry',
    description: 'The registry to log in to.',
  },
  username: { kind: 'string', optional: true, description: 'The user (needs password).' },
  password: {
    kind: 'secret',
    description: 'The password: `${VAR}` from Baton’s environment, `vault:<path>#<key>`, or `!vault`. Never printed.',
  },
  ecr: {
    kind: 'boolean',
    fallback: false,
    description: 'Log in with a token from Amazon ECR instead (no username or password).',
  },
});
