/**
 * The Vault emulator answers as Vault's API documentation says, on the wire (plain fetch) and to
 * node-vault-client itself.
 */
import VaultClient from 'node-vault-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultEmulator, type VaultEmulator } from './server.ts';

const ROOT = 'hvs.root-token';
const READER = 'hvs.api-reader';
const TEAM = 'hvs.team-token';
let vault: VaultEmulator;

beforeAll(async () => {
  vault = await startVaultEmulator({
    mounts: {
      secret: {
        version: 2,
        secrets: {
          api: [{ password: 'one' }, null, { password: 'three' }],
          'web/tls': { cert: 'pem' },
          'web/db': { url: 'pg://' },
        },
      },
      kv1: { version: 1, secrets: { legacy: { token: 'abc' } } },
    },
    tokens: {
      [ROOT]: { paths: ['*'] },
      [READER]: { paths: ['secret/data/api', 'kv1/'], ttlSeconds: 3600, renewable: false },
      [TEAM]: { paths: ['secret/data/'], namespace: 'team' },
    },
    approles: { 'role-1': { secretId: 'secret-1', paths: ['secret/data/api'], ttlSeconds: 600, renewable: false } },
    awsRoles: { deployer: { paths: ['secret/data/api'] } },
  });
});
afterAll(() => vault?.close());

const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) => {
  const res = await fetch(`${vault.url}/v1/${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any -- the tests read any field of Vault's answers;
};
const get = (path: string, token?: string, extra: Record<string, string> = {}) =>
  call('GET', path, { ...(token && { 'X-Vault-Token': token }), ...extra });

describe('Vault emulator', () => {
  it('reports health, and answers 503 to everything else while sealed', async () => {
    const healthy = await get('sys/health');
    expect(healthy.status).toBe(200);
    expect(healthy.body).toMatchObject({
      initialized: true,
      sealed: false,
      standby: false,
      version: '1.15.0-emulator',
    });
    vault.seal(true);
    try {
      const health = await get('sys/health');
      expect(health.status).toBe(503);
      expect(health.body.sealed).toBe(true);
      expect(await get('secret/data/api', ROOT)).toEqual({ status: 503, body: { errors: ['Vault is sealed'] } });
    } finally {
      vault.seal(false);
    }
  });

  it('looks a token up, and refuses unknown or missing tokens', async () => {
    const { status, body } = await get('auth/token/lookup-self', READER);
    expect(status).toBe(200);
    expect(body.data).toMatchObject({
      id: READER,
      policies: ['default'],
      renewable: false,
      creation_ttl: 3600,
      type: 'service',
    });
    expect(body.data.ttl).toBeGreaterThan(3590);
    expect(Date.parse(body.data.expire_time)).toBeGreaterThan(Date.now());
    expect(typeof body.data.creation_time).toBe('number');
    expect((await get('auth/token/lookup-self', ROOT)).body.data).toMatchObject({
      policies: ['root'],
      ttl: 0,
      expire_time: null,
      path: 'auth/token/root',
    });
    expect(await get('auth/token/lookup-self', 'hvs.nope')).toEqual({
      status: 403,
      body: { errors: ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'] },
    });
    expect(await get('auth/token/lookup-self')).toEqual({ status: 403, body: { errors: ['permission denied'] } });
    expect(await call('POST', 'auth/token/renew-self', { 'X-Vault-Token': READER })).toEqual({
      status: 400,
      body: { errors: ['lease is not renewable'] },
    });
  });

  it('logs in with an AppRole, then reads KV v2 by version', async () => {
    expect(await call('POST', 'auth/approle/login', {}, { role_id: 'role-1', secret_id: 'wrong' })).toEqual({
      status: 400,
      body: { errors: ['invalid role or secret ID'] },
    });
    const login = await call('POST', 'auth/approle/login', {}, { role_id: 'role-1', secret_id: 'secret-1' });
    expect(login.status).toBe(200);
    expect(login.body.auth).toMatchObject({
      lease_duration: 600,
      renewable: false,
      metadata: { role_name: 'role-1' },
      policies: ['default'],
    });
    const token = login.body.auth.client_token as string;

    const latest = await get('secret/data/api', token);
    expect(latest.status).toBe(200);
    expect(latest.body).toMatchObject({
      lease_duration: 0,
      renewable: false,
      data: {
        data: { password: 'three' },
        metadata: { version: 3, deletion_time: '', destroyed: false, custom_metadata: null },
      },
    });
    expect((await get('secret/data/api?version=1', token)).body.data.data).toEqual({ password: 'one' });
    const deleted = await get('secret/data/api?version=2', token);
    expect(deleted.status).toBe(404);
    expect(deleted.body.data.data).toBeNull();
    expect(deleted.body.data.metadata.deletion_time).not.toBe('');
    expect(await get('secret/data/api?version=9', token)).toEqual({ status: 404, body: { errors: [] } });
  });

  it('reads KV v1, and lists both engines', async () => {
    const { status, body } = await get('kv1/legacy', READER);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      lease_id: '',
      renewable: false,
      lease_duration: 2764800,
      data: { token: 'abc' },
      wrap_info: null,
      warnings: null,
      auth: null,
    });
    expect((await call('LIST', 'secret/metadata/web', { 'X-Vault-Token': ROOT })).body.data).toEqual({
      keys: ['db', 'tls'],
    });
    expect((await get('secret/metadata/?list=true', ROOT)).body.data).toEqual({ keys: ['api', 'web/'] });
    expect((await call('LIST', 'kv1/', { 'X-Vault-Token': READER })).body.data).toEqual({ keys: ['legacy'] });
  });

  it('answers 403 and 404 in Vault’s shapes', async () => {
    expect(await get('secret/data/web/tls', READER)).toEqual({
      status: 403,
      body: { errors: ['1 error occurred:\n\t* permission denied\n\n'] },
    });
    expect(await get('secret/data/missing', ROOT)).toEqual({ status: 404, body: { errors: [] } });
    expect(await get('nomount/data/x', ROOT)).toEqual({
      status: 404,
      body: { errors: ['no handler for route "nomount/data/x". route entry not found.'] },
    });
    const v1Style = await get('secret/api', ROOT);
    expect(v1Style.status).toBe(404);
    expect(v1Style.body.warnings[0]).toMatch(/^Invalid path for a versioned K\/V secrets engine/);
    expect((await call('OPTIONS', 'secret/data/api')).status).toBe(405);
  });

  it('keeps a namespaced token to its namespace', async () => {
    expect((await get('secret/data/web/db', TEAM, { 'X-Vault-Namespace': 'team' })).body.data.data).toEqual({
      url: 'pg://',
    });
    expect((await get('secret/data/web/db', TEAM)).status).toBe(403);
    expect((await get('secret/data/web/db', TEAM, { 'X-Vault-Namespace': 'other' })).status).toBe(403);
    expect(vault.requests.at(-1)).toMatchObject({ namespace: 'other', status: 403 });
    // A root token reaches a child namespace, its policy paths prefixed with the namespace.
    expect((await get('secret/data/web/db', ROOT, { 'X-Vault-Namespace': 'team' })).status).toBe(200);
  });

  it('refuses node-vault-client 1.0.2 a namespaced token: its lookup-self carries no X-Vault-Namespace', async () => {
    const client = new VaultClient({
      api: { url: vault.url },
      auth: { type: 'token', config: { token: TEAM, namespace: 'team' } },
      logger: false,
    });
    await expect(client.read('secret/data/web/db')).rejects.toMatchObject({ statusCode: 403 });
    expect(vault.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/auth/token/lookup-self', status: 403 });
    expect(vault.requests.at(-1)!.namespace).toBeUndefined();
  });

  it('logs in with AWS IAM given a GetCallerIdentity request', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const headers = {
      Host: ['sts.amazonaws.com'],
      'X-Amz-Date': ['20240101T000000Z'],
      Authorization: [
        'AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00',
      ],
    };
    const body = {
      iam_http_request_method: 'POST',
      iam_request_url: b64('https://sts.amazonaws.com/'),
      iam_request_body: b64('Action=GetCallerIdentity&Version=2011-06-15'),
      iam_request_headers: b64(JSON.stringify(headers)),
      role: 'deployer',
    };
    const login = await call('POST', 'auth/aws/login', {}, body);
    expect(login.status).toBe(200);
    expect((await get('secret/data/api', login.body.auth.client_token)).body.data.data).toEqual({ password: 'three' });
    expect(
      (
        await call(
          'POST',
          'auth/aws/login',
          {},
          { ...body, iam_request_body: b64('Action=GetSessionToken&Version=2011-06-15') },
        )
      ).status,
    ).toBe(400);
    const { Authorization: _, ...unsigned } = headers;
    expect(
      (await call('POST', 'auth/aws/login', {}, { ...body, iam_request_headers: b64(JSON.stringify(unsigned)) })).body
        .errors[0],
    ).toMatch(/MissingAuthenticationToken/);
  });

  it('serves node-vault-client, and logs requests without header values', async () => {
    const client = new VaultClient({
      api: { url: vault.url },
      auth: { type: 'token', config: { token: READER } },
      logger: false,
    });
    const lease = await client.read('secret/data/api');
    expect(lease.getData()).toMatchObject({ data: { password: 'three' }, metadata: { version: 3 } });
    await expect(client.read('secret/data/web/tls')).rejects.toMatchObject({ statusCode: 403 });
    // list() sends Vault's LIST method (not in src/secrets/node-vault-client.d.ts, which Baton does not need).
    const lister = client as unknown as { list(path: string): Promise<{ getData(): unknown }> };
    expect((await lister.list('kv1/')).getData()).toEqual({ keys: ['legacy'] });

    const seen = vault.requests.filter((r) => r.path === '/v1/secret/data/api' && r.status === 200);
    expect(seen.at(-1)).toMatchObject({ method: 'GET', status: 200 });
    expect(seen.at(-1)!.headers).toContain('x-vault-token');
    const log = JSON.stringify(vault.requests);
    for (const secret of [READER, ROOT, TEAM, 'secret-1', 'three']) expect(log).not.toContain(secret);
  });
});
