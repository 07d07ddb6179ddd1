/**
 * What the executor needs of the journal: record a change before making it, close it after. The
 * journal in the state store implements it; `memoryLog` keeps entries in memory, for `--check` (which
 * changes nothing) and for tests of the executor's logic.
 */
import type { Change } from '../changes/index.ts';
import type { JournalEntry } from '../state/journal.ts';

export interface ChangeLog {
  /** Resolves once the record is durable; the change is made only after. */
  record(change: Change, what: string, fix: string): Promise<JournalEntry>;
  /** Closes an entry: undone or complete, or (`because`) closed without its undo, saying why. */
  close(entry: JournalEntry, because?: string): Promise<void>;
  /**
   * Resolves when the run may change the fleet now; throws when it cannot prove it holds the deploy
   * lock (another run may own the fleet): then nothing is changed, and nothing undone.
   */
  fence(): Promise<void>;
}

export function memoryLog(): ChangeLog & { readonly entries: JournalEntry[] } {
  const entries: JournalEntry[] = [];
  return {
    entries,
    async record(change, what, fix) {
      const entry = { seq: entries.length + 1, change, what, fix, openedAt: new Date().toISOString() };
      entries.push(entry);
      return entry;
    },
    async close(entry, because) {
      const i = entries.findIndex((e) => e.seq === entry.seq);
      if (i >= 0)
        entries[i] = { ...entry, closedAt: new Date().toISOString(), ...(because && { closedBecause: because }) };
    },
    async fence() {},
  };
}
