/**
 * Baton against Ansible itself (Debian's ansible-core, installed by `npm test`): the same inventory
 * files read by both give the same hosts, groups, addresses, users and ports, and every `--limit`
 * pattern selects the same hosts in the same order. Ansible is asked through its own InventoryManager,
 * as `ansible-playbook --limit` uses it, in one Python process for the whole table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { selectHosts } from '../../src/inventory/limit.ts';
import { loadInventory } from '../../src/inventory/static.ts';

// Debian's interpreter, which has Debian's ansible-core; `python3` on PATH may be another one.
const PYTHON = '/usr/bin/python3';

const ASK_ANSIBLE = `
import json, sys
from ansible.inventory.manager import InventoryManager
from ansible.inventory.helpers import get_group_vars
from ansible.parsing.dataloader import DataLoader
from ansible.utils.vars import combine_vars
source, patterns = sys.argv[1], json.loads(sys.argv[2])
im = InventoryManager(loader=DataLoader(), sources=[source])
hosts = {}
for h in im.get_hosts('all'):
    v = combine_vars(get_group_vars(h.get_groups()), h.get_vars())
    hosts[h.name] = {'groups': sorted(g.name for g in h.get_groups() if g.name != 'all'), 'address': v.get('ansible_host', h.name),
                     'user': v.get('ansible_user'), 'port': v.get('ansible_port'), 'common_args': v.get('ansible_ssh_common_args')}
selected = {}
for p in patterns:
    im.subset(p)
    selected[p] = [h.name for h in im.get_hosts('all')]
    im.subset(None)
print(json.dumps({'order': [h.name for h in im.get_hosts('all')], 'hosts': hosts, 'selected': selected}))
`;

interface AnsibleView {
  order: string[];
  hosts: Record<
    string,
    { groups: string[]; address: string; user?: string; port?: number | string; common_args?: string }
  >;
  selected: Record<string, string[]>;
}

function askAnsible(file: string, patterns: string[]): AnsibleView {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} not found: install Debian's ansible-core (npm test does)`);
  const run = spawnSync(PYTHON, ['-c', ASK_ANSIBLE, file, JSON.stringify(patterns)], {
    encoding: 'utf8',
    env: { ...process.env, ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false' },
  });
  if (run.status !== 0)
    throw new Error(
      `ansible could not read ${file} (is Debian's ansible-core installed? npm test installs it):\n${run.stderr}`,
    );
  return JSON.parse(run.stdout) as AnsibleView;
}

const dir = mkdtempSync(join(tmpdir(), 'baton-ansible-'));
afterAll(() => rmSync(dir, { recursive: true }));

const INI = `# A fleet as an operator would describe it to Ansible.
bastion-host ansible_host=203.0.113.5

[web]
web[01:04].example.com ansible_user=deploy
web-canary.example.com ansible_port=2222

[db]
db-[a:c].example.com

[eu]
web01.example.com
web02.example.com
db-a.example.com

[us]
web03.example.com
web04.example.com
db-b.example.com
db-c.example.com

[app:children]
web
db

[app:vars]
ansible_user=ops
ansible_ssh_common_args='-o ProxyJump=jump@203.0.113.5:2200'

[web:vars]
ansible_port=2200
`;

const YAML = `all:
  hosts:
    lonely: { ansible_host: 10.9.9.9 }
  vars:
    ansible_user: root
  children:
    web:
      hosts:
        web-1: { ansible_host: 10.0.1.1 }
        web-2: { ansible_host: 10.0.1.2, ansible_port: 2022 }
      vars:
        ansible_user: deploy
    workers:
      hosts:
        worker[1:3]:
      children:
        gpu:
          hosts:
            worker3:
            gpu-1: { ansible_user: ml }
`;

const PATTERNS = [
  'all',
  '*',
  'web',
  'db',
  'eu',
  'app',
  'ungrouped',
  'web01.example.com',
  'web0*',
  '*.example.com',
  'db-?.example.com',
  'web:db',
  'web,db',
  'eu:&web',
  'app:!eu',
  'web:&us:!web04.example.com',
  'app:!db:&eu',
  '~web0[13]',
  '~^db-[ab]',
  'web[0]',
  'web[-1]',
  'web[1:2]',
  'web[2:]',
  'web[:1]',
  'db[0]:web[0]',
  'eu:us',
  '!eu',
  'web:!web-canary.example.com',
  'app[2]',
  'app[3:5]',
  'eu[1:]:us[0]',
  'all[0]',
  'app[-2:]',
  'web[1-2]',
  'web0[12].example.com',
  'web0[!12].example.com',
  'db-[a-b]*',
];

describe('Baton reads inventories and --limit patterns as Ansible does', () => {
  for (const [kind, text, patterns] of [
    ['INI', INI, PATTERNS],
    [
      'YAML',
      YAML,
      [
        'all',
        'web',
        'workers',
        'gpu',
        'ungrouped',
        'workers:!gpu',
        'workers:&gpu',
        'worker[1:2]',
        'worker*',
        '~^w',
        'web[0]:gpu[-1]',
      ],
    ],
  ] as const) {
    it(`${kind}: the same hosts, groups, addresses, users and ports`, () => {
      const file = join(dir, `hosts.${kind === 'INI' ? 'ini' : 'yml'}`);
      writeFileSync(file, text);
      const ansible = askAnsible(file, [...patterns]);
      const baton = loadInventory(file).hosts;
      expect(baton.map((h) => h.name)).toEqual(ansible.order);
      for (const h of baton) {
        const a = ansible.hosts[h.name]!;
        expect({
          host: h.name,
          groups: [...h.groups].filter((g) => g !== 'all').sort(),
          address: h.address,
          user: h.ssh?.user,
          port: h.ssh?.port,
        }).toEqual({
          host: h.name,
          groups: a.groups,
          address: a.address,
          user: a.user ?? undefined,
          port: a.port === undefined || a.port === null ? undefined : Number(a.port),
        });
      }
    });

    it(`${kind}: every --limit pattern selects what ansible --limit selects, in the same order`, () => {
      const file = join(dir, `limits.${kind === 'INI' ? 'ini' : 'yml'}`);
      writeFileSync(file, text);
      const ansible = askAnsible(file, [...patterns]);
      const { hosts, groupHosts } = loadInventory(file);
      for (const pattern of patterns) {
        const expected = ansible.selected[pattern]!;
        let got: string[];
        try {
          got = selectHosts(hosts, pattern, '--limit', groupHosts).map((h) => h.name);
        } catch (error) {
          // Baton refuses an empty selection where Ansible only warns: that error, and no other, is "nothing".
          if (!/ matches no host\.\n/.test((error as Error).message)) throw error;
          got = [];
        }
        expect({ pattern, hosts: got }).toEqual({ pattern, hosts: expected });
      }
    });
  }
});
