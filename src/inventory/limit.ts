/**
 * `--limit`, with Ansible's host pattern grammar: names, globs, groups, `~regex`, `group[0]`,
 * `group[1:3]`, `@retry-file`; terms joined by `:` or `,`, where `&term` intersects and `!term`
 * excludes (unions first, then intersections, then exclusions, as Ansible does).
 */
import { readFileSync } from 'node:fs';
import { InventoryError } from '../errors.ts';
import type { Host } from './host.ts';

export function selectHosts(hosts: readonly Host[], pattern: string, source = '--limit'): Host[] {
  const terms = splitPattern(pattern);
  if (!terms.length) throw new InventoryError(`${source}: ${JSON.stringify(pattern)} is an empty pattern`);
  const positive = terms.filter((t) => !t.startsWith('&') && !t.startsWith('!'));
  let selected = new Set<Host>(positive.length ? positive.flatMap((t) => matchTerm(hosts, t, source)) : hosts);
  for (const t of terms.filter((t) => t.startsWith('&'))) {
    const keep = new Set(matchTerm(hosts, t.slice(1), source));
    selected = new Set([...selected].filter((h) => keep.has(h)));
  }
  for (const t of terms.filter((t) => t.startsWith('!'))) {
    const drop = new Set(matchTerm(hosts, t.slice(1), source));
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

function matchTerm(hosts: readonly Host[], term: string, source: string): Host[] {
  if (term === 'all' || term === '*') return [...hosts];
  if (term.startsWith('@')) {
    let names: string[];
    try {
      names = readFileSync(term.slice(1), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    } catch (error) {
      throw new InventoryError(`${source}: cannot read the host list ${term.slice(1)}: ${(error as Error).message}`);
    }
    return hosts.filter((h) => names.includes(h.name));
  }
  if (term.startsWith('~')) {
    let re: RegExp;
    try {
      re = new RegExp(term.slice(1));
    } catch (error) {
      throw new InventoryError(`${source}: ${JSON.stringify(term)} is not a valid regular expression: ${(error as Error).message}`);
    }
    return hosts.filter((h) => re.test(h.name) || h.groups.some((g) => re.test(g)));
  }
  const sliced = /^(.+)\[(-?\d+)(?::(-?\d*))?\]$/.exec(term);
  if (sliced) {
    const members = matchTerm(hosts, sliced[1]!, source);
    const at = (n: number) => (n < 0 ? members.length + n : n);
    const start = at(Number(sliced[2]));
    if (sliced[3] === undefined) return members[start] ? [members[start]] : [];
    const end = sliced[3] === '' ? members.length - 1 : at(Number(sliced[3]));
    return members.slice(start, end + 1);
  }
  const re = new RegExp(`^${term.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return hosts.filter((h) => re.test(h.name) || h.address === term || h.groups.some((g) => re.test(g)));
}
