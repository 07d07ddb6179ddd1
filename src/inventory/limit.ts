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
export function selectHosts(hosts: readonly Host[], pattern: string, source = '--limit', groupHosts?: ReadonlyMap<string, readonly string[]>): Host[] {
  const match = (term: string) => matchTerm(hosts, term, source, groupHosts);
  const terms = splitPattern(pattern);
  if (!terms.length) throw new InventoryError(`${source}: ${JSON.stringify(pattern)} is an empty pattern`);
  const positive = terms.filter((t) => !t.startsWith('&') && !t.startsWith('!'));
  let selected = new Set<Host>(positive.length ? positive.flatMap(match) : hosts);
  for (const t of terms.filter((t) => t.startsWith('&'))) {
    const keep = new Set(match(t.slice(1)));
    selected = new Set([...selected].filter((h) => keep.has(h)));
  }
  for (const t of terms.filter((t) => t.startsWith('!'))) {
    const drop = new Set(match(t.slice(1)));
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

/** Ansible splits on commas, or on colons where there are no commas. Brackets keep their colons. */
export function splitPattern(pattern: string): string[] {
  const separator = pattern.includes(',') ? ',' : ':';
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of pattern) {
    if (c === '[') depth++;
    if (c === ']') depth--;
    if (c === separator && depth === 0 && !current.startsWith('~')) {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out.map((t) => t.trim()).filter(Boolean);
}

function matchTerm(hosts: readonly Host[], term: string, source: string, groupHosts: ReadonlyMap<string, readonly string[]> | undefined): Host[] {
  if (term === 'all' || term === '*') return [...hosts];
  if (term.startsWith('@')) {
    let names: string[];
    try {
      names = readFileSync(term.slice(1), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    } catch (error) {
      throw new InventoryError(`${source}: cannot read the host list ${term.slice(1)}: ${(error as Error).message}`);
    }
    return hosts.filter((h) => namesOf(h).some((n) => names.includes(n)));
  }
  if (term.startsWith('~')) {
    let re: RegExp;
    try {
      re = new RegExp(term.slice(1));
    } catch (error) {
      throw new InventoryError(`${source}: ${JSON.stringify(term)} is not a valid regular expression: ${(error as Error).message}`);
    }
    return hosts.filter((h) => namesOf(h).some((n) => re.test(n)) || h.groups.some((g) => re.test(g)));
  }
  // Ansible's subscripts: `[n]` (n may be negative), or a range `[a:b]`, `[a-b]`, `[a:]` with a >= 0.
  // Anything else in brackets is a glob character class, as fnmatch reads it.
  const sliced = /^(.+)\[(?:(-?\d+)|(\d+)[:-](\d*))\]$/.exec(term);
  if (sliced) {
    const members = matchTerm(hosts, sliced[1]!, source, groupHosts);
    if (sliced[2] !== undefined) {
      const n = Number(sliced[2]);
      const one = members[n < 0 ? members.length + n : n];
      return one ? [one] : [];
    }
    const end = sliced[4] === '' ? members.length - 1 : Number(sliced[4]);
    return members.slice(Number(sliced[3]), end + 1);
  }
  const re = globToRegExp(term);
  if (!groupHosts) return hosts.filter((h) => namesOf(h).some((n) => re.test(n)) || h.address === term || h.groups.some((g) => re.test(g)));
  // As Ansible enumerates a term: the hosts of each matching group, in the group's order; then, when no
  // group matched or the term is a glob, the hosts whose name matches.
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const groups = [...groupHosts.keys()].filter((g) => re.test(g));
  const members = groups.flatMap((g) => groupHosts.get(g)!.flatMap((n) => byName.get(n) ?? []));
  if (!groups.length || /[.?*[]/.test(term)) members.push(...hosts.filter((h) => re.test(h.name) || h.address === term));
  return [...new Set(members)];
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
