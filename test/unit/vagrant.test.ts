import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const vagrant = spawnSync('vagrant', ['--version']).status === 0;

describe('the Vagrant topology', () => {
  it.skipIf(!vagrant)('passes `vagrant validate` (no provider needed)', () => {
    const out = execFileSync('vagrant', ['validate', '--ignore-provider'], { cwd: root, encoding: 'utf8', env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1' } });
    expect(out).toContain('Vagrantfile validated successfully');
  });

  it('matches its static inventory: same hosts, same private addresses, the bastion as ProxyJump', () => {
    const vagrantfile = readFileSync(join(root, 'Vagrantfile'), 'utf8');
    const inventory = readFileSync(join(root, 'inventory', 'vagrant.ini'), 'utf8');
    const vmHosts = Object.fromEntries([...vagrantfile.matchAll(/"(app-\d+)" => "([\d.]+)"/g)].map((m) => [m[1], m[2]]));
    const invHosts = Object.fromEntries([...inventory.matchAll(/^(app-\d+) ansible_host=([\d.]+)/gm)].map((m) => [m[1], m[2]]));
    expect(Object.keys(vmHosts)).toHaveLength(2);
    expect(invHosts).toEqual(vmHosts);
    const forwarded = /guest: 22, host: (\d+)/.exec(vagrantfile)?.[1];
    expect(inventory).toContain(`ProxyJump=deploy@127.0.0.1:${forwarded}`);
  });
});
