import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixCommand, type Change } from './index.ts';

/**
 * Runs the part of a fix command after `ssh <host>` in a real sh, against a fake docker that keeps
 * containers as files (name -> id) and takes a name or an id wherever docker does.
 */
function runFix(
  change: Extract<Change, { kind: 'container-replaced' }>,
  containers: Record<string, string>,
): { names: Record<string, string>; log: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'baton-fix-'));
  const state = join(dir, 'state');
  execFileSync('mkdir', [state]);
  for (const [name, id] of Object.entries(containers)) writeFileSync(join(state, name), id);
  writeFileSync(
    join(dir, 'docker'),
    `#!/bin/sh
S=${JSON.stringify(state)}
echo "$*" >> ${JSON.stringify(join(dir, 'log'))}
find_() { for f in "$S"/*; do [ -e "$f" ] || continue; n=$(basename "$f"); if [ "$n" = "$1" ] || [ "$(cat "$f")" = "$1" ]; then echo "$n"; return 0; fi; done; return 1; }
case "$1" in
  inspect) n=$(find_ "$4") || exit 1; cat "$S/$n"; echo ;;
  rename) n=$(find_ "$2") || exit 1; [ -e "$S/$3" ] && exit 1; mv "$S/$n" "$S/$3" ;;
  rm) n=$(find_ "$3") || exit 1; rm "$S/$n" ;;
  stop|start) find_ "$2" >/dev/null || exit 1 ;;
  update) find_ "$4" >/dev/null || exit 1 ;;
esac
`,
    { mode: 0o755 },
  );
  writeFileSync(join(dir, 'log'), '');
  const command = fixCommand(change, 'us-east-1');
  const remote = /^ssh \S+ ('(?:[^']|'\\'')*')/.exec(command)![1]!;
  execFileSync('sh', ['-c', `eval ${remote}`], { env: { PATH: `${dir}:/usr/bin:/bin` } });
  const names = Object.fromEntries(readdirSync(state).map((n) => [n, readFileSync(join(state, n), 'utf8')]));
  return { names, log: readFileSync(join(dir, 'log'), 'utf8').trim().split('\n') };
}

const host = { name: 'web-1', address: '10.0.0.1', instanceId: 'i-1' };
const replaced = {
  kind: 'container-replaced',
  host,
  container: 'live',
  keptAs: 'live-previous',
  keptId: 'old',
  from: 'app:v1',
  to: 'app:v2',
  restart: 'unless-stopped',
} as const;

describe('the fix command of a container change', () => {
  it('after a deploy: the new container removed, the kept one back as live, its restart policy set again', () => {
    const { names, log } = runFix(replaced, { live: 'new', 'live-previous': 'old' });
    expect(names).toEqual({ live: 'old' });
    expect(log.slice(-2)).toEqual(['update --restart unless-stopped live', 'start live']);
  });

  it('after a set-aside cut short (nothing runs as live yet): the kept one back', () => {
    expect(runFix(replaced, { 'live-previous': 'old' }).names).toEqual({ live: 'old' });
  });

  it('after a swap, done or cut short: the kept one back as live, the other kept as the rollback candidate, stopped', () => {
    const swap = { ...replaced, keptId: 'was-live', from: 'app:v2', to: 'app:v1', keepsOther: true };
    const states: Record<string, string>[] = [
      { live: 'was-kept', 'live-previous': 'was-live' },
      { live: 'was-kept', 'live-swapping': 'was-live' },
      { 'live-previous': 'was-kept', 'live-swapping': 'was-live' },
    ];
    for (const before of states) {
      const { names, log } = runFix(swap, before);
      expect(names, JSON.stringify(before)).toEqual({ live: 'was-live', 'live-previous': 'was-kept' });
      if (before.live) expect(log).toContain('stop was-kept');
    }
  });

  it('leaves a host alone that already runs the kept container as live', () => {
    const { names, log } = runFix(replaced, { live: 'old' });
    expect(names).toEqual({ live: 'old' });
    expect(log).not.toContain('rm --force live');
  });
});
