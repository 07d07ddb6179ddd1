/**
 * The deploy lock: one object per stack, release and deployment, created only if absent (S3's
 * `If-None-Match: *`), so of two runs starting together exactly one gets it. The holder renews it
 * (`If-Match` on the version it wrote) while it runs, recording what it is doing; a lock nobody renewed
 * for `staleAfter`, or whose process is gone from this very machine, belongs to a run that was killed.
 * Such a lock is reported, never taken over silently: that run may have left a host out of its load
 * balancer, so an operator looks (`baton status`) and releases it (`baton lock release --force`).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { formatDuration, LeaseLostError, LockedError } from '../errors.ts';
import { sleep } from '../poll.ts';
import type { DeployEvent } from '../rollout/events.ts';
import type { StateStore } from './store.ts';

const LOCK = 'lock.json';

/** The resolution of the bucket's clock (S3's Last-Modified and Date headers). */
const CLOCK_RESOLUTION_MS = 1_000;

export interface LockRecord {
  /** The run's id, shared with its history entry. */
  readonly id: string;
  readonly holder: string;
  readonly machine: string;
  /** `/etc/machine-id` and the kernel's boot id: the pid means something only on this very boot. */
  readonly machineId?: string;
  readonly bootId?: string;
  /**
   * The pid namespace (`pid:[4026531836]`) and the process's start time since boot: containers on one
   * machine share its machine and boot ids but not their pids, and a pid is reused once its process is gone.
   */
  readonly pidNamespace?: string;
  readonly processStart?: string;
  readonly pid: number;
  /**
   * The lease's epoch: 1 for a lock taken when free, one more for each takeover. The journal records the
   * epoch that wrote it; a takeover writes the journal first, so a run of an older epoch cannot write it.
   */
  readonly epoch?: number;
  /**
   * The holder's lease (its `state.staleAfter`): it stops acting before this passes without a renewal,
   * so whoever reads the lock judges it stale by this, not by its own setting.
   */
  readonly staleAfterMs?: number;
  /** What the run does: `deploy registry/app:v2`, `rollback`. */
  readonly command: string;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  /** What the run was doing when it last renewed the lock. */
  readonly doing?: string;
  /** The CI build, when there is one. */
  readonly build?: string;
}

export interface LockView {
  readonly record: LockRecord;
  /** When the bucket last heard from the holder. */
  readonly renewedAt: Date;
  /** How long ago, on the bucket's own clock (never the deployer's, which may be skewed). */
  readonly silentMs: number;
  /** The version read: a takeover or a forced release replaces or removes only this one. */
  readonly etag: string;
  /** Why the lock is stale, if it is. */
  readonly stale?: string;
}

export type LockIdentity = Omit<LockRecord, 'heartbeatAt' | 'doing' | 'machine' | 'machineId' | 'bootId' | 'pidNamespace' | 'processStart' | 'pid' | 'epoch' | 'staleAfterMs'>;

/** The current lock, if any, with a verdict on whether its holder is still alive. */
export async function inspectLock(store: StateStore): Promise<LockView | undefined> {
  const stored = await store.read<LockRecord>(LOCK);
  if (!stored) return undefined;
  const silentMs = Math.max(0, stored.storeNow.getTime() - stored.lastModified.getTime());
  const record = stored.value;
  const staleAfter = typeof record.staleAfterMs === 'number' && record.staleAfterMs > 0 ? record.staleAfterMs : store.settings.staleAfter;
  let stale: string | undefined;
  if (provablyGone(record)) stale = `its process (pid ${record.pid} on ${record.machine}) is gone`;
  // S3's Last-Modified and Date have whole seconds: a second more is waited out, so a holder whose
  // lease still runs by its own clock is never judged stale early.
  else if (silentMs > staleAfter + CLOCK_RESOLUTION_MS) stale = `it has not been renewed for ${formatDuration(silentMs)} (state.staleAfter is ${formatDuration(staleAfter)})`;
  return { record, renewedAt: stored.lastModified, silentMs, etag: stored.etag, ...(stale && { stale }) };
}

/** This machine's identity and boot, when the system tells (Linux); the host name only as a last resort. */
const here = (() => {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  };
  let pidNamespace: string | undefined;
  try {
    pidNamespace = readlinkSync('/proc/self/ns/pid');
  } catch {
    pidNamespace = undefined;
  }
  return {
    machineId: read('/etc/machine-id') ?? read('/var/lib/dbus/machine-id') ?? `host:${hostname()}`,
    bootId: read('/proc/sys/kernel/random/boot_id'),
    pidNamespace,
    processStart: processStartOf(process.pid),
  };
})();

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
function processStartOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether the lock's process is provably gone: only for a lock written on this very machine, boot and
 * pid namespace (a container on the same machine has its own pids), when no process has its pid, or
 * the one that has it started at another time (the pid was reused). Anything else is judged by time.
 */
function provablyGone(record: LockRecord): boolean {
  const sameBoot = !!here.machineId && !!here.bootId && record.machineId === here.machineId && record.bootId === here.bootId;
  if (!sameBoot || !here.pidNamespace || record.pidNamespace !== here.pidNamespace) return false;
  if (!processAlive(record.pid)) return true;
  const started = processStartOf(record.pid);
  return record.processStart !== undefined && started !== undefined && started !== record.processStart;
}

/** Whether a process with this pid runs on this machine (EPERM: it does, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface AcquireOptions {
  /** The run's events: the lock records what the run is doing, and a wait is announced there. */
  readonly events?: { subscribe(l: (e: DeployEvent) => void): () => void; emit(e: DeployEvent): void };
  /** How long to wait for a live holder to finish (`--lock-wait`); 0 fails at once. */
  readonly waitMs?: number;
  /** Ends a wait early (Ctrl-C). */
  readonly signal?: AbortSignal;
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

/**
 * Takes the lock or throws `LockedError` naming its holder. With `waitMs`, waits for a live holder to
 * finish, polling; a stale lock is never waited for, since its run will not release it.
 */
export async function acquireLock(store: StateStore, who: LockIdentity, options: AcquireOptions = {}): Promise<HeldLock> {
  const started = Date.now();
  const deadline = started + (options.waitMs ?? 0);
  let announced = false;
  for (;;) {
    const record = lockRecord(who, 1, store.settings.staleAfter);
    const mark = clockMark();
    const etag = await store.write(LOCK, record, { absent: true });
    if (etag !== undefined) return new HeldLock(store, record, etag, options, mark);
    const current = await inspectLock(store);
    if (!current) continue; // Released between our write and our read: try again.
    // Our own write, whose answer was lost (the SDK's retry then failed its own condition): it is ours.
    if (current.record.id === record.id && current.record.pid === record.pid && current.record.heartbeatAt === record.heartbeatAt) {
      return new HeldLock(store, current.record, current.etag, options, mark);
    }
    if (current.stale || Date.now() >= deadline || options.signal?.aborted) {
      const waited = announced ? ` (waited ${formatDuration(Date.now() - started)} for it)` : '';
      throw new LockedError(`${describeHeld(store, current)}${waited}`);
    }
    if (!announced) {
      announced = true;
      options.events?.emit({ type: 'warning', message: `waiting up to ${formatDuration(options.waitMs ?? 0)} for the deploy lock: ${describeHeld(store, current)}` });
    }
    await sleep(Math.min(1_000, Math.max(0, deadline - Date.now())), options.signal);
  }
}

function lockRecord(who: LockIdentity, epoch: number, staleAfterMs: number): LockRecord {
  return {
    ...who,
    staleAfterMs,
    machine: hostname(),
    ...(here.machineId && { machineId: here.machineId }),
    ...(here.bootId && { bootId: here.bootId }),
    ...(here.pidNamespace && { pidNamespace: here.pidNamespace }),
    ...(here.processStart && { processStart: here.processStart }),
    pid: process.pid,
    epoch,
    heartbeatAt: new Date().toISOString(),
  };
}

/** A moment on both clocks: the monotonic one, and the wall clock (the monotonic one stops while the machine sleeps). */
interface ClockMark {
  readonly mono: number;
  readonly wall: number;
}
const clockMark = (): ClockMark => ({ mono: performance.now(), wall: Date.now() });
/** Time since `mark`, by whichever clock says more (a paused process, a suspended machine, a clock step). */
const since = (mark: ClockMark) => Math.max(performance.now() - mark.mono, Date.now() - mark.wall);

/**
 * Takes over the lock of a run that is gone (`baton recover`, `baton resume`): replaces exactly the
 * stale version read, so a holder that was only slow, and renewed meanwhile, keeps it.
 */
export async function takeOverLock(store: StateStore, stale: LockView, who: LockIdentity, options: AcquireOptions = {}): Promise<HeldLock> {
  const record = lockRecord(who, (stale.record.epoch ?? 1) + 1, store.settings.staleAfter);
  const mark = clockMark();
  let etag = await store.write(LOCK, record, { etag: stale.etag });
  if (etag === undefined) {
    // Stored, but its answer was lost (the SDK's retry then failed its own condition): still ours.
    const now = await store.read<LockRecord>(LOCK).catch(() => undefined);
    if (now && now.value.id === record.id && now.value.heartbeatAt === record.heartbeatAt) etag = now.etag;
  }
  if (etag === undefined) throw new LockedError(`${store.label}: the lock changed while taking it over (its holder may be alive): look again with \`baton lock status --deployment ${store.scope.deployment}\``);
  return new HeldLock(store, record, etag, options, mark);
}

/** A one-paragraph account of who holds the lock and what to do about it. */
export function describeHeld(store: StateStore, lock: LockView): string {
  const r = lock.record;
  const who = `${r.holder} (${r.command}${r.build ? `, build ${r.build}` : ''}; pid ${r.pid} on ${r.machine})`;
  const since = `since ${r.startedAt}`;
  const doing = r.doing ? `, last seen at: ${r.doing}` : '';
  const d = store.scope.deployment;
  if (lock.stale) {
    return (
      `${store.label} is locked by a run that did not finish: ${who} ${since}${doing}. The lock is stale: ${lock.stale}. ` +
      `Whatever it left changed on the fleet is in its journal: \`baton recover --deployment ${d}\` undoes it and releases the lock ` +
      `(\`baton lock status --deployment ${d}\` lists it)`
    );
  }
  return `${store.label} is being deployed by ${who} ${since} (renewed ${formatDuration(lock.silentMs)} ago)${doing}. Wait for it to finish; if that run is gone: \`baton lock release --force --deployment ${d}\``;
}

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
    private readonly options: Pick<AcquireOptions, 'events' | 'onLost' | 'stillOurs'> = {},
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
    if (e.type === 'guard' || (e.type === 'batch' && e.status === 'started') || (e.type === 'step' && e.scope === 'run' && e.status === 'started')) void this.renew();
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
    const next: LockRecord = { ...this.record, heartbeatAt: new Date().toISOString(), ...(this.doing && { doing: this.doing }) };
    const mark = clockMark();
    try {
      let etag = await this.store.write(LOCK, next, { etag: this.etag });
      if (etag === undefined) {
        // Stored, but its answer was lost and the SDK's retry failed its own condition: still ours.
        const stored = await this.store.read<LockRecord>(LOCK);
        if (stored && stored.value.id === next.id && stored.value.heartbeatAt === next.heartbeatAt) etag = stored.etag;
        // An earlier renewal of ours that failed on our side but landed: ours too, written over once more.
        else if (stored && stored.value.id === next.id && stored.value.pid === next.pid && stored.value.machine === next.machine) etag = await this.store.write(LOCK, next, { etag: stored.etag });
        else if (!stored) etag = await this.takeBack(next);
        else return this.stop(`it is now held by ${stored.value.holder} (${stored.value.command}; pid ${stored.value.pid} on ${stored.value.machine})`, true);
        if (etag === undefined) return;
      }
      this.record = next;
      this.etag = etag;
      this.proven = mark;
      if (this.failing) this.options.events?.emit({ type: 'warning', message: `the deploy lock is renewed again (${this.store.url(LOCK)})` });
      this.failing = false;
    } catch (error) {
      // Retried at the next tick; the lease ends only after several misses. Said once per streak.
      if (!this.failing) this.options.events?.emit({ type: 'warning', message: `could not renew the deploy lock ${this.store.url(LOCK)} (retrying): ${(error as Error).message}` });
      this.failing = true;
      if (this.leftMs() <= 0) this.stop(`it could not be renewed for ${formatDuration(since(this.proven))} (state.staleAfter is ${formatDuration(this.store.settings.staleAfter)})`, false);
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

/**
 * `baton lock release --force`: removes the lock as it was read, never a newer one (a run that renewed
 * or took it meanwhile keeps it); returns what it removed.
 */
export async function forceRelease(store: StateStore): Promise<LockView | undefined> {
  const current = await inspectLock(store);
  if (!current) return undefined;
  if (!(await store.remove(LOCK, current.etag))) throw new LockedError(`${store.label}: the lock changed while releasing it (its holder renewed it, or another run took it): look again with \`baton lock status --deployment ${store.scope.deployment}\``);
  return current;
}
