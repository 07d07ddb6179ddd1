import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Host } from './host.ts';
import { selectHosts, splitPattern } from './limit.ts';

const host = (name: string, ...groups: string[]): Host => ({
  name,
  address: `10.0.0.${name.slice(-1)}`,
  tags: {},
  groups,
});
const hosts = [
  host('web-1', 'web', 'az_a'),
  host('web-2', 'web', 'az_b'),
  host('web-3', 'web', 'az_a'),
  host('db-1', 'db', 'az_a'),
];
const names = (pattern: string) => selectHosts(hosts, pattern).map((h) => h.name);

describe('--limit host patterns (Ansible grammar)', () => {
  it('selects by name, glob, group and all', () => {
    expect(names('web-2')).toEqual(['web-2']);
    expect(names('web-*')).toEqual(['web-1', 'web-2', 'web-3']);
    expect(names('db')).toEqual(['db-1']);
    expect(names('all')).toEqual(hosts.map((h) => h.name));
    expect(names('10.0.0.2')).toEqual(['web-2']);
  });

  it('unions, intersects and excludes', () => {
    expect(names('db:web-1')).toEqual(['web-1', 'db-1']);
    expect(names('web:&az_a')).toEqual(['web-1', 'web-3']);
    expect(names('web:!web-3')).toEqual(['web-1', 'web-2']);
    expect(names('all,!db,&az_a')).toEqual(['web-1', 'web-3']);
  });

  it('takes regexes, subscripts and ranges', () => {
    expect(names('~web-[12]$')).toEqual(['web-1', 'web-2']);
    expect(names('web[0]')).toEqual(['web-1']);
    expect(names('web[-1]')).toEqual(['web-3']);
    expect(names('web[1:2]')).toEqual(['web-2', 'web-3']);
    expect(splitPattern('web[0:1]:db')).toEqual(['web[0:1]', 'db']);
  });

  it('reads a retry file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'baton-limit-')), 'deploy.retry');
    writeFileSync(file, 'web-3\ndb-1\n');
    expect(names(`@${file}`)).toEqual(['web-3', 'db-1']);
  });

  it('says what exists when nothing matches', () => {
    expect(() => names('cache')).toThrow(
      '--limit "cache" matches no host.\n  hosts: web-1, web-2, web-3, db-1\n  groups: az_a, az_b, db, web',
    );
  });
});
