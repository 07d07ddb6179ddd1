/**
 * The journal: every change a run makes to the fleet, written durably BEFORE the change is made and
 * closed once it is undone or complete. It lives beside the lock (`journal.json`), so whoever comes
 * next, on any machine, knows exactly what a killed run left: which Auto Scaling processes it suspended,
 * which alarms it silenced, which host it took out of which load balancer, which container it set aside.
 * `baton recover` undoes what is open, newest first; `baton resume` does that and finishes the rollout.
 *
 * One run writes it at a time (the lock sees to that), always with `If-Match` on the version it wrote
 * last, so a run that lost its lock cannot overwrite what its successor wrote: a run that takes over
 * writes the journal first, with its lease's epoch. And before any write, the run proves its lease
 * (`fence`), so a run that cannot does not even try.
 *
 * The document carries its format: a journal of a newer format, or with a kind of change this Baton
 * does not know, is refused and left as it is, open, for the Baton that wrote it.
 */
import { BatonError, ExitCode } from '../errors.ts';
import { CHANGE_KINDS, type Change } from '../changes/index.ts';
import type { StateStore } from './store.ts';

const JOURNAL = 'journal.json';

/** The journal's format; a journal without one was written before formats (it is format 1 too). */
export const JOURNAL_FORMAT = 1;

export interface JournalEntry {
  readonly seq: number;
  readonly change: Change;
  /** In an operator's words: "web-1 (i-0abc) out of target group api". */
  readonly what: string;
  /** The command an operator runs to undo it by hand. */
  readonly fix: string;
  readonly openedAt: string;
  readonly closedAt?: string;
  /** Why it was closed without its undo: the instance is terminated, or an operator forgot it (who, why). */
  readonly closedBecause?: string;
}

/**
 * What `baton resume` needs to run an interrupted deploy again as it ran: its playbook, where its hosts
 * came from, how it reached them, its batches, failure policy, limit and extra vars. An extra var that
 * may hold a secret (under container, registry or vault) is recorded by its key only: resume asks for it.
 */
export interface RunReplay {
  readonly playbook?: string;
  readonly inventory?: string;
  readonly serial?: string;
  readonly onFailure?: 'rollback' | 'stop';
  readonly limit?: string;
  readonly noLoadBalancer?: boolean;
  /** `--canary <duration>`: the gate's bake of the first batch. */
  readonly canary?: string;
  readonly extraVars?: readonly string[];
  readonly secretExtraVars?: readonly string[];
  /** The bastion the run reached its hosts through (from the configuration, an inventory's ProxyJump). */
  readonly bastion?: { readonly host: string; readonly port: number; readonly user?: string };
}

export interface JournalRun {
  readonly id: string;
  readonly kind: 'deploy' | 'rollback' | 'recover' | 'resume';
  readonly deployer: string;
  readonly machine: string;
  readonly pid: number;
  /** The image being deployed (absent for a rollback: each host's own kept image). */
  readonly image?: string;
  readonly startedAt: string;
  /** The hosts the run targets, by name, in rollout order: what `resume` finishes. */
  readonly hosts?: readonly string[];
  readonly replay?: RunReplay;
}

export interface JournalDocument {
  readonly format?: number;
  /** The lease epoch of the run that wrote this version (see `LockRecord.epoch`). */
  readonly epoch?: number;
  readonly run: JournalRun;
  readonly entries: readonly JournalEntry[];
}

/** What a journal needs of the run's lease: proof, before every write, that the run still holds it. */
export interface Lease {
  assertHeld(): Promise<void>;
  readonly epoch: number;
}

export const openEntries = (doc: JournalDocument | undefined): JournalEntry[] =>
  doc ? doc.entries.filter((e) => !e.closedAt) : [];

/** A journal a killed or failed run left with changes still open: nothing new starts until it is dealt with. */
export class UnfinishedJournalError extends BatonError {
  override readonly exitCode = ExitCode.Locked;
}

/** The journal's writes failed or someone else wrote it: the run must not make another change. */
export class JournalError extends BatonError {
  override readonly exitCode = ExitCode.NeedsOperator;
}

/** A journal this Baton cannot read or undo safely: left as it is, and nothing starts over it. */
export class UnreadableJournalError extends BatonError {
  override readonly exitCode = ExitCode.Locked;
}

export async function readJournal(store: StateStore): Promise<{ doc: JournalDocument; etag: string } | undefined> {
  const stored = await store.read<JournalDocument>(JOURNAL);
  if (!stored) return undefined;
  checkJournal(store, stored.value);
  return { doc: stored.value, etag: stored.etag };
}

/** Refuses a journal of a format or with a change this Baton does not know, naming what and where. */
export function checkJournal(store: Pick<StateStore, 'url'>, doc: JournalDocument): void {
  const where = store.url(JOURNAL);
  const newer =
    'it was written by a newer Baton: run that version (or newer) to recover it; this one leaves it as it is';
  if (doc.format !== undefined && doc.format !== JOURNAL_FORMAT)
    throw new UnreadableJournalError(
      `${where}: the journal has format ${JSON.stringify(doc.format)}, and this Baton reads format ${JOURNAL_FORMAT} only: ${newer}`,
    );
  const unknown = (doc.entries ?? []).filter((e) => !(CHANGE_KINDS as readonly string[]).includes(e.change?.kind));
  if (unknown.length) {
    throw new UnreadableJournalError(
      `${where}: the journal holds ${unknown.map((e) => `entry ${e.seq} of kind ${JSON.stringify(e.change?.kind)} (${e.what})`).join(', ')}, which this Baton cannot undo: ${newer}`,
    );
  }
}

/** What an unfinished journal holds, one line each, newest first, with the commands that deal with it. */
export function describeUnfinished(store: StateStore, doc: JournalDocument): string {
  const open = openEntries(doc).reverse();
  const r = doc.run;
  const lines = open.map(
    (e) => `  - ${e.what} (since ${e.openedAt})\n      by hand: ${e.fix.split('\n').join('\n               ')}`,
  );
  const d = store.scope.deployment;
  return (
    `${store.label}: the ${r.kind} ${r.image ? `of ${r.image} ` : ''}by ${r.deployer} (pid ${r.pid} on ${r.machine}, started ${r.startedAt}) did not finish, and left ${open.length} change${open.length === 1 ? '' : 's'} open on the fleet:\n` +
    `${lines.join('\n')}\n` +
    `Undo them with \`baton recover --deployment ${d}\` (add --check to see the plan first)` +
    (r.kind === 'deploy' && r.image ? `, or finish that rollout with \`baton resume --deployment ${d}\`` : '') +
    ` (journal: ${store.url(JOURNAL)})`
  );
}

/** The journal a run writes as it goes. */
export class Journal {
  private doc: { run: JournalRun; entries: JournalEntry[] };
  private etag: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private seq = 0;

  private constructor(
    private readonly store: StateStore,
    run: JournalRun,
    entries: JournalEntry[],
    etag: string | undefined,
    private readonly lease: Lease | undefined,
  ) {
    this.doc = { run, entries };
    this.etag = etag;
    this.seq = entries.reduce((max, e) => Math.max(max, e.seq), 0);
  }

  /** Starts a run's journal; `over` is the version of a journal this run takes over (recover, resume). */
  static async start(
    store: StateStore,
    run: JournalRun,
    over?: { doc: JournalDocument; etag: string },
    lease?: Lease,
  ): Promise<Journal> {
    const journal = new Journal(store, run, over ? [...over.doc.entries] : [], over?.etag, lease);
    await journal.flush();
    return journal;
  }

  /** Resolves if this run may change the fleet now (its lease is proven); throws `LeaseLostError` if not. */
  async fence(): Promise<void> {
    if (this.failure) throw this.failure;
    await this.lease?.assertHeld();
  }

  /**
   * Whether the stored journal is still the version this run wrote last (nobody else wrote it). Asked
   * in the queue of this run's writes, so none of its own is in flight while it reads.
   */
  unchanged(): Promise<boolean> {
    const check = this.queue.then(async () => {
      const stored = await this.store.read<JournalDocument>(JOURNAL);
      return this.etag === undefined ? !stored : stored?.etag === this.etag;
    });
    this.queue = check.then(
      () => undefined,
      () => undefined,
    );
    return check;
  }

  get run(): JournalRun {
    return this.doc.run;
  }

  /** The entries still open, oldest first. */
  get open(): JournalEntry[] {
    return openEntries(this.doc);
  }

  /** Records a change BEFORE it is made; resolves once the record is durable. Throws if it cannot be. */
  async record(change: Change, what: string, fix: string): Promise<JournalEntry> {
    await this.fence();
    const entry: JournalEntry = { seq: ++this.seq, change, what, fix, openedAt: new Date().toISOString() };
    this.doc.entries.push(entry);
    try {
      await this.flush();
    } catch (error) {
      // Not durable, so the change is not made: a later write must not save it as open.
      this.doc.entries = this.doc.entries.filter((e) => e.seq !== entry.seq);
      throw error;
    }
    return entry;
  }

  /**
   * Marks an entry done. The write is queued, not awaited: an entry left open by a crash right after is
   * only undone again, and every undo is idempotent.
   */
  close(entry: JournalEntry, because?: string): Promise<void> {
    const i = this.doc.entries.findIndex((e) => e.seq === entry.seq);
    if (i < 0 || this.doc.entries[i]!.closedAt) return this.queue;
    this.doc.entries[i] = {
      ...this.doc.entries[i]!,
      closedAt: new Date().toISOString(),
      ...(because && { closedBecause: because }),
    };
    return this.flush().catch(() => undefined);
  }

  /** Writes the journal as it is now, after the writes before it, over the version this run wrote. */
  flush(): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.failure) throw this.failure;
      const snapshot: JournalDocument = {
        format: JOURNAL_FORMAT,
        ...(this.lease && { epoch: this.lease.epoch }),
        run: this.doc.run,
        entries: [...this.doc.entries],
      };
      let etag: string | undefined;
      try {
        etag = await this.store.write(
          JOURNAL,
          snapshot,
          this.etag === undefined ? { absent: true } : { etag: this.etag },
        );
      } catch (error) {
        throw new JournalError(`could not write the journal ${this.store.url(JOURNAL)}: ${(error as Error).message}`);
      }
      if (etag === undefined) {
        // A write that S3 stored but whose answer was lost is retried by the SDK, and the retry then
        // fails its own condition: if what is stored is exactly this write, it stands. A version this
        // very run and lease wrote (an earlier write that failed on our side but landed) is written over.
        const stored = await this.store.read<JournalDocument>(JOURNAL).catch(() => undefined);
        if (stored && JSON.stringify(stored.value) === JSON.stringify(snapshot)) etag = stored.etag;
        else if (
          stored &&
          stored.value.run?.id === snapshot.run.id &&
          stored.value.epoch === snapshot.epoch &&
          snapshot.epoch !== undefined
        ) {
          etag = await this.store.write(JOURNAL, snapshot, { etag: stored.etag }).catch(() => undefined);
        }
      }
      if (etag === undefined) {
        this.failure = new JournalError(
          `the journal ${this.store.url(JOURNAL)} was changed by someone else: this run no longer owns it`,
        );
        throw this.failure;
      }
      this.etag = etag;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * At the end of the run: removes the journal when nothing is open, else leaves it for `recover` and
   * returns what is open.
   */
  async finish(): Promise<JournalEntry[]> {
    await this.queue;
    const open = this.open;
    if (this.failure) return open;
    if (open.length) {
      await this.flush().catch(() => undefined);
      return open;
    }
    if (this.etag !== undefined) await this.store.remove(JOURNAL, this.etag);
    return [];
  }
}
