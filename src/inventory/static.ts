/**
 * Static Ansible inventories, INI or YAML, read as Ansible reads them: groups, `children`, `vars`,
 * host ranges (`app[01:12]`, `db[a:c]`), `ansible_host`, `ansible_user`, `ansible_port`, and a bastion
 * from `ansible_ssh_common_args='-o ProxyJump=user@host:port'`. An `instance_id` host variable (as
 * Ansible's aws_ec2 plugin sets it) ties a host to its load balancer registrations.
 */
import { readFileSync } from 'node:fs';
import { decryptVault, isVaulted, type VaultSecret } from '../secrets/ansible-vault.ts';
import { vaultPasswordsFrom, type VaultPasswords } from '../secrets/sources.ts';
import { revealVaulted, VAULT_TAG } from '../secrets/yaml-vault.ts';
import { parse as parseYaml } from 'yaml';
import type { BastionSettings } from '../config/types.ts';
import { InventoryError } from '../errors.ts';
import type { Host } from './host.ts';

type Vars = Record<string, string>;

interface Group {
  hosts: Map<string, Vars>;
  children: Set<string>;
  vars: Vars;
}

export interface StaticInventory {
  /** In Ansible's order for `all`, which is the order batches are made in. */
  readonly hosts: Host[];
  /** Each group's hosts in Ansible's order, for `group[0]`-style subscripts. */
  readonly groupHosts: ReadonlyMap<string, readonly string[]>;
  /** The bastion every host's ProxyJump names, if any. */
  readonly bastion?: BastionSettings;
}

/**
 * Reads an inventory; `secrets` open one encrypted whole with ansible-vault, or its `!vault` values
 * (YAML). Their plaintext is registered for masking like every secret.
 */
export function loadInventory(file: string, secrets: readonly VaultSecret[] = []): StaticInventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InventoryError(`cannot read the inventory ${file}: ${(error as Error).message}`);
  }
  if (isVaulted(text)) text = decryptVault(text, secrets, file).toString('utf8');
  const groups = /\.ya?ml$/i.test(file) ? parseYamlInventory(text, file, secrets) : parseIniInventory(text, file);
  return resolveInventory(groups, file);
}

/** Reads an inventory for a command: Ansible Vault passwords are asked for only when the file holds vaulted text. */
export async function openInventory(
  file: string,
  vaultPasswords: VaultPasswords = vaultPasswordsFrom(),
): Promise<StaticInventory> {
  let vaulted = false;
  try {
    vaulted = /\$ANSIBLE_VAULT;|!vault\b/.test(readFileSync(file, 'utf8'));
  } catch {
    // loadInventory says why it cannot be read
  }
  return loadInventory(file, vaulted ? await vaultPasswords() : []);
}

function group(groups: Map<string, Group>, name: string): Group {
  let g = groups.get(name);
  if (!g) groups.set(name, (g = { hosts: new Map(), children: new Set(), vars: {} }));
  return g;
}

/** `app[01:03]` → app01, app02, app03; `db[a:c]` → dba, dbb, dbc; with an optional `:stride`. */
export function expandHostRange(pattern: string): string[] {
  const m = /^(.*)\[([0-9]+|[a-z]):([0-9]+|[a-z])(?::(\d+))?\](.*)$/.exec(pattern);
  if (!m) return [pattern];
  const [, head, from, to, stride, tail] = m as unknown as [string, string, string, string, string | undefined, string];
  const step = Number(stride ?? 1);
  const out: string[] = [];
  if (/^\d+$/.test(from)) {
    const width = from.length > 1 && from.startsWith('0') ? from.length : 0;
    for (let i = Number(from); i <= Number(to); i += step) out.push(`${head}${String(i).padStart(width, '0')}`);
  } else {
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c += step) out.push(`${head}${String.fromCharCode(c)}`);
  }
  return out.flatMap((name) => expandHostRange(`${name}${tail}`));
}

/** `key=value key2='quoted value'` → vars. */
function parseVars(text: string, where: string): Vars {
  const vars: Vars = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)=('([^']*)'|"([^"]*)"|(\S+))/gy;
  let rest = text.trim();
  while (rest) {
    re.lastIndex = 0;
    const m = re.exec(rest);
    if (!m) throw new InventoryError(`${where}: cannot read ${JSON.stringify(rest)} (expected key=value)`);
    vars[m[1]!] = m[3] ?? m[4] ?? m[5]!;
    rest = rest.slice(m[0].length).trim();
  }
  return vars;
}

export function parseIniInventory(text: string, file: string): Map<string, Group> {
  const groups = new Map<string, Group>();
  group(groups, 'all');
  let section = { name: 'ungrouped', kind: 'hosts' as 'hosts' | 'vars' | 'children' };
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/^\s*[#;].*$/, '').trim();
    if (!line) return;
    const where = `${file}:${i + 1}`;
    const header = /^\[([^\]:]+)(?::(vars|children))?\]$/.exec(line);
    if (header) {
      section = { name: header[1]!, kind: (header[2] as 'vars' | 'children') ?? 'hosts' };
      group(groups, section.name);
      return;
    }
    const g = group(groups, section.name);
    if (section.kind === 'children') g.children.add(line);
    else if (section.kind === 'vars') Object.assign(g.vars, parseVars(line, where));
    else {
      const [pattern, ...rest] = line.split(/\s+/);
      const vars = parseVars(rest.join(' '), where);
      for (const name of expandHostRange(pattern!)) g.hosts.set(name, { ...(g.hosts.get(name) ?? {}), ...vars });
    }
  });
  return groups;
}

export function parseYamlInventory(
  text: string,
  file: string,
  secrets: readonly VaultSecret[] = [],
): Map<string, Group> {
  const groups = new Map<string, Group>();
  const doc = revealVaulted(parseYaml(text, { customTags: [VAULT_TAG] }), secrets, file) as Record<
    string,
    unknown
  > | null;
  const walk = (name: string, node: unknown) => {
    const g = group(groups, name);
    if (node === null || node === undefined) return;
    if (typeof node !== 'object') throw new InventoryError(`${file}: group ${name} is not a mapping`);
    const { hosts, children, vars } = node as {
      hosts?: Record<string, unknown>;
      children?: Record<string, unknown>;
      vars?: Record<string, unknown>;
    };
    for (const [pattern, hv] of Object.entries(hosts ?? {})) {
      for (const h of expandHostRange(pattern)) g.hosts.set(h, stringify(hv));
    }
    Object.assign(g.vars, stringify(vars));
    for (const [child, childNode] of Object.entries(children ?? {})) {
      g.children.add(child);
      walk(child, childNode);
    }
  };
  for (const [name, node] of Object.entries(doc ?? {})) walk(name, node);
  group(groups, 'all');
  return groups;
}

function stringify(vars: unknown): Vars {
  return Object.fromEntries(Object.entries((vars as Record<string, unknown>) ?? {}).map(([k, v]) => [k, String(v)]));
}

function resolveInventory(groups: Map<string, Group>, file: string): StaticInventory {
  group(groups, 'ungrouped');
  const parents = new Map<string, string[]>();
  for (const [name, g] of groups) for (const c of g.children) parents.set(c, [...(parents.get(c) ?? []), name]);
  // As Ansible reconciles an inventory: a group without a parent is a child of `all` (after `ungrouped`,
  // then in the order groups were declared); a host in no group but `all` is in `ungrouped`, and a host
  // in another group is not.
  const all = groups.get('all')!;
  const ungrouped = groups.get('ungrouped')!;
  const topLevel = [
    'ungrouped',
    ...[...groups.keys()].filter((n) => n !== 'all' && n !== 'ungrouped' && !parents.has(n)),
  ];
  all.children = new Set([...topLevel, ...all.children]);
  for (const c of all.children)
    if (!parents.get(c)?.includes('all')) parents.set(c, [...(parents.get(c) ?? []), 'all']);
  const named = new Set(
    [...groups].filter(([n]) => n !== 'all' && n !== 'ungrouped').flatMap(([, g]) => [...g.hosts.keys()]),
  );
  for (const h of ungrouped.hosts.keys()) if (named.has(h)) ungrouped.hosts.delete(h);
  for (const h of all.hosts.keys()) if (!named.has(h) && !ungrouped.hosts.has(h)) ungrouped.hosts.set(h, {});

  /** Every group a host is in, through `children`, parent before child. */
  const ancestry = (name: string, seen = new Set<string>()): string[] => {
    if (seen.has(name)) return [];
    seen.add(name);
    return [...(parents.get(name) ?? []).flatMap((p) => ancestry(p, seen)), name];
  };
  /** Ansible's group depth: the longest path from `all`; group vars apply by (depth, name). */
  const depth = (name: string, seen = new Set<string>()): number => {
    if (name === 'all' || seen.has(name)) return 0;
    seen.add(name);
    return 1 + Math.max(0, ...(parents.get(name) ?? ['all']).map((p) => depth(p, new Set(seen))));
  };
  const memberships = new Map<string, { groups: string[]; vars: Vars }>();
  for (const name of orderedGroups(groups, 'all')) {
    for (const [host, hostVars] of groups.get(name)!.hosts) {
      const m = memberships.get(host) ?? { groups: [], vars: {} };
      for (const gname of ancestry(name)) if (!m.groups.includes(gname)) m.groups.push(gname);
      Object.assign(m.vars, hostVars);
      memberships.set(host, m);
    }
  }
  if (!memberships.size) throw new InventoryError(`${file} lists no host`);
  let bastion: BastionSettings | undefined;
  const hosts = [...memberships].map(([name, m]) => {
    const vars: Vars = { ...all.vars };
    const byPrecedence = m.groups
      .filter((g) => g !== 'all')
      .sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const g of byPrecedence) Object.assign(vars, groups.get(g)!.vars);
    Object.assign(vars, m.vars);
    const jump = /ProxyJump=(?:([^@\s'"]+)@)?([^:\s'"]+)(?::(\d+))?/.exec(vars.ansible_ssh_common_args ?? '');
    if (jump) {
      const b = { host: jump[2]!, port: Number(jump[3] ?? 22), user: jump[1] ?? vars.ansible_user ?? '' };
      if (bastion && (bastion.host !== b.host || bastion.port !== b.port)) {
        throw new InventoryError(
          `${file}: hosts name different bastions (${bastion.host}:${bastion.port} and ${b.host}:${b.port}); Baton uses one bastion per run`,
        );
      }
      bastion = b;
    }
    const port = vars.ansible_port ?? vars.ansible_ssh_port;
    if (port !== undefined && !/^\d+$/.test(port))
      throw new InventoryError(`${file}: ${name}: ansible_port ${JSON.stringify(port)} is not a port`);
    const host: Host = {
      name,
      address: vars.ansible_host ?? name,
      ...(vars.instance_id && { instanceId: vars.instance_id }),
      // An IP target group knows the instance by its private address: the one Ansible connects to, if an IPv4.
      ...(vars.instance_id &&
        /^\d{1,3}(\.\d{1,3}){3}$/.test(vars.ansible_host ?? '') && { privateIp: vars.ansible_host }),
      tags: {},
      groups: m.groups.filter((g) => g !== 'all'),
      ssh: { ...(vars.ansible_user && { user: vars.ansible_user }), ...(port && { port: Number(port) }) },
    };
    return host;
  });
  // Each group's hosts in the order Ansible gives them, which `group[0]` subscripts index.
  const groupHosts = new Map(
    [...groups.keys()].map((g) => [
      g,
      [...new Set(orderedGroups(groups, g).flatMap((n) => [...groups.get(n)!.hosts.keys()]))],
    ]),
  );
  return { hosts, groupHosts, ...(bastion && { bastion }) };
}

/**
 * A group and its descendants in Ansible's order (Group.get_descendants with preserve_ordering): the
 * group, its children, then each further level breadth-first. Its hosts, in this order, are the group's.
 */
function orderedGroups(groups: Map<string, Group>, root: string): string[] {
  const ordered = [root, ...(groups.get(root)?.children ?? [])];
  const seen = new Set(ordered);
  let level = [...(groups.get(root)?.children ?? [])];
  while (level.length) {
    const next: string[] = [];
    for (const g of level)
      for (const c of groups.get(g)?.children ?? []) {
        if (seen.has(c)) continue;
        seen.add(c);
        next.push(c);
        ordered.push(c);
      }
    level = next;
  }
  return ordered.filter((g) => groups.has(g));
}
