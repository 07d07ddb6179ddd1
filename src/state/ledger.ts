/**
 * A run's footprint in the state store: the lock it holds while it may change the fleet, the journal
 * of every change it makes, and its history entry. Trouble with the store after the lock is taken never
 * passes silently: a lost lock stops the run at the next safe point, a journal left open is listed with
 * the commands that deal with it.
 */
import { hostname } from 'node:os';
import type { EventBus, HostSummary, RunOutcome } from '../events/events.ts';
import { recordHistory, type HistoryEntry } from './history.ts';
import {
  describeUnfinished,
  Journal,
  openEntries,
  readJournal,
  UnfinishedJournalError,
  type JournalDocument,
  type JournalRun,
} from './journal.ts';
import { acquireLock, inspectLock, takeOverLock, type HeldLock, type LockIdentity } from './lock.ts';
import { LockedError } from '../errors.ts';
import { maskSecrets } from '../secrets/mask.ts';
import type { StateStore } from './store.ts';

export type RunFacts = Omit<HistoryEntry, 'machine' | 'outcome' | 'hosts' | 'finishedAt' | 'ms' | 'exitCode' | 'error'>;

export interface LedgerOptions {
  /** `--lock-wait`, and the signal that ends a wait (Ctrl-C). */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
  /**
   * Called if the lock is lost while the run holds it: the run must stop at its next safe point; when
   * `fenced`, another run may own the fleet, and this one changes nothing more (the journal refuses).
   */
  readonly onLost?: (why: string, fenced: boolean) => void;
}

export class RunLedger {
  private held: HeldLock | undefined;
  private started: Promise<void> = Promise.resolve();
  private journalOf: Journal | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly facts: RunFacts,
    private readonly events: EventBus,
    private readonly options: LedgerOptions = {},
  ) {}

  get journal(): Journal | undefined {
    return this.journalOf;
  }

  /**
   * Takes the lock (or throws `LockedError`), refuses to start over a journal that a run left open
   * (`UnfinishedJournalError`), and starts this run's journal; returns where the lock lives.
   */
  async begin(hosts: readonly string[]): Promise<string> {
    this.held = await acquireLock(this.store, this.identity(), this.lockOptions());
    await this.orRelease(async () => {
      const left = await readJournal(this.store);
      if (left && openEntries(left.doc).length)
        throw new UnfinishedJournalError(describeUnfinished(this.store, left.doc));
      await this.held!.raiseEpoch((left?.doc.epoch ?? 0) + 1);
      // A journal whose entries are all closed belongs to a run that ended but could not remove it.
      const over = left && { doc: { ...left.doc, entries: [] }, etag: left.etag };
      this.journalOf = await Journal.start(this.store, this.journalRun(hosts), over, this.held);
    });
    // Written while the run connects; `end` waits for it before writing the outcome over it. The hosts
    // are in it from the start, so a run killed later can still be resumed from the history.
    this.started = this.record({
      outcome: 'running',
      hosts: hosts.map((host) => ({
        host,
        result: 'not-started',
        newImage: this.facts.image ?? '',
        outOfServiceMs: 0,
      })),
    });
    return this.store.url('lock.json');
  }

  /**
   * For `recover` and `resume`: takes the lock of a run that is gone (or a free one) and the journal it
   * left, entries and all. Returns the journal as found, or undefined when nothing was left open.
   */
  async takeOver(): Promise<JournalDocument | undefined> {
    const lock = await inspectLock(this.store);
    if (lock && !lock.stale) {
      throw new LockedError(
        `${this.store.label} is being deployed by ${lock.record.holder} (${lock.record.command}; pid ${lock.record.pid} on ${lock.record.machine}): a live run owns its journal; wait for it to finish`,
      );
    }
    this.held = lock
      ? await takeOverLock(this.store, lock, this.identity(), this.lockOptions())
      : await acquireLock(this.store, this.identity(), this.lockOptions());
    return this.orRelease(async () => {
      const left = await readJournal(this.store);
      await this.held!.raiseEpoch((left?.doc.epoch ?? 0) + 1);
      const open = left && openEntries(left.doc).length ? left : undefined;
      // What is left open stays under the run that made it, so `resume` still knows which rollout to
      // finish should this recovery itself not finish.
      this.journalOf = await Journal.start(
        this.store,
        open ? open.doc.run : this.journalRun([]),
        open ?? (left && { doc: { ...left.doc, entries: [] }, etag: left.etag }),
        this.held,
      );
      this.started = this.record({ outcome: 'running', hosts: [] });
      return open?.doc;
    });
  }

  /** Runs what follows taking the lock; should it fail, the lock is given back before the error goes on. */
  private async orRelease<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      await this.held?.release().catch(() => undefined);
      this.held = undefined;
      throw error;
    }
  }

  /** Records how the run ended, closes the journal (or says loudly what it leaves open), releases the lock. */
  async end(result: {
    outcome: RunOutcome;
    exitCode: number;
    hosts: readonly HostSummary[];
    error?: string;
    forgotten?: HistoryEntry['forgotten'];
  }): Promise<void> {
    if (!this.held) return;
    await this.started;
    // A run that lost its lease leaves the journal to the run that holds it now: not a word written there.
    if (this.journalOf && !this.held.lostBecause) {
      const open = await this.journalOf.finish().catch((error: unknown) => {
        this.events.emit({
          type: 'warning',
          message: `could not close the journal ${this.store.url('journal.json')}: ${(error as Error).message}`,
        });
        return this.journalOf!.open;
      });
      if (open.length) {
        this.events.emit({
          type: 'warning',
          message: `left open in the journal (${this.store.url('journal.json')}), so no deploy starts until it is dealt with:\n${open.map((e) => `  - ${e.what}`).join('\n')}\n  \`baton recover --deployment ${this.store.scope.deployment}\` undoes them (or run the commands above by hand, then recover to close the journal)`,
        });
      }
    }
    const finishedAt = new Date();
    await this.record({
      ...result,
      finishedAt: finishedAt.toISOString(),
      ms: finishedAt.getTime() - Date.parse(this.facts.startedAt),
    });
    if (this.held.lostBecause) {
      this.events.emit({
        type: 'warning',
        message: `this run lost the deploy lock while it ran (${this.held.lostBecause}): it left the lock and the journal to the run that holds it now`,
      });
      return;
    }
    try {
      await this.held.release();
    } catch (error) {
      this.events.emit({
        type: 'undo-failed',
        what: `the deploy lock ${this.store.url('lock.json')} is still held by this run`,
        error: (error as Error).message,
        fix: `baton lock release --force --deployment ${this.store.scope.deployment}`,
      });
    }
  }

  private lockOptions() {
    return {
      events: this.events,
      ...this.options,
      stillOurs: async () => !this.journalOf || (await this.journalOf.unchanged()),
    };
  }

  private identity(): LockIdentity {
    const { id, deployer, kind, image, startedAt, build } = this.facts;
    return {
      id,
      holder: deployer,
      command: image && kind !== 'rollback' ? `${kind} ${image}` : kind,
      startedAt,
      ...(build && { build }),
    };
  }

  private journalRun(hosts: readonly string[]): JournalRun {
    const { id, deployer, kind, image, startedAt, replay } = this.facts;
    return {
      id,
      kind,
      deployer,
      machine: hostname(),
      pid: process.pid,
      ...(image && { image }),
      startedAt,
      hosts: [...hosts],
      ...(replay && { replay }),
    };
  }

  private async record(part: Pick<HistoryEntry, 'outcome' | 'hosts'> & Partial<HistoryEntry>): Promise<void> {
    // Names and images are data, stored as they are; only the free text (errors) is masked.
    const hosts = part.hosts.map((h) => (h.error === undefined ? h : { ...h, error: maskSecrets(h.error) }));
    try {
      await recordHistory(this.store, {
        ...this.facts,
        machine: hostname(),
        ...part,
        hosts,
        ...(part.error !== undefined && { error: maskSecrets(part.error) }),
      });
    } catch (error) {
      this.events.emit({
        type: 'warning',
        message: `could not record this run in ${this.store.url('history/')}: ${(error as Error).message}`,
      });
    }
  }
}
