/**
 * `baton lock status`, `baton lock release --force` and `baton history`: what the state bucket says
 * about a deployment. Read-only, except a forced release.
 */
import { loadFlaggedConfig, type ConfigFlags } from './config-flags.ts';
import { ConfigError, ExitCode, formatDuration } from '../errors.ts';
import { textTable } from '../report/plain.ts';
import { readHistory, type HistoryEntry } from '../state/history.ts';
import { describeUnfinished, openEntries, readJournal, UnreadableJournalError } from '../state/journal.ts';
import { describeHeld, forceRelease, inspectLock, type LockView } from '../state/lock.ts';
import { openStateStore, type StateStore } from '../state/store.ts';
import { printable } from '../printable.ts';

/** Text for a person: what came from outside (tags, labels, log lines, remote errors) cannot drive the terminal. */
const say = (text: string) => process.stdout.write(printable(text));

export interface StateCommandOptions extends ConfigFlags {
  readonly json: boolean;
}

async function withStore<T>(options: StateCommandOptions, fn: (store: StateStore) => Promise<T>): Promise<T> {
  const config = await loadFlaggedConfig(options);
  using store = await openStateStore(config);
  return await fn(store);
}

export function runLockStatus(options: StateCommandOptions): Promise<number> {
  return withStore(options, async (store) => {
    const [lock, journal] = await Promise.all([inspectLock(store), readJournal(store)]);
    const open = openEntries(journal?.doc);
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({ ...(lock ? lockJson(lock) : { locked: false }), journal: journal ? { run: journal.doc.run, open } : null })}\n`,
      );
      return ExitCode.Ok;
    }
    if (!lock) say(`${store.label}: not locked (${store.url('lock.json')})\n`);
    else {
      say(`${describeHeld(store, lock)}\n`);
      say(`last renewed ${formatDuration(lock.silentMs)} ago (${store.url('lock.json')})\n`);
    }
    // A live run's open entries are its work in progress; a dead run's are what recover undoes.
    if (journal && open.length)
      say(
        lock && !lock.stale
          ? `in progress:\n${open.map((e) => `  - ${e.what}`).join('\n')}\n`
          : `${describeUnfinished(store, journal.doc)}\n`,
      );
    return ExitCode.Ok;
  });
}

export function runLockRelease(options: StateCommandOptions & { readonly force: boolean }): Promise<number> {
  if (!options.force) {
    throw new ConfigError(
      '--force',
      'releasing a lock can let two runs change the fleet at once: check that its holder is gone (baton lock status), then add --force',
    );
  }
  return withStore(options, async (store) => {
    const released = await forceRelease(store);
    if (options.json) process.stdout.write(`${JSON.stringify({ released: released ? lockJson(released) : null })}\n`);
    else if (!released) say(`${store.label}: not locked, nothing to release\n`);
    else {
      const note = released.stale ? '' : '; it was not stale: that run still thinks it holds it';
      say(
        `released the lock ${released.record.holder} held since ${released.record.startedAt} (${released.record.command})${note}\n`,
      );
      // Released either way; a journal this Baton cannot read is said, not an error of the release.
      const journal = await readJournal(store).catch((error: unknown) => {
        if (!(error instanceof UnreadableJournalError)) throw error;
        say(`${error.message}\n`);
        return undefined;
      });
      if (journal && openEntries(journal.doc).length) say(`${describeUnfinished(store, journal.doc)}\n`);
    }
    return ExitCode.Ok;
  });
}

export function runHistory(options: StateCommandOptions & { readonly last: number }): Promise<number> {
  return withStore(options, async (store) => {
    const [entries, lock] = await Promise.all([readHistory(store, options.last), inspectLock(store)]);
    // A `running` entry whose run no longer holds a live lock was killed before it could record its end.
    const settled = entries.map((e) =>
      e.outcome === 'running' && (lock?.record.id !== e.id || lock.stale)
        ? { ...e, outcome: 'did not finish' as const }
        : e,
    );
    if (options.json) {
      for (const e of settled) process.stdout.write(`${JSON.stringify(e)}\n`);
      return ExitCode.Ok;
    }
    if (!settled.length) {
      say(`${store.label}: no run recorded yet (${store.url('history/')})\n`);
      return ExitCode.Ok;
    }
    const rows = settled.map((e) => [
      e.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      e.kind,
      e.deployer,
      imageChange(e),
      hostCount(e),
      e.outcome,
      e.ms === undefined ? '' : `${(e.ms / 1000).toFixed(1)}s`,
    ]);
    say(textTable([['STARTED', 'KIND', 'BY', 'IMAGE', 'HOSTS', 'RESULT', 'TOOK'], ...rows]));
    for (const e of settled) {
      const problems = [
        ...(e.error ? [e.error] : []),
        ...e.hosts.filter((h) => h.error).map((h) => `${h.host}: ${h.error}`),
      ];
      for (const p of problems) say(`  ${e.startedAt} ${p}\n`);
    }
    return ExitCode.Ok;
  });
}

function imageChange(e: Pick<HistoryEntry, 'kind' | 'image' | 'hosts'>): string {
  const before = [...new Set(e.hosts.flatMap((h) => (h.oldImage ? [h.oldImage] : [])))];
  const after =
    e.kind === 'rollback'
      ? [...new Set(e.hosts.filter((h) => h.result === 'deployed').map((h) => h.newImage))]
      : e.image
        ? [e.image]
        : [];
  if (!before.length) return after.join(', ') || '-';
  return `${before.join(', ')} -> ${after.join(', ') || '-'}`;
}

function hostCount(e: Pick<HistoryEntry, 'hosts'>): string {
  if (!e.hosts.length) return '-';
  const changed = e.hosts.filter((h) => h.result === 'deployed').length;
  return `${changed}/${e.hosts.length}`;
}

function lockJson(lock: LockView) {
  return { locked: true, ...lock.record, renewedAt: lock.renewedAt.toISOString(), stale: lock.stale ?? null };
}
