/**
 * Baton's Vault module through node-vault-client against the Vault emulator: each auth method, KV v1
 * and v2 (with versions), namespaces, and each error named with its path and reason, never the token.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVault, parseVaultReference, type VaultReference } from '../../src/secrets/hashicorp-vault.ts';
import { startVaultEmulator, type VaultEmulator } from '../vault-emulator/server.ts';

let vault: VaultEmulator;
const dir = mkdtempSync(join(tmpdir(), 'baton-vault-'));
const ref = (text: string) => parseVaultReference(text) as VaultReference;

beforeAll(async () => {
  vault = await startVaultEmulator({
    mounts: {
      secret: { version: 2, secrets: { api: [{ password: 'first' }, { password: 'second' }] } },
      kv1: { version: 1, secrets: { legacy: { token: 'legacy-token' } } },
    },
    tokens: {
      'hvs.reader': { paths: ['secret/data/api', 'kv1/'], renewable: false },
      'hvs.renewable': { paths: ['secret/data/api'], renewable: true, ttlSeconds: 3600 },
      'hvs.team': { paths: ['secret/data/'], namespace: 'team', renewable: false },
    },
    approles: { 'role-1': { secretId: 'secret-1', paths: ['secret/data/api'], renewable: false } },
    awsRoles: { deployer: { paths: ['secret/data/api'] } },
  });
  writeFileSync(join(dir, 'role-id'), 'role-1\n');
  writeFileSync(join(dir, 'secret-id'), 'secret-1\n');
  writeFileSync(join(dir, 'wrong-secret-id'), 'nope\n');
});
afterAll(() => vault?.close());

async function read(settings: Parameters<typeof openVault>[0], env: NodeJS.ProcessEnv, text: string): Promise<string> {
  const v = await openVault(settings, env);
  try {
    return await v.read(ref(text));
  } finally {
    v.close();
  }
}

describe('vault: references', () => {
  it('parses KV v2 and v1 paths, versions and keys, and nothing else', () => {
    expect(parseVaultReference('vault:secret/data/api#password')).toEqual({ path: 'secret/data/api', key: 'password' });
    expect(parseVaultReference('vault:secret/data/api?version=3#password')).toEqual({
      path: 'secret/data/api',
      version: 3,
      key: 'password',
    });
    for (const bad of ['vault:secret/data/api', 'vault:/abs#k', 'vault:a b#k', 'secret/data/api#k', 'vault:x#'])
      expect(parseVaultReference(bad)).toBeUndefined();
  });
});

describe('vault: auth methods and engines', () => {
  it('reads KV v2 (latest and a version) and KV v1 with a token from VAULT_TOKEN', async () => {
    const env = { VAULT_ADDR: vault.url, VAULT_TOKEN: 'hvs.reader' };
    expect(await read(undefined, env, 'vault:secret/data/api#password')).toBe('second');
    expect(await read(undefined, env, 'vault:secret/data/api?version=1#password')).toBe('first');
    expect(await read(undefined, env, 'vault:kv1/legacy#token')).toBe('legacy-token');
  });

  it('takes the token from ~/.vault-token as the Vault CLI does', async () => {
    const home = mkdtempSync(join(tmpdir(), 'baton-home-'));
    writeFileSync(join(home, '.vault-token'), 'hvs.reader\n');
    const before = process.env.HOME;
    process.env.HOME = home;
    try {
      expect(await read({ address: vault.url }, {}, 'vault:secret/data/api#password')).toBe('second');
    } finally {
      process.env.HOME = before;
    }
  });

  it('logs in with AppRole from files, and says so when the secret id is wrong', async () => {
    const auth = { roleIdFile: join(dir, 'role-id'), secretIdFile: join(dir, 'secret-id') };
    expect(await read({ address: vault.url, auth }, {}, 'vault:secret/data/api#password')).toBe('second');
    expect(
      await read(
        { address: vault.url },
        { VAULT_ROLE_ID: 'role-1', VAULT_SECRET_ID: 'secret-1' },
        'vault:secret/data/api#password',
      ),
    ).toBe('second');
    await expect(
      read(
        { address: vault.url, auth: { ...auth, secretIdFile: join(dir, 'wrong-secret-id') } },
        {},
        'vault:secret/data/api#password',
      ),
    ).rejects.toThrow(/vault:secret\/data\/api#password: refused: invalid role or secret ID/);
  });

  it('logs in with AWS IAM auth, signing with the credentials of the environment', async () => {
    const keys = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'example', AWS_REGION: 'us-east-1' };
    const saved = Object.fromEntries(Object.keys(keys).map((k) => [k, process.env[k]]));
    Object.assign(process.env, keys);
    try {
      expect(
        await read(
          { address: vault.url, auth: { method: 'aws', role: 'deployer' } },
          {},
          'vault:secret/data/api#password',
        ),
      ).toBe('second');
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  it('sends the namespace on every request, token lookup included', async () => {
    expect(
      await read(
        { address: vault.url, namespace: 'team' },
        { VAULT_TOKEN: 'hvs.team' },
        'vault:secret/data/api#password',
      ),
    ).toBe('second');
    const lookups = vault.requests.filter((r) => r.path === '/v1/auth/token/lookup-self' && r.namespace === 'team');
    expect(lookups.length).toBeGreaterThan(0);
  });
});

describe('vault: errors', () => {
  const env = { VAULT_ADDR: '', VAULT_TOKEN: 'hvs.reader' };
  it('name the path and the reason, never the token', async () => {
    const cases: [string, NodeJS.ProcessEnv, RegExp][] = [
      [
        'vault:secret/data/other#password',
        { VAULT_TOKEN: 'hvs.reader' },
        /vault:secret\/data\/other#password: permission denied/,
      ],
      ['vault:secret/data/api#password', { VAULT_TOKEN: 'hvs.wrong-token' }, /permission denied \(token auth/],
      ['vault:kv1/missing#token', { VAULT_TOKEN: 'hvs.reader' }, /vault:kv1\/missing#token: not found/],
      [
        'vault:secret/data/api#user',
        { VAULT_TOKEN: 'hvs.reader' },
        /the secret has no key "user" \(it has: password\)/,
      ],
    ];
    for (const [text, e, expected] of cases) {
      const error = await read({ address: vault.url }, e, text).then(
        () => undefined,
        (x: Error) => x,
      );
      expect(error?.message, text).toMatch(expected);
      expect(error?.message).not.toContain('hvs.');
    }
    vault.seal(true);
    try {
      await expect(
        read({ address: vault.url }, { VAULT_TOKEN: 'hvs.reader' }, 'vault:secret/data/api#password'),
      ).rejects.toThrow(/Vault at http:\/\/127\.0\.0\.1:\d+ is sealed/);
    } finally {
      vault.seal(false);
    }
    await expect(
      read({ address: 'http://127.0.0.1:9' }, { VAULT_TOKEN: 'hvs.reader' }, 'vault:secret/data/api#password'),
    ).rejects.toThrow(/cannot reach Vault at http:\/\/127\.0\.0\.1:9: ECONNREFUSED/);
    await expect(openVault(undefined, env)).rejects.toThrow(/vault\.address: is not set, nor is VAULT_ADDR/);
    const home = process.env.HOME;
    process.env.HOME = dir;
    try {
      await expect(openVault({ address: vault.url }, {})).rejects.toThrow(/no Vault token: set VAULT_TOKEN/);
    } finally {
      process.env.HOME = home;
    }
  });

  it('leave no timer behind: a process that read with a renewable token exits by itself', async () => {
    const script = `import { openVault, parseVaultReference } from ${JSON.stringify(join(import.meta.dirname, '../../src/secrets/hashicorp-vault.ts'))};
const v = await openVault({ address: ${JSON.stringify(vault.url)} }, { VAULT_TOKEN: 'hvs.renewable' });
console.log(await v.read(parseVaultReference('vault:secret/data/api#password')));
v.close();`;
    const file = join(dir, 'read.mts');
    writeFileSync(file, script);
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { timeout: 20_000 });
    // Without close(), the client's renewal timer would hold it for half the token's hour: execFile's timeout fails it.
    expect(stdout.trim()).toBe('second');
  });
});
