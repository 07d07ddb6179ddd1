import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectHosts } from '../../src/inventory/limit.ts';
import { expandHostRange, loadInventory } from '../../src/inventory/static.ts';

const dir = mkdtempSync(join(tmpdir(), 'baton-inventory-'));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

describe('static Ansible inventories', () => {
  it('reads the Vagrant inventory, with its bastion from ProxyJump', () => {
    const inv = loadInventory(join(import.meta.dirname, '..', '..', 'inventory', 'vagrant.ini'));
    expect(inv.hosts.map((h) => `${h.name} ${h.address} ${h.groups.join(',')} ${h.ssh?.user ?? '-'}`)).toEqual([
      'app-1 192.168.56.11 app deploy',
      'app-2 192.168.56.12 app deploy',
    ]);
    expect(inv.bastion).toEqual({ host: '127.0.0.1', port: 2210, user: 'deploy' });
  });

  it('expands numeric and alphabetic ranges', () => {
    expect(expandHostRange('app[01:03].example')).toEqual(['app01.example', 'app02.example', 'app03.example']);
    expect(expandHostRange('db-[a:c]')).toEqual(['db-a', 'db-b', 'db-c']);
    expect(expandHostRange('w[1:7:3]')).toEqual(['w1', 'w4', 'w7']);
  });

  it('applies children and vars with Ansible precedence (all < parent < child < host; same depth by name)', () => {
    const file = write(
      'prod.ini',
      `[all:vars]\nansible_user=root\nansible_port=22\n\n[web]\nweb[1:2] instance_id=i-0abc\n\n[canary]\nweb1 ansible_port=2222\n\n[frontend:children]\nweb\n\n[frontend:vars]\nansible_user=deploy\n\n[canary:vars]\nansible_user=canary\n`,
    );
    const { hosts } = loadInventory(file);
    const web1 = hosts.find((h) => h.name === 'web1')!;
    // canary and frontend are both at depth 1, so their vars merge by name: frontend's come last (as
    // `ansible-inventory --host web1` says: ansible_user deploy).
    expect(web1).toMatchObject({ address: 'web1', instanceId: 'i-0abc', ssh: { user: 'deploy', port: 2222 } });
    expect([...web1.groups].sort()).toEqual(['canary', 'frontend', 'web']);
    expect(hosts.find((h) => h.name === 'web2')).toMatchObject({ ssh: { user: 'deploy', port: 22 } });
    expect(selectHosts(hosts, 'frontend:!canary').map((h) => h.name)).toEqual(['web2']);
  });

  it('reads the YAML form', () => {
    const file = write(
      'prod.yml',
      `all:\n  vars: { ansible_user: deploy }\n  children:\n    web:\n      hosts:\n        web[1:2]: { ansible_host: 10.0.0.1 }\n      vars:\n        ansible_ssh_common_args: "-o ProxyJump=ops@bastion.example:2200"\n`,
    );
    const inv = loadInventory(file);
    expect(inv.hosts.map((h) => `${h.name} ${h.groups.join(',')} ${h.ssh?.user}`)).toEqual([
      'web1 web deploy',
      'web2 web deploy',
    ]);
    expect(inv.bastion).toEqual({ host: 'bastion.example', port: 2200, user: 'ops' });
  });

  it('names the file and line of what it cannot read', () => {
    expect(() => loadInventory(write('bad.ini', '[web]\nweb1 ansible_host\n'))).toThrow(
      /bad.ini:2: cannot read "ansible_host" \(expected key=value\)/,
    );
    expect(() => loadInventory(join(dir, 'missing.ini'))).toThrow(/cannot read the inventory .*missing.ini/);
  });
});
