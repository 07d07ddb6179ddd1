/**
 * After a run: the retry file of hosts left off the target image; before a rollback: which hosts the
 * last deploy changed, from the history, so a rollback moves back only those.
 */
import { writeFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { EventBus, HostSummary } from '../events/events.ts';
import type { Host } from '../inventory/host.ts';
import { readHistory } from '../state/history.ts';
import type { StateStore } from '../state/store.ts';

/**
 * Like Ansible's retry files: after a run that left hosts off the target image, their names, one a
 * line, in `rollout.retryFile` (default `<playbook>.retry` here), for `--limit @<file>`.
 */
export function writeRetryFile(
  hosts: readonly HostSummary[],
  playbookName: string,
  configured: string | undefined,
  events: EventBus,
  options: { readonly rollback?: boolean },
): void {
  const left = hosts.filter((h) => h.result !== 'deployed' && h.result !== 'unchanged').map((h) => h.host);
  if (!left.length) return;
  const file = configured ?? `${playbookName.replace(/[^A-Za-z0-9._-]+/g, '-')}.retry`;
  try {
    writeFileSync(file, `${left.join('\n')}\n`);
  } catch (error) {
    events.emit({ type: 'warning', message: `could not write the retry file ${file}: ${(error as Error).message}` });
    return;
  }
  const command = options.rollback ? 'rollback' : 'deploy';
  events.emit({
    type: 'warning',
    message: `${left.length} host${left.length === 1 ? ' is' : 's are'} not on the target image: ${left.join(', ')}; to retry just ${left.length === 1 ? 'it' : 'them'}: baton ${command} ... --limit @${file}`,
  });
}

/** The hosts the last deploy switched, when the history has it; undefined to take every host. */
export async function hostsChangedByLastDeploy(store: StateStore, events: EventBus): Promise<string[] | undefined> {
  const [last] = (await readHistory(store, 20)).filter(
    (e) => e.kind === 'deploy' || e.kind === 'rollback' || e.kind === 'resume',
  );
  // A run that never recorded its end (killed): which hosts it switched is unknown, so every host.
  if (!last || last.kind === 'rollback' || !last.hosts.length || last.outcome === 'running') return undefined;
  const changed = last.hosts.filter((h) => h.result === 'deployed').map((h) => h.host);
  if (!changed.length)
    throw new ConfigError(
      '',
      `the last deploy (${last.image ?? '?'}, ${last.startedAt}, ${last.outcome}) changed no host: nothing to roll back (name hosts with --limit to roll them back anyway)`,
    );
  events.emit({
    type: 'warning',
    message: `rolling back only what the last deploy (${last.image}, ${last.startedAt}, ${last.outcome}) changed: ${changed.join(', ')}; every other host keeps its image (name hosts with --limit to roll them back too)`,
  });
  return changed;
}

/** The hosts of `hosts` the history names (by name, or instance id when a shared name changed). */
export function pickChanged(hosts: Host[], changed: readonly string[]): Host[] {
  const picked = hosts.filter(
    (h) =>
      changed.includes(h.name) ||
      (h.aliases ?? []).some((a) => changed.includes(a)) ||
      changed.some((c) => h.instanceId !== undefined && c.endsWith(`(${h.instanceId})`)),
  );
  if (!picked.length)
    throw new ConfigError(
      '--limit',
      `none of the hosts the last deploy changed (${changed.join(', ')}) is in the inventory now: name the hosts to roll back with --limit`,
    );
  return picked;
}
