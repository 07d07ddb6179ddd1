/**
 * The lease a deploy lock gives its holder (see `lock.ts` for how it is taken): renewed while the run
 * lasts, proven before every change, lost for good once another run may own the fleet.
 */
import { formatDuration, LeaseLostError } from '../errors.ts';
import type { DeployEvent } from '../events/events.ts';
import type { LockRecord } from './lock.ts';
import type { StateStore } from './store.ts';

export const LOCK = 'lock.json';

/** What a lease tells and asks the run it belongs to. */
export interface LeaseOptions {
  /** The run's events: the lock records what the run is doing, and a wait is announced there. */
  readonly events?: { subscribe(l: (e: DeployEvent) => void): () => void; emit(e: DeployEvent): void };
  /**
   * Called once when the run must stop: the lock was released by force (and taken back, so the run can
   * still put back what it holds), or its lease was lost (`fenced`: another run may own the fleet now,
   * so this one changes nothing more).
   */
  readonly onLost?: (why: string, fenced: boolean) => void;
  /**
   * Whether what this run knows of the deployment is still true (its journal is the version it wrote
   * last): checked before a lock released by force is taken back.
   */
  readonly stillOurs?: () => Promise<boolean>;
}

/** A moment on both clocks: the monotonic one, and the wall clock (the monotonic one stops while the machine sleeps). */
export interface ClockMark {
  readonly mono: number;
  readonly wall: number;
}
export const clockMark = (): ClockMark => ({ mono: performance.now(), wall: Date.now() });
/** Time since `mark`, by whichever clock says more (a paused process, a suspended machine, a clock step). */
const since = (mark: ClockMark) => Math.max(performance.now() - mark.mono, Date.now() - mark.wall);

/**
 * The lock a run holds: a lease it must keep proving. Each renewal is a write over the version this run
 * wrote last; the lease runs from the moment a write that succeeded was sent, for `staleAfter` less a
 * margin, on this machine's monotonic clock (and the wall clock, whichever says more: a suspended machine
 * stops the first). Another run may take the lock over once the bucket's own clock says it was not
 * renewed for `staleAfter`, so by then this run has stopped acting: `assertHeld` refuses every change
 * (and every undo) it cannot prove its lease for.
 */
export class HeldLock {
  private doing: string | undefined;
  private readonly timer: NodeJS.Timeout;
  private renewing: Promise<void> = Promise.resolve();
  /** Set for good once another run may own the fleet (the lock was taken, or could not be taken back). */
  private fencedBy: string | undefined;
  private stopSaid = false;
  private fenceSaid = false;
  private failing = false;
  private readonly unsubscribe: () => void;
  private readonly margin: number;

  constructor(
    private readonly store: StateStore,
    private record: LockRecord,
    private etag: string,
    private readonly options: LeaseOptions = {},
    /** When the write that took the lock was sent. */
    private proven: ClockMark = clockMark(),
  ) {
    this.margin = Math.max(200, store.settings.staleAfter / 4);
    this.unsubscribe = options.events?.subscribe((e) => this.track(e)) ?? (() => undefined);
    // Renew often enough that two missed renewals still leave the lease valid.
    this.timer = setInterval(() => void this.renew(), Math.max(100, store.settings.staleAfter / 4));
    this.timer.unref();
  }

  /** The run's id, which the lock and its history entry share. */
  get id(): string {
    return this.record.id;
  }

  get epoch(): number {
    return this.record.epoch ?? 1;
  }

  /** Why another run may own the fleet now, if it may: this run then changes nothing more. */
  get lostBecause(): string | undefined {
    return this.fencedBy;
  }

  /** How long the lease still runs, by this machine's clocks. */
  private leftMs(): number {
    return this.store.settings.staleAfter - this.margin - since(this.proven);
  }

  /**
   * Resolves when the run may make a change now: its lease was proven recently enough to outlast a
   * step's start. Otherwise it renews first; a lease it cannot prove throws `LeaseLostError`.
   */
  async assertHeld(): Promise<void> {
    if (this.fencedBy) throw new LeaseLostError(this.fencedMessage());
    if (this.leftMs() > this.margin) return;
    await this.renew();
    if (this.fencedBy) throw new LeaseLostError(this.fencedMessage());
    if (this.leftMs() > this.margin) return;
    throw new LeaseLostError(
      `this run cannot prove it still holds the deploy lock ${this.store.url(LOCK)}: its last renewal that succeeded was ${formatDuration(since(this.proven))} ago ` +
        `(state.staleAfter is ${formatDuration(this.store.settings.staleAfter)}), so another run may have taken it over; it changes nothing until a renewal succeeds`,
    );
  }

  private fencedMessage(): string {
    return `this run lost the deploy lock (${this.fencedBy}): it changes nothing more on the fleet; what it left open stays in the journal for the run that holds the lock now`;
  }

  /** Follows the run; what matters to whoever finds the lock after a crash is written at once. */
  private track(e: DeployEvent): void {
    if (e.type === 'step' && e.status === 'started') this.doing = e.scope === 'host' ? `${e.host}: ${e.step}` : e.step;
    if (
      e.type === 'guard' ||
      (e.type === 'batch' && e.status === 'started') ||
      (e.type === 'step' && e.scope === 'run' && e.status === 'started')
    )
      void this.renew();
  }

  private stop(why: string, fenced: boolean): void {
    if (fenced) {
      this.fencedBy = why;
      clearInterval(this.timer);
    }
    if (fenced ? this.fenceSaid : this.stopSaid) return;
    this.stopSaid = true;
    if (fenced) this.fenceSaid = true;
    this.options.onLost?.(why, fenced);
  }

  /**
   * Makes this lease's epoch at least `min` (one more than the journal it found says): epochs only
   * grow, even when a lock is taken free after a forced release, so no older run can pass for this one.
   */
  async raiseEpoch(min: number): Promise<void> {
    if (this.epoch >= min) return;
    this.record = { ...this.record, epoch: min };
    await this.renew();
    if (this.fencedBy) throw new LeaseLostError(this.fencedMessage());
  }

  /** Writes a fresh heartbeat, only over the version this run wrote last. */
  renew(): Promise<void> {
    this.renewing = this.renewing.then(() => this.renewOnce());
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    if (this.fencedBy) return;
    const next: LockRecord = {
      ...this.record,
      heartbeatAt: new Date().toISOString(),
      ...(this.doing && { doing: this.doing }),
    };
    const mark = clockMark();
    try {
      let etag = await this.store.write(LOCK, next, { etag: this.etag });
      if (etag === undefined) {
        // Stored, but its answer was lost and the SDK's retry failed its own condition: still ours.
        const stored = await this.store.read<LockRecord>(LOCK);
        if (stored && stored.value.id === next.id && stored.value.heartbeatAt === next.heartbeatAt) etag = stored.etag;
        // An earlier renewal of ours that failed on our side but landed: ours too, written over once more.
        else if (
          stored &&
          stored.value.id === next.id &&
          stored.value.pid === next.pid &&
          stored.value.machine === next.machine
        )
          etag = await this.store.write(LOCK, next, { etag: stored.etag });
        else if (!stored) etag = await this.takeBack(next);
        else
          return this.stop(
            `it is now held by ${stored.value.holder} (${stored.value.command}; pid ${stored.value.pid} on ${stored.value.machine})`,
            true,
          );
        if (etag === undefined) return;
      }
      this.record = next;
      this.etag = etag;
      this.proven = mark;
      if (this.failing)
        this.options.events?.emit({
          type: 'warning',
          message: `the deploy lock is renewed again (${this.store.url(LOCK)})`,
        });
      this.failing = false;
    } catch (error) {
      // Retried at the next tick; the lease ends only after several misses. Said once per streak.
      if (!this.failing)
        this.options.events?.emit({
          type: 'warning',
          message: `could not renew the deploy lock ${this.store.url(LOCK)} (retrying): ${(error as Error).message}`,
        });
      this.failing = true;
      if (this.leftMs() <= 0)
        this.stop(
          `it could not be renewed for ${formatDuration(since(this.proven))} (state.staleAfter is ${formatDuration(this.store.settings.staleAfter)})`,
          false,
        );
    }
  }

  /**
   * The lock was released by force (`baton lock release --force`) while this run held it: if nobody
   * took it since and the journal is still as this run wrote it, the run takes it back, so it can put
   * back what it holds before it stops; otherwise another run may own the fleet, and this one is fenced.
   */
  private async takeBack(next: LockRecord): Promise<string | undefined> {
    const etag = await this.store.write(LOCK, next, { absent: true });
    if (etag === undefined) {
      this.stop('it was released by force, and another run took it', true);
      return undefined;
    }
    // Checked once held: nobody can change the journal now without the lock.
    if (this.options.stillOurs && !(await this.options.stillOurs().catch(() => false))) {
      await this.store.remove(LOCK, etag).catch(() => undefined);
      this.stop('it was released by force, and the journal changed since', true);
      return undefined;
    }
    this.stop('it was released by force', false);
    return etag;
  }

  /** Deletes the lock if it is still this run's. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe();
    await this.renewing;
    if (this.fencedBy) return;
    // Only the version this run wrote: a lock someone else took meanwhile is theirs.
    await this.store.remove(LOCK, this.etag);
  }
}
