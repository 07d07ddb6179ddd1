/**
 * EC2 inventories in the shape of Ansible's amazon.aws.aws_ec2 plugin (a file named `*aws_ec2.yml`):
 * `regions`, `filters`, `include_filters` / `exclude_filters`, `hostnames`, `allow_duplicated_hosts`, and the
 * constructed options `compose`, `groups`, `keyed_groups`, `strict`, `leading_separator`. Baton evaluates no
 * Jinja: keys and `compose.ansible_host` are dotted paths into the host variables, `groups` conditions must be `true`,
 * and anything else is an error that says what is supported.
 *
 * Where Baton differs from the plugin, on purpose:
 * - `regions` is required: Baton does not list the account's regions when it is empty.
 * - The default state filter is `instance-state-name: running` (the plugin adds pending, stopping and stopped):
 *   Baton deploys only to running instances. An explicit `instance-state-name` filter is used as written.
 *   Exclude queries get no state filter, so an excluded instance stays excluded whatever its state.
 * - A host's address is its private IP unless `compose.ansible_host` names a host variable (the plugin would
 *   connect to the inventory hostname); a path that is empty for an instance is an error, not a silent fallback.
 * - Every instance the filters match must get a name of its own: an instance no `hostnames` preference names, or
 *   two instances with one name, are errors (the plugin skips them, which would leave them on the old image).
 *   `allow_duplicated_hosts: true` is refused for the same reason.
 * - Group names are always sanitised (Ansible does so when `force_valid_group_names` is `always`), and every host is
 *   also in the `tag_<key>_<value>` groups of Baton's EC2 tag discovery (`groupsFromTags`).
 * - Options that choose the AWS account or endpoint (`profile`, `assume_role_arn`, keys, `endpoint_url`) are errors:
 *   ignoring them would query whatever account Baton's own AWS configuration points at.
 * - `placement.availability_zone_id` is not set (it needs DescribeAvailabilityZones).
 */
import { readFile } from 'node:fs/promises';
import { paginateDescribeInstances, type EC2Client, type Filter, type Instance } from '@aws-sdk/client-ec2';
import { parse as parseYaml } from 'yaml';
import { groupsFromTags } from '../aws/ec2.ts';
import { InventoryError } from '../errors.ts';
import type { Host } from './host.ts';

/** Ansible's rule for which files the aws_ec2 plugin reads. */
export function isAwsEc2Inventory(file: string): boolean {
  return file.endsWith('aws_ec2.yml') || file.endsWith('aws_ec2.yaml');
}

/**
 * The instances an aws_ec2 inventory file selects, as Baton hosts sorted by name. `ec2For` gives the client for a
 * region (Baton's own AWS configuration); regions are queried in parallel.
 */
export async function loadAwsEc2Inventory(file: string, ec2For: (region: string) => EC2Client): Promise<Host[]> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(file, 'utf8'));
  } catch (error) {
    throw new InventoryError(`cannot read the inventory ${file}: ${(error as Error).message}`, { cause: error });
  }
  const config = parseConfig(doc, file);
  const instances = await queryInstances(config, ec2For, file);
  return buildHosts(instances, config, file);
}

type Hostname = string | { readonly name: string; readonly prefix?: string; readonly separator: string };

interface KeyedGroup {
  readonly key: string;
  readonly path: readonly PathSegment[];
  readonly prefix: string;
  readonly separator: string;
  readonly defaultValue?: string;
  readonly trailingSeparator?: boolean;
  readonly parentGroup?: string;
}

type PathSegment = string | number;

interface AwsEc2Config {
  readonly regions: readonly string[];
  /** One DescribeInstances query each: `filters`, then each of `include_filters`. */
  readonly include: readonly Filter[][];
  readonly exclude: readonly Filter[][];
  readonly hostnames: readonly Hostname[];
  readonly address?: { readonly expression: string; readonly path: readonly PathSegment[] };
  readonly ssh: { readonly user?: string; readonly port?: number };
  readonly groups: readonly string[];
  readonly keyedGroups: readonly KeyedGroup[];
  readonly strict: boolean;
  readonly leadingSeparator: boolean;
  readonly hostvarsPrefix: string;
  readonly hostvarsSuffix: string;
  readonly sanitize: (name: string) => string;
  readonly contribTagKeys: boolean;
}

/** The options Baton reads. */
const READ = [
  'plugin',
  'regions',
  'filters',
  'include_filters',
  'exclude_filters',
  'hostnames',
  'allow_duplicated_hosts',
  'compose',
  'groups',
  'keyed_groups',
  'strict',
  'leading_separator',
  'hostvars_prefix',
  'hostvars_suffix',
  'use_contrib_script_compatible_sanitization',
  'use_contrib_script_compatible_ec2_tag_keys',
];
/**
 * Accepted and ignored: none changes which instances are selected or how they are named. Baton fails on any AWS
 * error (`strict_permissions: false` would skip 403s), always reads EC2 live (cache), reads no extra vars in compose,
 * takes the regions from `regions`, and Route 53 names only matter with `route53_enabled`.
 */
const IGNORED = [
  'strict_permissions',
  'cache',
  'cache_plugin',
  'cache_timeout',
  'cache_connection',
  'cache_prefix',
  'use_extra_vars',
  'region',
  'aws_region',
  'route53_hostnames',
  'route53_excluded_zones',
];
/** Features Baton does not implement: accepted only when off. */
const ONLY_OFF = ['use_ssm_inventory', 'route53_enabled'];
const ACCOUNT = [
  'profile',
  'aws_profile',
  'boto_profile',
  'assume_role_arn',
  'iam_role_arn',
  'access_key',
  'aws_access_key_id',
  'aws_access_key',
  'secret_key',
  'aws_secret_access_key',
  'aws_secret_key',
  'session_token',
  'aws_session_token',
  'endpoint_url',
  'aws_endpoint_url',
];

/** Hostname preferences Baton reads from an instance, by their DescribeInstances filter names. */
const ATTRIBUTES: Record<string, (i: Instance) => string | undefined> = {
  'dns-name': (i) => i.PublicDnsName,
  'private-dns-name': (i) => i.PrivateDnsName,
  'ip-address': (i) => i.PublicIpAddress,
  'private-ip-address': (i) => i.PrivateIpAddress,
  'instance-id': (i) => i.InstanceId,
  'instance-type': (i) => i.InstanceType,
  'availability-zone': (i) => i.Placement?.AvailabilityZone,
  'image-id': (i) => i.ImageId,
  'key-name': (i) => i.KeyName,
  'subnet-id': (i) => i.SubnetId,
  'vpc-id': (i) => i.VpcId,
};

const DEFAULT_HOSTNAMES = ['dns-name', 'private-dns-name'];
const PATH_EXAMPLES =
  'a dotted path into the host variables (private_ip_address, ec2_tags.stack, placement.availability_zone)';

function parseConfig(doc: unknown, file: string): AwsEc2Config {
  const fail = (problem: string): never => {
    throw new InventoryError(`${file}: ${problem}`);
  };
  if (!isRecord(doc)) return fail('an aws_ec2 inventory is a YAML mapping that starts with plugin: amazon.aws.aws_ec2');
  if (doc.plugin === undefined) fail('plugin: missing; an aws_ec2 inventory starts with plugin: amazon.aws.aws_ec2');
  if (doc.plugin !== 'amazon.aws.aws_ec2' && doc.plugin !== 'aws_ec2') {
    fail(
      `plugin: ${JSON.stringify(doc.plugin)} is not amazon.aws.aws_ec2 (the only inventory plugin Baton reads from a *aws_ec2.yml file)`,
    );
  }
  const unknown = Object.keys(doc).filter((k) => ![...READ, ...IGNORED, ...ONLY_OFF, ...ACCOUNT].includes(k));
  if (unknown.length) {
    const hint = (k: string) => [...READ, ...IGNORED].find((known) => editDistance(k, known) <= 2);
    fail(
      `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => (hint(k) ? `${k} (did you mean ${hint(k)}?)` : k)).join(', ')}: the aws_ec2 plugin has no such option`,
    );
  }
  const account = Object.keys(doc).filter((k) => ACCOUNT.includes(k));
  if (account.length) {
    fail(
      `${account.join(', ')}: Baton does not take AWS credentials, profiles, roles or endpoints from the inventory; remove them and configure Baton's AWS access (AWS_PROFILE, the instance role) for the account to deploy to`,
    );
  }
  if (doc.allow_duplicated_hosts === true)
    fail('allow_duplicated_hosts: true is not supported: Baton addresses each instance by a name of its own');
  for (const k of ONLY_OFF)
    if (doc[k] !== undefined && doc[k] !== false)
      fail(`${k}: ${JSON.stringify(doc[k])} is not supported by Baton (only false)`);
  const flag = (k: string, fallback: boolean): boolean => {
    const v = doc[k] ?? fallback;
    return typeof v === 'boolean' ? v : fail(`${k}: ${JSON.stringify(v)} must be true or false`);
  };
  const text = (k: string): string => {
    const v = doc[k] ?? '';
    return typeof v === 'string' ? v : fail(`${k}: ${JSON.stringify(v)} must be a string`);
  };

  const regions = doc.regions ?? [];
  if (!Array.isArray(regions) || !regions.every((r) => typeof r === 'string' && /^[a-z]{2}(-[a-z]+)+-\d+$/.test(r))) {
    fail(`regions: ${JSON.stringify(regions)} must be a list of AWS regions (regions: [us-east-1])`);
  }
  if (!(regions as string[]).length)
    fail(
      "regions: Baton needs an explicit list of regions (regions: [us-east-1]); it does not list the account's regions as Ansible does when regions is empty",
    );

  const filterList = (k: string): Filter[][] => {
    const v = doc[k] ?? [];
    if (!Array.isArray(v)) return fail(`${k}: must be a list of filter mappings (${k}: [{tag:stack: web}])`);
    return v.map((f, i) => toFilters(f, `${k}[${i}]`, fail));
  };
  const filters = toFilters(doc.filters ?? {}, 'filters', fail);
  const include = [...(filters.length ? [filters] : []), ...filterList('include_filters')];
  // Baton deploys only to running instances (Ansible's default also takes pending, stopping and stopped ones).
  const withState = (q: Filter[]) =>
    q.some((f) => f.Name === 'instance-state-name') ? q : [...q, { Name: 'instance-state-name', Values: ['running'] }];

  const compose = parseCompose(doc.compose, fail);
  return {
    regions: [...new Set(regions as string[])],
    include: (include.length ? include : [[]]).map(withState),
    exclude: filterList('exclude_filters'),
    hostnames: parseHostnames(doc.hostnames, fail),
    ...compose,
    groups: parseGroups(doc.groups, fail),
    keyedGroups: parseKeyedGroups(doc.keyed_groups, fail),
    strict: flag('strict', false),
    leadingSeparator: flag('leading_separator', true),
    hostvarsPrefix: text('hostvars_prefix'),
    hostvarsSuffix: text('hostvars_suffix'),
    sanitize: flag('use_contrib_script_compatible_sanitization', false)
      ? (n) => n.replace(/[^A-Za-z0-9_-]/g, '_')
      : sanitizeGroupName,
    contribTagKeys: flag('use_contrib_script_compatible_ec2_tag_keys', false),
  };
}

/** `{tag:stack: web, instance-state-name: [running, stopped]}` → DescribeInstances filters, as Ansible converts them. */
function toFilters(dict: unknown, where: string, fail: (problem: string) => never): Filter[] {
  if (!isRecord(dict))
    return fail(
      `${where}: ${JSON.stringify(dict)} must be a mapping of DescribeInstances filter names to values (tag:stack: web)`,
    );
  return Object.entries(dict).map(([name, value]) => {
    const values = (Array.isArray(value) ? value : [value]).map((v) =>
      typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : fail(`${where}.${name}: ${JSON.stringify(value)} must be a string or a list of strings`),
    );
    if (!values.length) fail(`${where}.${name}: has no value`);
    return { Name: name, Values: values };
  });
}

function parseHostnames(value: unknown, fail: (problem: string) => never): Hostname[] {
  const list = value ?? [];
  if (!Array.isArray(list)) return fail(`hostnames: ${JSON.stringify(list)} must be a list`);
  const check = (p: unknown, where: string): string => {
    if (typeof p !== 'string' || !p) return fail(`${where}: ${JSON.stringify(p)} must be a non-empty string`);
    if (/[|{}]/.test(p))
      fail(
        `${where}: ${JSON.stringify(p)} uses Jinja, which Baton does not evaluate; use ${Object.keys(ATTRIBUTES).join(', ')}, tag:Name, tag:K=V or a literal`,
      );
    // A literal that looks like an attribute is most likely a misspelt one.
    if (
      !p.startsWith('tag:') &&
      !Object.hasOwn(ATTRIBUTES, p) &&
      /^[a-z0-9.-]*\b(dns|ip|id|name|address|type|zone)\b[a-z0-9.-]*$/.test(p)
    ) {
      fail(
        `${where}: ${JSON.stringify(p)} is not a hostname attribute Baton reads (${Object.keys(ATTRIBUTES).join(', ')}, tag:Name, tag:K=V)`,
      );
    }
    return p;
  };
  return (list.length ? list : DEFAULT_HOSTNAMES).map((p, i): Hostname => {
    if (!isRecord(p)) return check(p, `hostnames[${i}]`);
    const extra = Object.keys(p).filter((k) => !['name', 'prefix', 'separator'].includes(k));
    if (extra.length)
      fail(`hostnames[${i}]: unknown key ${extra.join(', ')} (a hostnames mapping has name, prefix and separator)`);
    if (p.separator !== undefined && typeof p.separator !== 'string')
      fail(`hostnames[${i}].separator: ${JSON.stringify(p.separator)} must be a string`);
    return {
      name: check(p.name, `hostnames[${i}].name`),
      ...(p.prefix !== undefined && { prefix: check(p.prefix, `hostnames[${i}].prefix`) }),
      separator: (p.separator as string | undefined) ?? '_',
    };
  });
}

function parseCompose(value: unknown, fail: (problem: string) => never): Pick<AwsEc2Config, 'address' | 'ssh'> {
  if (value === undefined || value === null) return { ssh: {} };
  if (!isRecord(value)) return fail(`compose: ${JSON.stringify(value)} must be a mapping`);
  const literal = (v: unknown) => (typeof v === 'string' ? /^\s*(?:'([^']*)'|"([^"]*)")\s*$/.exec(v) : null);
  const jinja = (key: string, v: unknown, supported: string): never =>
    fail(
      `compose.${key}: ${JSON.stringify(v)} is a Jinja expression Baton does not evaluate; ${key} takes ${supported}`,
    );
  let address: AwsEc2Config['address'];
  let user: string | undefined;
  let port: number | undefined;
  for (const [key, v] of Object.entries(value)) {
    if (key === 'ansible_host') {
      const path = typeof v === 'string' ? parsePath(v) : undefined;
      address = path
        ? { expression: (v as string).trim(), path }
        : jinja(key, v, `${PATH_EXAMPLES}, such as private_ip_address or public_ip_address`);
    } else if (key === 'ansible_user') {
      const m = literal(v);
      user = m ? (m[1] ?? m[2]!) : jinja(key, v, `a quoted literal ("'deploy'")`);
    } else if (key === 'ansible_port') {
      const m = literal(v);
      const digits = typeof v === 'number' ? String(v) : m ? (m[1] ?? m[2]!) : typeof v === 'string' ? v.trim() : '';
      port =
        /^\d+$/.test(digits) && Number(digits) >= 1 && Number(digits) <= 65535
          ? Number(digits)
          : jinja(key, v, 'a port number (2222)');
    } else {
      fail(
        `compose.${key}: Baton reads only ansible_host (a host variable path), ansible_user and ansible_port (literals) from compose`,
      );
    }
  }
  return {
    ...(address && { address }),
    ssh: { ...(user !== undefined && { user }), ...(port !== undefined && { port }) },
  };
}

function parseGroups(value: unknown, fail: (problem: string) => never): string[] {
  if (value === undefined || value === null) return [];
  if (!isRecord(value)) return fail(`groups: ${JSON.stringify(value)} must be a mapping of group names to conditions`);
  return Object.entries(value).map(([name, condition]) => {
    if (condition !== true && !(typeof condition === 'string' && condition.trim().toLowerCase() === 'true')) {
      fail(
        `groups.${name}: ${JSON.stringify(condition)} is a Jinja condition Baton does not evaluate; it supports only true (put every host in the group), use keyed_groups to group by a host variable`,
      );
    }
    return name;
  });
}

function parseKeyedGroups(value: unknown, fail: (problem: string) => never): KeyedGroup[] {
  const list = value ?? [];
  if (!Array.isArray(list)) return fail(`keyed_groups: ${JSON.stringify(list)} must be a list`);
  const known = ['key', 'prefix', 'separator', 'default_value', 'trailing_separator', 'parent_group'];
  return list.map((g, i) => {
    const where = `keyed_groups[${i}]`;
    if (!isRecord(g)) return fail(`${where}: ${JSON.stringify(g)} must be a mapping with a key`);
    const extra = Object.keys(g).filter((k) => !known.includes(k));
    if (extra.length) fail(`${where}: unknown key ${extra.join(', ')} (a keyed group has ${known.join(', ')})`);
    const path = typeof g.key === 'string' ? parsePath(g.key) : undefined;
    if (!path)
      fail(
        `${where}.key: ${JSON.stringify(g.key ?? null)} is not supported: Baton evaluates no Jinja; key takes ${PATH_EXAMPLES}`,
      );
    const str = (k: string): string | undefined => {
      const v = g[k];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'string' && typeof v !== 'number')
        return fail(`${where}.${k}: ${JSON.stringify(v)} must be a string`);
      if (/[{}]/.test(String(v)))
        fail(`${where}.${k}: ${JSON.stringify(v)} uses Jinja, which Baton does not evaluate; use a literal`);
      return String(v);
    };
    if (g.trailing_separator !== undefined && typeof g.trailing_separator !== 'boolean')
      fail(`${where}.trailing_separator: ${JSON.stringify(g.trailing_separator)} must be true or false`);
    if (g.trailing_separator !== undefined && g.default_value !== undefined)
      fail(`${where}: default_value and trailing_separator are mutually exclusive`);
    const [defaultValue, parentGroup] = [str('default_value'), str('parent_group')];
    return {
      key: (g.key as string).trim(),
      path: path!,
      prefix: str('prefix') ?? '',
      separator: str('separator') ?? '_',
      ...(defaultValue !== undefined && { defaultValue }),
      ...(g.trailing_separator !== undefined && { trailingSeparator: g.trailing_separator as boolean }),
      ...(parentGroup && { parentGroup }),
    };
  });
}

/** `ec2_tags.stack`, `tags['Role']`, `network_interfaces[0].private_ip_address` → segments; anything else is undefined. */
function parsePath(expression: string): PathSegment[] | undefined {
  const text = expression.trim();
  if (!/^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[(?:'[^']*'|"[^"]*"|\d+)\])*$/.test(text)) return undefined;
  return [...text.matchAll(/([A-Za-z_]\w*)|\[(?:'([^']*)'|"([^"]*)"|(\d+))\]/g)].map((m) =>
    m[4] !== undefined ? Number(m[4]) : (m[1] ?? m[2] ?? m[3]!),
  );
}

function resolvePath(vars: unknown, path: readonly PathSegment[]): unknown {
  return path.reduce<unknown>(
    (v, segment) => (v !== null && typeof v === 'object' ? (v as Record<PathSegment, unknown>)[segment] : undefined),
    vars,
  );
}

/** An instance with its reservation's OwnerId, RequesterId and ReservationId, as the plugin adds them. */
type Found = Instance & { OwnerId?: string; RequesterId: string; ReservationId?: string };

async function queryInstances(
  config: AwsEc2Config,
  ec2For: (region: string) => EC2Client,
  file: string,
): Promise<Found[]> {
  const describe = async (ec2: EC2Client, region: string, filters: Filter[]): Promise<Found[]> => {
    const found: Found[] = [];
    try {
      for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 200 }, { Filters: filters })) {
        for (const r of page.Reservations ?? []) {
          for (const i of r.Instances ?? [])
            if (i.InstanceId)
              found.push({
                ...i,
                OwnerId: r.OwnerId,
                RequesterId: r.RequesterId ?? '',
                ReservationId: r.ReservationId,
              });
        }
      }
    } catch (error) {
      throw new InventoryError(
        `${file}: DescribeInstances in ${region} with ${describeFilters(filters)} failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return found;
  };
  const perRegion = await Promise.all(
    config.regions.map(async (region) => {
      const ec2 = ec2For(region);
      const excluded: Found[] = [];
      const included: Found[] = [];
      for (const q of config.exclude) excluded.push(...(await describe(ec2, region, q)));
      for (const q of config.include) included.push(...(await describe(ec2, region, q)));
      return { excluded, included };
    }),
  );
  // As the plugin does: exclusion wins, each instance once, in instance id order.
  const ignore = new Set(perRegion.flatMap((r) => r.excluded.map((i) => i.InstanceId!)));
  const instances = new Map<string, Found>();
  for (const i of perRegion.flatMap((r) => r.included))
    if (!ignore.has(i.InstanceId!) && !instances.has(i.InstanceId!)) instances.set(i.InstanceId!, i);
  if (!instances.size) {
    const queries = config.include.map((q) => `[${describeFilters(q)}]`).join(' or ');
    const excluding = config.exclude.length
      ? `, excluding ${config.exclude.map((q) => `[${describeFilters(q)}]`).join(' or ')}`
      : '';
    throw new InventoryError(
      `${file}: no EC2 instance in ${config.regions.join(', ')} matches ${queries}${excluding}: check the filters and regions`,
    );
  }
  return [...instances.values()].sort((a, b) => a.InstanceId!.localeCompare(b.InstanceId!));
}

const describeFilters = (filters: readonly Filter[]) =>
  filters.map((f) => `${f.Name}=${f.Values?.join(',')}`).join(' ') || 'no filter';

function buildHosts(instances: readonly Found[], config: AwsEc2Config, file: string): Host[] {
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

/** Ansible's group name rule (`force_valid_group_names`): non-word characters, and a leading digit, become `_`. */
function sanitizeGroupName(name: string): string {
  return name.replace(/[^\p{L}\p{N}_]/gu, '_').replace(/^\p{N}/u, '_');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length]!;
}
