/** Baton hosts from the instances found: names, addresses, groups and host variables, as the plugin builds them. */
import type { Instance } from '@aws-sdk/client-ec2';
import { groupsFromTags } from '../../aws/ec2.ts';
import { InventoryError } from '../../errors.ts';
import type { Host } from '../host.ts';
import { ATTRIBUTES, isRecord, type AwsEc2Config, type Hostname, type KeyedGroup, type PathSegment } from './types.ts';
import type { Found } from './query.ts';

function resolvePath(vars: unknown, path: readonly PathSegment[]): unknown {
  return path.reduce<unknown>(
    (v, segment) => (v !== null && typeof v === 'object' ? (v as Record<PathSegment, unknown>)[segment] : undefined),
    vars,
  );
}

export function buildHosts(instances: readonly Found[], config: AwsEc2Config, file: string): Host[] {
  const hosts: Host[] = [];
  const taken = new Map<string, string>();
  const unnamed: string[] = [];
  for (const instance of instances) {
    const name = preferredHostname(instance, config.hostnames, config.sanitize);
    // The plugin skips an instance no preference names, or whose name is taken. A deploy cannot: the
    // instance would silently keep its old image. Both are errors, after every instance is named.
    if (!name) {
      unnamed.push(instance.InstanceId!);
      continue;
    }
    const holder = taken.get(name);
    if (holder) {
      throw new InventoryError(
        `${file}: instances ${holder} and ${instance.InstanceId} are both named ${JSON.stringify(name)} by hostnames; Baton needs one name per instance: put a unique preference first (tag:Name, private-ip-address or instance-id)`,
      );
    }
    taken.set(name, instance.InstanceId!);
    const tags = tagDict(instance);
    const vars = hostVars(instance, config);
    const where = `${file}: ${name} (${instance.InstanceId})`;
    let address = instance.PrivateIpAddress;
    if (config.address) {
      const v = resolvePath(vars, config.address.path);
      address = typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
      if (!address)
        throw new InventoryError(
          `${where}: compose.ansible_host ${config.address.expression} is empty for this instance; choose a host variable every instance has`,
        );
    }
    if (!address)
      throw new InventoryError(
        `${where}: the instance has no private IP address; set compose.ansible_host to the address to connect to`,
      );
    const groups = [
      'aws_ec2',
      ...config.groups.map(config.sanitize),
      ...keyedGroups(vars, config, where),
      ...groupsFromTags(tags),
    ];
    hosts.push({
      name,
      address,
      instanceId: instance.InstanceId!,
      ...(instance.PrivateIpAddress && { privateIp: instance.PrivateIpAddress }),
      tags,
      groups: [...new Set(groups)],
      ...((config.ssh.user !== undefined || config.ssh.port !== undefined) && { ssh: config.ssh }),
    });
  }
  if (unnamed.length) {
    const prefs = config.hostnames.map((h) => (typeof h === 'string' ? h : `{name: ${h.name}}`)).join(', ');
    const which = hosts.length
      ? `${unnamed.length} of ${instances.length} EC2 instances matched (${unnamed.join(', ')}) have no name`
      : `${instances.length} EC2 instance(s) matched, but none has a name`;
    throw new InventoryError(
      `${file}: ${which} from hostnames [${prefs}] (instances in private subnets have no dns-name: add private-ip-address or instance-id as a last preference)`,
    );
  }
  return hosts.sort(
    (a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }) || a.instanceId!.localeCompare(b.instanceId!),
  );
}

/** The plugin's hostname rule: the first preference that yields a non-empty name. */
function preferredHostname(
  instance: Instance,
  preferences: readonly Hostname[],
  sanitize: (name: string) => string,
): string | undefined {
  for (const p of preferences) {
    let name: string | undefined;
    if (typeof p !== 'string') {
      name = preferredHostname(instance, [p.name], sanitize);
      const prefix = p.prefix === undefined ? undefined : preferredHostname(instance, [p.prefix], sanitize);
      if (name && prefix) name = `${prefix}${p.separator}${name}`;
    } else if (p.startsWith('tag:')) {
      const tags = tagDict(instance);
      // `tag:Name` is the tag's value; `tag:K=V` is `K_V` when the tag has that value; a comma lists alternatives.
      name = p
        .slice(4)
        .split(',')
        .map((alt) => {
          const eq = alt.indexOf('=');
          if (eq < 0) return tags[alt] || undefined;
          return tags[alt.slice(0, eq)] === alt.slice(eq + 1) ? `${alt.slice(0, eq)}_${alt.slice(eq + 1)}` : undefined;
        })
        .find((v) => v);
    } else {
      name = Object.hasOwn(ATTRIBUTES, p) ? ATTRIBUTES[p]!(instance) : p;
    }
    if (name) return name.includes(':') ? sanitize(name) : name;
  }
  return undefined;
}

/** Constructed's keyed_groups, as Ansible builds them from a key's value (a string, a list or a mapping). */
function keyedGroups(vars: Record<string, unknown>, config: AwsEc2Config, where: string): string[] {
  return config.keyedGroups.flatMap((g) => {
    const value = resolvePath(vars, g.path);
    const scalar = (v: unknown): string | undefined =>
      typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
    // Ansible's test: a falsy key makes no group, except an empty string when there is a default_value.
    if (
      value === undefined ||
      value === null ||
      value === false ||
      value === 0 ||
      (value === '' && g.defaultValue === undefined)
    ) {
      if (config.strict)
        throw new InventoryError(
          `${where}: keyed_groups key ${g.key} is undefined or empty for this host (strict: true)`,
        );
      return [];
    }
    const orDefault = (v: string) => (v === '' && g.defaultValue !== undefined ? g.defaultValue : v);
    let bare: string[];
    if (Array.isArray(value)) {
      bare = value.map((v) => orDefault(scalar(v) ?? badKey(g, where, v)));
    } else if (isRecord(value)) {
      bare = Object.entries(value).map(([k, v]) => {
        const s = scalar(v) ?? badKey(g, where, v);
        if (s === '' && g.defaultValue !== undefined) return `${k}${g.separator}${g.defaultValue}`;
        return s === '' && g.trailingSeparator === false ? k : `${k}${g.separator}${s}`;
      });
    } else {
      bare = [orDefault(scalar(value) ?? badKey(g, where, value))];
    }
    const separator = g.prefix === '' && !config.leadingSeparator ? '' : g.separator;
    return bare.flatMap((b) => {
      const group = config.sanitize(`${g.prefix}${separator}${b}`);
      return g.parentGroup ? [config.sanitize(g.parentGroup), group] : [group];
    });
  });
}

function badKey(g: KeyedGroup, where: string, value: unknown): never {
  throw new InventoryError(
    `${where}: keyed_groups key ${g.key} gives ${JSON.stringify(value)}, which cannot name a group (use a key whose value is a string, a list of strings or a mapping)`,
  );
}

/** The plugin's host variables: DescribeInstances fields snake_cased, with tags as a mapping and placement.region. */
function hostVars(instance: Found, config: AwsEc2Config): Record<string, unknown> {
  const vars = snakeCase(instance) as Record<string, unknown>;
  const tags = tagDict(instance);
  vars.ec2_tags = tags;
  vars.tags = tags;
  const placement = isRecord(vars.placement) ? vars.placement : (vars.placement = {});
  if (typeof placement.availability_zone === 'string') placement.region = placement.availability_zone.slice(0, -1);
  if (config.contribTagKeys) for (const [k, v] of Object.entries(tags)) vars[`ec2_tag_${k}`] = v;
  if (!config.hostvarsPrefix && !config.hostvarsSuffix) return vars;
  return Object.fromEntries(
    Object.entries(vars).map(([k, v]) => [`${config.hostvarsPrefix}${k}${config.hostvarsSuffix}`, v]),
  );
}

function snakeCase(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(snakeCase);
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => k !== 'Tags')
      .map(([k, v]) => [camelToSnake(k), snakeCase(v)]),
  );
}

/** Ansible's `_camel_to_snake`: `PrivateIpAddress` → private_ip_address, `Ipv6Address` → ipv6_address. */
function camelToSnake(name: string): string {
  let s = name.replace(/[A-Z]{3,}s$/, (m) => `_${m.toLowerCase()}`);
  if (s.startsWith('_') && !name.startsWith('_')) s = s.slice(1);
  return s
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z0-9])([A-Z]+)/g, '$1_$2')
    .toLowerCase();
}

function tagDict(instance: Instance): Record<string, string> {
  return Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}
