/**
 * The history: one object per run under `history/`, named by start time so the bucket lists them in
 * order. A run writes its entry when it takes the lock (`running`) and again when it ends, so a run that
 * was killed still shows, as one that did not finish.
 */
import type { HostSummary, RunOutcome } from '../events/events.ts';
import type { StateStore } from './store.ts';
import type { RunReplay } from './journal.ts';

export interface HistoryEntry {
  readonly id: string;
  readonly kind: 'deploy' | 'rollback' | 'recover' | 'resume';
  readonly deployer: string;
  readonly machine: string;
  readonly deployment: string;
  /** The image deployed; for a rollback, what the hosts went back to is in `hosts`. */
  readonly image?: string;
  readonly branch?: string;
  readonly build?: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly ms?: number;
  readonly outcome: RunOutcome | 'running';
  readonly exitCode?: number;
  /** Why the run failed, when it failed before or outside a host. */
  readonly error?: string;
  readonly hosts: readonly HostSummary[];
  /** How to run it again (`baton resume`). */
  readonly replay?: RunReplay;
  /** Journal entries an operator closed by hand (`baton recover --forget`): what, who and why. */
  readonly forgotten?: readonly {
    readonly seq: number;
    readonly what: string;
    readonly by: string;
    readonly why: string;
  }[];
}

const DIR = 'history';
const keyOf = (entry: Pick<HistoryEntry, 'startedAt' | 'id'>) =>
  `${DIR}/${entry.startedAt.replace(/:/g, '')}-${entry.id}.json`;

export async function recordHistory(store: StateStore, entry: HistoryEntry): Promise<void> {
  await store.write(keyOf(entry), entry);
}

/** The newest `last` entries, newest first. */
export async function readHistory(store: StateStore, last: number): Promise<HistoryEntry[]> {
  const names = (await store.list(DIR))
    .filter((n) => n.endsWith('.json'))
    .sort()
    .reverse()
    .slice(0, last);
  const entries = await Promise.all(names.map((n) => store.read<HistoryEntry>(n)));
  return entries.flatMap((e) => (e ? [e.value] : []));
}
