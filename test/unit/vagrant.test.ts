import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { loadInventory } from '../../src/inventory/static.ts';
import type { EmulatorSpec } from '../aws-emulator/types.ts';
import { requireTools } from '../require-tools.ts';

const root = join(import.meta.dirname, '..', '..');
const vagrant = spawnSync('vagrant', ['--version']).status === 0;

describe('the Vagrant topology', () => {
  it.skipIf(!vagrant && !requireTools)('passes `vagrant validate` (no provider needed)', () => {
    const out = execFileSync('vagrant', ['validate', '--ignore-provider'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1' },
    });
    expect(out).toContain('Vagrantfile validated successfully');
  });

  it('matches its static inventory and its AWS emulator spec: app hosts only, same addresses and instance ids, the bastion as ProxyJump', async () => {
    const vagrantfile = readFileSync(join(root, 'Vagrantfile'), 'utf8');
    const vmHosts = Object.fromEntries(
      [...vagrantfile.matchAll(/"(app-\d+)" => \["([\d.]+)", "(i-[0-9a-f]+)"\]/g)].map((m) => [
        m[1],
        { ip: m[2], id: m[3] },
      ]),
    );
    expect(Object.keys(vmHosts)).toHaveLength(2);
    const inventory = loadInventory(join(root, 'inventory', 'vagrant.ini'));
    // The load balancer VM is no deploy target: the inventory's `all` is the app hosts.
    expect(inventory.hosts.map((h) => h.name)).toEqual(Object.keys(vmHosts));
    for (const h of inventory.hosts) expect({ ip: h.address, id: h.instanceId }).toEqual(vmHosts[h.name]);
    const forwarded = /guest: 22, host: (\d+)/.exec(vagrantfile)?.[1];
    expect(inventory.bastion).toMatchObject({ host: '127.0.0.1', port: Number(forwarded), user: 'deploy' });
    expect(vagrantfile).toContain('config.ssh.insert_key = false');

    const spec = JSON.parse(readFileSync(join(root, 'inventory', 'vagrant-aws.json'), 'utf8')) as EmulatorSpec;
    expect(spec.instances.map((i) => ({ ip: i.privateIp, id: i.instanceId }))).toEqual(Object.values(vmHosts));
    // The emulator's classic ELB drives the LB VM's HAProxy: its backend, servers named by instance id, the runtime API forwarded.
    expect(vagrantfile).toMatch(new RegExp(`backend ${spec.classicLoadBalancers[0]!.backend}\\b`));
    expect(vagrantfile).toContain('"  server #{id} #{ip}:8080');
    expect(vagrantfile).toMatch(new RegExp(`guest: 9999, host: ${spec.haproxy!.port}`));

    const config = await loadConfig({ file: join(root, 'inventory', 'vagrant.baton.yaml'), deployment: 'vagrant' });
    expect(config.aws.endpoint).toBe('http://127.0.0.1:4566');
    expect(spec.buckets).toContain(config.state.bucket);
    expect(spec.alarms.map((a) => a.name)).toEqual(config.alarms);
  });
});
