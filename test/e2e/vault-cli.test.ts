/**
 * `baton vault` and Debian's `ansible-vault` read each other's files and strings, with vault ids, so a
 * team keeps one set of encrypted files for both tools; and a whole baton.yaml encrypted by
 * ansible-vault loads.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBaton } from './baton.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'baton-vault-cli-'));
const file = (name: string) => join(dir, name);
const PLAIN = 'db_password: "correct horse"\nlist: [1, 2]\n';

beforeAll(() => {
  writeFileSync(file('dev-pass'), 'dev password\n', { mode: 0o600 });
  writeFileSync(file('prod-pass'), 'prod password\n', { mode: 0o600 });
});

describe('baton vault and ansible-vault', () => {
  it('ansible-vault decrypts what baton vault encrypts, with and without a vault id', async () => {
    writeFileSync(file('a.yml'), PLAIN);
    writeFileSync(file('b.yml'), PLAIN);
    expect((await runBaton(['vault', 'encrypt', file('a.yml'), '--vault-password-file', file('dev-pass')])).code).toBe(
      0,
    );
    expect((await runBaton(['vault', 'encrypt', file('b.yml'), '--vault-id', `prod@${file('prod-pass')}`])).code).toBe(
      0,
    );
    expect(readFileSync(file('a.yml'), 'utf8')).toMatch(/^\$ANSIBLE_VAULT;1\.1;AES256\n/);
    expect(readFileSync(file('b.yml'), 'utf8')).toMatch(/^\$ANSIBLE_VAULT;1\.2;AES256;prod\n/);
    expect(
      (await run('ansible-vault', ['view', file('a.yml'), '--vault-password-file', file('dev-pass')])).stdout,
    ).toBe(PLAIN);
    expect(
      (
        await run('ansible-vault', [
          'view',
          file('b.yml'),
          '--vault-id',
          `dev@${file('dev-pass')}`,
          '--vault-id',
          `prod@${file('prod-pass')}`,
        ])
      ).stdout,
    ).toBe(PLAIN);
    await run('ansible-vault', ['decrypt', file('b.yml'), '--vault-id', `prod@${file('prod-pass')}`]);
    expect(readFileSync(file('b.yml'), 'utf8')).toBe(PLAIN);
  });

  it('baton vault reads what ansible-vault writes, and refuses a wrong password by its vault ids', async () => {
    writeFileSync(file('c.yml'), PLAIN);
    await run('ansible-vault', ['encrypt', file('c.yml'), '--vault-id', `prod@${file('prod-pass')}`]);
    const view = await runBaton([
      'vault',
      'view',
      file('c.yml'),
      '--vault-id',
      `dev@${file('dev-pass')}`,
      '--vault-id',
      `prod@${file('prod-pass')}`,
    ]);
    expect(view.code, view.stderr).toBe(0);
    expect(view.stdout).toBe(PLAIN);
    const wrong = await runBaton(['vault', 'view', file('c.yml'), '--vault-id', `dev@${file('dev-pass')}`]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`${file('c.yml')}: no vault password given opens it (tried vault ids: dev)`);
    const decrypted = await runBaton([
      'vault',
      'decrypt',
      file('c.yml'),
      '--output',
      file('c.plain.yml'),
      '--vault-password-file',
      file('prod-pass'),
    ]);
    expect(decrypted.code, decrypted.stderr).toBe(0);
    expect(readFileSync(file('c.plain.yml'), 'utf8')).toBe(PLAIN);
  });

  it('encrypt-string values work both ways inside YAML', async () => {
    const mine = await runBaton([
      'vault',
      'encrypt-string',
      '--vault-id',
      `dev@${file('dev-pass')}`,
      '--name',
      'token',
      'sécret value!',
    ]);
    expect(mine.code, mine.stderr).toBe(0);
    expect(mine.stdout).toMatch(/^token: !vault \|\n {10}\$ANSIBLE_VAULT;1\.2;AES256;dev\n/);
    writeFileSync(file('vars.yml'), mine.stdout);
    const { stdout } = await run(
      'ansible',
      [
        'localhost',
        '-i',
        'localhost,',
        '-c',
        'local',
        '-m',
        'debug',
        '-a',
        'var=token',
        '-e',
        `@${file('vars.yml')}`,
        '--vault-id',
        `dev@${file('dev-pass')}`,
      ],
      { env: { ...process.env, ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_NOCOLOR: '1' } },
    );
    expect(stdout).toContain('"token": "sécret value!"');

    const theirs = await run('ansible-vault', [
      'encrypt_string',
      '--vault-password-file',
      file('prod-pass'),
      '--name',
      'db',
      'from ansible',
    ]);
    writeFileSync(file('theirs.yml'), theirs.stdout);
    // A !vault value is decrypted where Baton reads YAML: here, view prints the file as it is, so load it as a config.
    const config = `region: us-east-1\nstack: web\nrelease: api\nssh: { user: deploy }\nhealth: { http: { port: 8080 } }\ncontainer:\n  env:\n${theirs.stdout
      .trimEnd()
      .split('\n')
      .map((l) => `    ${l.replace(/^db:/, 'DB:')}`)
      .join('\n')}\ndeployments:\n  x: {}\n`;
    writeFileSync(file('baton.yaml'), config);
    writeFileSync(file('hosts.ini'), 'app-1 ansible_host=127.0.0.1\n');
    const listed = await runBaton([
      'deploy',
      '--config',
      file('baton.yaml'),
      '--deployment',
      'x',
      '-i',
      file('hosts.ini'),
      '--image',
      'reg/app:1',
      '--list-hosts',
      '--vault-password-file',
      file('prod-pass'),
    ]);
    expect(listed.code, listed.stderr).toBe(0);
    const refused = await runBaton([
      'deploy',
      '--config',
      file('baton.yaml'),
      '--deployment',
      'x',
      '-i',
      file('hosts.ini'),
      '--image',
      'reg/app:1',
      '--list-hosts',
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'container.env.DB: is encrypted with Ansible Vault; give its password with --vault-password-file',
    );

    // The whole file encrypted by ansible-vault loads the same.
    await run('ansible-vault', ['encrypt', file('baton.yaml'), '--vault-password-file', file('prod-pass')]);
    const whole = await runBaton(
      [
        'deploy',
        '--config',
        file('baton.yaml'),
        '--deployment',
        'x',
        '-i',
        file('hosts.ini'),
        '--image',
        'reg/app:1',
        '--list-hosts',
      ],
      { env: { ANSIBLE_VAULT_PASSWORD_FILE: file('prod-pass') } },
    );
    expect(whole.code, whole.stderr).toBe(0);
  });

  it('inventories encrypted whole, or holding !vault values, are read with the same passwords', async () => {
    const { stdout: user } = await run('ansible-vault', [
      'encrypt_string',
      '--vault-password-file',
      file('dev-pass'),
      '--name',
      'ansible_user',
      'deployer',
    ]);
    const yaml = `all:\n  hosts:\n    app-1:\n      ansible_host: 127.0.0.1\n${user
      .trimEnd()
      .split('\n')
      .map((l) => `      ${l}`)
      .join('\n')}\n    app-2:\n      ansible_host: 127.0.0.2\n`;
    writeFileSync(file('hosts.yml'), yaml);
    writeFileSync(file('enc.ini'), 'app-3 ansible_host=127.0.0.3\n');
    await run('ansible-vault', ['encrypt', file('enc.ini'), '--vault-id', `prod@${file('prod-pass')}`]);
    const config = `region: us-east-1\nstack: web\nrelease: api\nssh: { user: deploy }\nhealth: { http: { port: 8080 } }\ndeployments:\n  x: {}\n`;
    writeFileSync(file('plain.yaml'), config);
    const list = (inventory: string, ...more: string[]) =>
      runBaton([
        'deploy',
        '--config',
        file('plain.yaml'),
        '--deployment',
        'x',
        '-i',
        file(inventory),
        '--image',
        'reg/app:1',
        '--list-hosts',
        '--reporter',
        'json',
        ...more,
      ]);
    const hosts = (r: Awaited<ReturnType<typeof list>>) =>
      (r.events.find((e) => e.type === 'run-started') as { hosts?: string[] } | undefined)?.hosts;
    expect(hosts(await list('hosts.yml', '--vault-password-file', file('dev-pass')))).toEqual(['app-1', 'app-2']);
    expect(hosts(await list('enc.ini', '--vault-id', `prod@${file('prod-pass')}`))).toEqual(['app-3']);
    const refused = await list('hosts.yml');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `${file('hosts.yml')}: all.hosts.app-1.ansible_user: is encrypted with Ansible Vault`,
    );
  });

  it('baton config show prints every setting with where it came from, secrets as ***', async () => {
    const { stdout: vaulted } = await run('ansible-vault', [
      'encrypt_string',
      '--vault-password-file',
      file('dev-pass'),
      '--name',
      'DB',
      'show-me-not',
    ]);
    const config = `region: us-east-1\nstack: web\nrelease: api\nssh: { user: deploy }\nhealth: { http: { port: 8080 } }\ncontainer:\n  env:\n    FROM_ENV: "\${SHOW_TOKEN}"\n${vaulted
      .trimEnd()
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n')}\ndeployments:\n  x: { rollout: { serial: 2 } }\n`;
    writeFileSync(file('show.yaml'), config);
    const shown = await runBaton(
      [
        'config',
        'show',
        '--config',
        file('show.yaml'),
        '--deployment',
        'x',
        '-e',
        'health.timeout=20s',
        '--vault-password-file',
        file('dev-pass'),
        '--json',
      ],
      { env: { SHOW_TOKEN: 'env-secret-value' } },
    );
    expect(shown.code, shown.stderr).toBe(0);
    const rows = JSON.parse(shown.stdout) as Record<string, { value: unknown; from: string }>;
    expect(rows['rollout.serial']).toEqual({ value: 2, from: `${file('show.yaml')}: deployments.x.rollout.serial` });
    expect(rows['health.timeout']).toEqual({ value: 20_000, from: '-e health.timeout=20s' });
    expect(rows['ssh.port']).toEqual({ value: 22, from: 'default' });
    expect(rows['container.env.DB']!.value).toBe('***');
    expect(rows['container.env.FROM_ENV']!.value).toBe('***');
    expect(shown.stdout + shown.stderr).not.toMatch(/show-me-not|env-secret-value/);
  });
});
