/**
 * `--limit`, with Ansible's host pattern grammar: names, globs, groups, `~regex`, `group[0]`,
 * `group[1:3]`, `@retry-file`; terms joined by `:` or `,`, where `&term` intersects and `!term`
 * excludes (unions first, then intersections, then exclusions, as Ansible does).
 */
import { readFileSync } from 'node:fs';
import { InventoryError } from '../errors.ts';
import type { Host } from './host.ts';

/**
 * The hosts `pattern` selects, in inventory order. `groupHosts`, from a static inventory, gives each
 * group's own host order, which subscripts (`web[0]`) index as Ansible's do.
 */
export function selectHosts(
  hosts: readonly Host[],
  pattern: string,
  source = '--limit',
  groupHosts?: ReadonlyMap<string, readonly string[]>,
): Host[] {
  // `&x` and `!x` are enumerated as patterns even when a host is named x (Ansible's shortcut sees the prefix).
  const match = (term: string, prefixed = false) =>
    term === 'all' || term === '*' ? [...hosts] : matchTerm(hosts, term, source, groupHosts, prefixed);
  // As Ansible's --limit reads it: a term starting with @ is a file whose lines are patterns in its
  // place (`&@file` and `!@file` are no such thing: names that match nothing).
  const terms = splitPattern(pattern).flatMap((t) => (t.startsWith('@') ? readHostList(t.slice(1), source) : [t]));
  if (!terms.length) throw new InventoryError(`${source}: ${JSON.stringify(pattern)} is an empty pattern`);
  const positive = terms.filter((t) => !t.startsWith('&') && !t.startsWith('!'));
  let selected = new Set<Host>(positive.length ? positive.flatMap((t) => match(t)) : hosts);
  for (const t of terms.filter((t) => t.startsWith('&'))) {
    const keep = new Set(match(t.slice(1), true));
    selected = new Set([...selected].filter((h) => keep.has(h)));
  }
  for (const t of terms.filter((t) => t.startsWith('!'))) {
    const drop = new Set(match(t.slice(1), true));
    selected = new Set([...selected].filter((h) => !drop.has(h)));
  }
  const result = hosts.filter((h) => selected.has(h));
  if (!result.length) {
    const groups = [...new Set(hosts.flatMap((h) => h.groups))].sort();
    throw new InventoryError(
      `${source} ${JSON.stringify(pattern)} matches no host.\n  hosts: ${hosts.map((h) => h.name).join(', ') || '(none)'}\n  groups: ${groups.join(', ') || '(none)'}`,
    );
  }
  return result;
}

/**
 * Ansible's split_host_pattern: on commas when there is one; else a pattern that is one host address
 * (a name, possibly with ranges and a port) stays whole; else the runs of characters other than
 * whitespace, `:` and brackets, bracketed expressions kept whole. A `~regex` is split like any term.
 */
export function splitPattern(pattern: string): string[] {
  if (pattern.includes(','))
    return pattern
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
  if (isAddress(pattern.trim())) return [pattern.trim()];
  return [...pattern.matchAll(/(?:[^\s:[\]]|\[[^\]]*\])+/g)].map((m) => m[0].trim()).filter(Boolean);
}

/** What Ansible's parse_address takes as one host: a name (ranges allowed) or an IP, with an optional port. */
function isAddress(text: string): boolean {
  const label = '(?:[A-Za-z0-9_-]|\\[[A-Za-z0-9]+:[A-Za-z0-9]+(?::\\d+)?\\])+';
  const name = new RegExp(`^${label}(?:\\.${label})*(?::\\d+)?$`);
  // IPv6 only when it is one: `::` in it, or eight groups (`a:b` is a list of two patterns).
  const ipv6 = (t: string) => /^[0-9A-Fa-f:.]+$/.test(t) && (t.includes('::') || t.split(':').length === 8);
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::\d+)?$/.exec(text);
  return name.test(text) || ipv6(text) || (!!bracketed && ipv6(bracketed[1]!));
}

function matchTerm(
  hosts: readonly Host[],
  term: string,
  source: string,
  groupHosts: ReadonlyMap<string, readonly string[]> | undefined,
  prefixed: boolean,
): Host[] {
  // A plain host name is that host, whatever groups share its name. Hosts found by EC2 tags are also
  // known by their address; a static inventory's only by name, as Ansible has them.
  const named = prefixed
    ? undefined
    : (hosts.find((h) => h.name === term) ?? (groupHosts ? undefined : hosts.find((h) => h.address === term)));
  if (named) return [named];
  if (term.startsWith('~')) return [...new Set(enumerate(hosts, term, regexOf(term, source), groupHosts))];
  // Ansible's subscripts: `[n]` (n may be negative), or a range `[a:b]`, `[a-b]`, `[a:]` with a >= 0.
  // Anything else in brackets is a glob character class, as fnmatch reads it.
  const sliced = /^(.+)\[(?:(-?\d+)|(\d+)[:-](\d*))\]$/.exec(term);
  const expression = sliced ? sliced[1]! : term;
  const members = enumerate(hosts, expression, globToRegExp(expression), groupHosts);
  // Nothing to subscript: nothing, not an error (as Ansible has it). A subscript counts the matches as
  // Ansible lists them, a host twice if two matching groups hold it; the selection has it once.
  if (!sliced || !members.length) return [...new Set(members)];
  if (sliced[2] !== undefined) {
    const n = Number(sliced[2]);
    const one = members[n < 0 ? members.length + n : n];
    if (!one)
      throw new InventoryError(
        `${source}: no host matched the subscripted pattern ${JSON.stringify(term)} (${expression} has ${members.length})`,
      );
    return [one];
  }
  const start = Number(sliced[3]);
  // As Ansible reads it: an end of 0 counts as none given, so `[1:0]` is `[1]`; a missing end is the last.
  const end = sliced[4] === '' ? members.length - 1 : Number(sliced[4]);
  if (end === 0) {
    const one = members[start];
    if (!one)
      throw new InventoryError(
        `${source}: no host matched the subscripted pattern ${JSON.stringify(term)} (${expression} has ${members.length})`,
      );
    return [one];
  }
  return [...new Set(members.slice(start, end + 1))];
}

/** A `~regex` term, matched from the start of a name as Python's re.match does. */
function regexOf(term: string, source: string): RegExp {
  try {
    return new RegExp(`^(?:${term.slice(1)})`);
  } catch (error) {
    throw new InventoryError(
      `${source}: ${JSON.stringify(term)} is not a valid regular expression: ${(error as Error).message}`,
    );
  }
}

/**
 * As Ansible enumerates a term: the hosts of each matching group, in the group's order; then, when no
 * group matched or the term is a regex or a glob, the hosts whose name matches.
 */
function enumerate(
  hosts: readonly Host[],
  term: string,
  re: RegExp,
  groupHosts: ReadonlyMap<string, readonly string[]> | undefined,
): Host[] {
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const groupOrder = groupHosts ? [...groupHosts.keys()] : [...new Set(hosts.flatMap((h) => h.groups))];
  const groups = groupOrder.filter((g) => re.test(g));
  const members = groups.flatMap((g) =>
    groupHosts ? groupHosts.get(g)!.flatMap((n) => byName.get(n) ?? []) : hosts.filter((h) => h.groups.includes(g)),
  );
  if (!groups.length || term.startsWith('~') || /[.?*[]/.test(term))
    members.push(...hosts.filter((h) => namesOf(h).some((n) => re.test(n))));
  return members;
}

/** The patterns of a host list file (a retry file): one a line. */
function readHostList(file: string, source: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  } catch (error) {
    throw new InventoryError(`${source}: cannot read the host list ${file}: ${(error as Error).message}`);
  }
}

/** A host's name and the other names a pattern may use for it: its instance id, a Name tag it shares. */
const namesOf = (h: Host): readonly string[] => (h.aliases ? [h.name, ...h.aliases] : [h.name]);

/** fnmatch's glob: `*`, `?`, `[seq]` and `[!seq]`; everything else literal. */
function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      // A `]` right after `[` or `[!` is a member of the class, not its end.
      const close = glob.indexOf(']', glob[i + 1] === '!' ? i + 3 : i + 2);
      if (close < 0) out += '\\[';
      else {
        let body = glob.slice(i + 1, close);
        body = body.startsWith('!') ? `^${body.slice(1)}` : body.startsWith('^') ? `\\${body}` : body;
        out += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else out += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
