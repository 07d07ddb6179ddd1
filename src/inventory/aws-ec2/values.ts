/** The values of an aws_ec2 inventory's options, each read as the plugin reads it: filters, hostnames, compose, groups. */
import type { Filter } from '@aws-sdk/client-ec2';
import {
  ATTRIBUTES,
  DEFAULT_HOSTNAMES,
  isRecord,
  PATH_EXAMPLES,
  type AwsEc2Config,
  type Hostname,
  type KeyedGroup,
  type PathSegment,
} from './types.ts';

/** `{tag:stack: web, instance-state-name: [running, stopped]}` → DescribeInstances filters, as Ansible converts them. */
export function toFilters(dict: unknown, where: string, fail: (problem: string) => never): Filter[] {
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

export function parseHostnames(value: unknown, fail: (problem: string) => never): Hostname[] {
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

export function parseCompose(value: unknown, fail: (problem: string) => never): Pick<AwsEc2Config, 'address' | 'ssh'> {
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

export function parseGroups(value: unknown, fail: (problem: string) => never): string[] {
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

export function parseKeyedGroups(value: unknown, fail: (problem: string) => never): KeyedGroup[] {
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
export function parsePath(expression: string): PathSegment[] | undefined {
  const text = expression.trim();
  if (!/^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[(?:'[^']*'|"[^"]*"|\d+)\])*$/.test(text)) return undefined;
  return [...text.matchAll(/([A-Za-z_]\w*)|\[(?:'([^']*)'|"([^"]*)"|(\d+))\]/g)].map((m) =>
    m[4] !== undefined ? Number(m[4]) : (m[1] ?? m[2] ?? m[3]!),
  );
}
