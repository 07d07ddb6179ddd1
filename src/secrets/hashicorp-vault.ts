/**
 * HashiCorp Vault, behind one small interface: settings in, `vault:<path>#<key>` references resolved
 * once at start, client closed. It drives node-vault-client (loaded only when a reference is met), with
 * Vault's own environment variables as the Vault CLI reads them: VAULT_ADDR, VAULT_TOKEN (else
 * ~/.vault-token), VAULT_NAMESPACE, VAULT_CACERT. Errors name the path and Vault's reason, never a token.
 *
 *   container.env.DB_PASSWORD: vault:secret/data/api#password             (KV v2: the API path, with data/)
 *   container.env.DB_PASSWORD: vault:secret/data/api?version=3#password   (a given version)
 *   container.env.LEGACY:      vault:kv1/api#token                        (KV v1)
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { VaultSettings } from '../config/types.ts';

export const VAULT_REF = /^vault:([A-Za-z0-9][\w\-./]*)(\?version=(\d+))?#([\w\-.]+)$/;

export interface VaultReference {
  readonly path: string;
  readonly version?: number;
  readonly key: string;
}

export function parseVaultReference(value: string): VaultReference | undefined {
  const m = VAULT_REF.exec(value);
  return m ? { path: m[1]!, ...(m[3] && { version: Number(m[3]) }), key: m[4]! } : undefined;
}

export class VaultError extends ConfigError {}

/** A Vault session: read secrets, then close (the client's token renewal timer must not keep Baton alive). */
export interface SecretReader {
  read(ref: VaultReference): Promise<string>;
  close(): void;
}

export async function openVault(
  settings: VaultSettings | undefined,
  env: NodeJS.ProcessEnv = process.env,
  where = 'vault',
): Promise<SecretReader> {
  const address = settings?.address ?? env.VAULT_ADDR;
  if (!address)
    throw new VaultError(
      `${where}.address`,
      'is not set, nor is VAULT_ADDR: say where Vault answers (https://vault.example.com:8200)',
    );
  const namespace = settings?.namespace ?? env.VAULT_NAMESPACE;
  const caCert = settings?.caCert ?? env.VAULT_CACERT;
  const auth = authFor(settings, env, where);
  // node-vault-client's HTTP library (request) uses Node's global agent when given no TLS options.
  if (caCert && address.startsWith('https:')) {
    const https = await import('node:https');
    https.globalAgent.options.ca = [...rootCertificates, readFileSync(caCert, 'utf8')];
  }
  const { default: VaultClient } = await import('node-vault-client');
  const client = new VaultClient({
    api: { url: address },
    auth: { ...auth, config: { ...auth.config, ...(namespace && { namespace }) } },
    logger: false,
  });
  if (namespace) {
    // node-vault-client 1.0.2 leaves X-Vault-Namespace off its token lookup and renewal (its issue #106),
    // which a namespaced Vault refuses: every request of this client carries it.
    const api = (
      client as unknown as {
        __api: { makeRequest: (m: string, p: string, d?: unknown, h?: Record<string, string>) => Promise<unknown> };
      }
    ).__api;
    const makeRequest = api.makeRequest.bind(api);
    api.makeRequest = (m, p, d, h) => makeRequest(m, p, d, { ...h, 'X-Vault-Namespace': namespace });
  }
  const authLabel = auth.type === 'appRole' ? 'AppRole' : auth.type === 'iam' ? 'AWS IAM' : 'token';

  return {
    async read(ref) {
      const path = `${ref.path}${ref.version ? `?version=${ref.version}` : ''}`;
      const shown = `vault:${path}#${ref.key}`;
      let data: Record<string, unknown>;
      try {
        data = (await client.read(path)).getData();
      } catch (error) {
        throw new VaultError('', `${shown}: ${reason(error, address, authLabel)}`, where);
      }
      // KV v2 answers { data: {...}, metadata: {...} }; KV v1 the secret itself.
      const secret = isObject(data.data) && isObject(data.metadata) ? data.data : data;
      const value = secret[ref.key];
      if (value === undefined)
        throw new VaultError(
          '',
          `${shown}: the secret has no key ${JSON.stringify(ref.key)} (it has: ${Object.keys(secret).join(', ') || 'none'})`,
          where,
        );
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
        throw new VaultError('', `${shown}: the value is not text`, where);
      return String(value);
    },
    close() {
      // No close() in node-vault-client 1.0.2: its renewal timer (long-timeout) would keep the process
      // alive for the token's lifetime. Baton reads once at start, so the timer is stopped here.
      const timer = (client as unknown as { __auth?: { __refreshTimeout?: { close(): void } | null } }).__auth
        ?.__refreshTimeout;
      timer?.close();
    },
  };
}

function authFor(
  settings: VaultSettings | undefined,
  env: NodeJS.ProcessEnv,
  where: string,
): { type: string; mount?: string; config: Record<string, unknown> } {
  const a = settings?.auth;
  const roleId = a?.roleId ?? readOptional(a?.roleIdFile, `${where}.auth.roleIdFile`) ?? env.VAULT_ROLE_ID;
  const method = a?.method ?? (roleId ? 'approle' : 'token');
  const mount = a?.mount ? { mount: a.mount } : {};
  if (method === 'approle') {
    if (!roleId) throw new VaultError(`${where}.auth`, 'AppRole needs a role id: roleId, roleIdFile or VAULT_ROLE_ID');
    const secretId = readOptional(a?.secretIdFile, `${where}.auth.secretIdFile`) ?? env.VAULT_SECRET_ID;
    return { type: 'appRole', ...mount, config: { role_id: roleId, ...(secretId && { secret_id: secretId }) } };
  }
  if (method === 'aws') {
    if (!a?.role) throw new VaultError(`${where}.auth.role`, 'AWS IAM auth needs the Vault role to log in as');
    return {
      type: 'iam',
      ...mount,
      config: { role: a.role, ...(a.serverIdHeader && { iam_server_id_header_value: a.serverIdHeader }) },
    };
  }
  const token = env.VAULT_TOKEN || readOptional(join(homedir(), '.vault-token'), '~/.vault-token', true);
  if (!token)
    throw new VaultError(
      `${where}.auth`,
      'no Vault token: set VAULT_TOKEN, log in with `vault login` (~/.vault-token), or use AppRole (VAULT_ROLE_ID, VAULT_SECRET_ID)',
    );
  return { type: 'token', ...mount, config: { token } };
}

function readOptional(file: string | undefined, setting: string, missingOk = false): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch (error) {
    if (missingOk && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new VaultError(setting, `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Vault's reason, in its own words where it gave some; the request (with the token) is never quoted. */
function reason(error: unknown, address: string, auth: string): string {
  const e = error as {
    statusCode?: number;
    error?: { errors?: unknown[] };
    cause?: { code?: string };
    message?: string;
  };
  const said = (e.error?.errors ?? [])
    .map((x) =>
      String(x)
        .replace(/\s+/g, ' ')
        .replace(/^1 error occurred: \* /, '')
        .trim(),
    )
    .filter(Boolean)
    .join('; ');
  switch (e.statusCode) {
    case 403:
      return `permission denied (${auth} auth${said && !/permission denied/.test(said) ? `: ${said}` : ''}): the token's policies do not allow reading it, or the login failed`;
    case 404:
      return 'not found: no secret at this path (KV v2 paths include data/, as in secret/data/api)';
    case 503:
      return `Vault at ${address} is sealed or unavailable${said ? ` (${said})` : ''}`;
    case 400:
      return `refused${said ? `: ${said}` : ''}`;
    case undefined:
      return `cannot reach Vault at ${address}: ${e.cause?.code ?? e.message?.split('\n')[0]?.replace(/^RequestError: /, '') ?? 'no answer'}`;
    default:
      return `Vault answered ${e.statusCode}${said ? `: ${said}` : ''}`;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
