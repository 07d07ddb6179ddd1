/**
 * The deploy lock: one object per stack, release and deployment, created only if absent (S3's
 * `If-None-Match: *`), so of two runs starting together exactly one gets it. The holder renews it
 * (`If-Match` on the version it wrote) while it runs, recording what it is doing; a lock nobody renewed
 * for `staleAfter`, or whose process is gone from this very machine, belongs to a run that was killed.
 * Such a lock is reported, never taken over silently: that run may have left a host out of its load
 * balancer, so an operator looks (`baton status`) and releases it (`baton lock release --force`).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { formatDuration, LockedError } from '../errors.ts';
import { sleep } from '../poll.ts';
import type { DeployEvent } from '../rollout/events.ts';
import type { StateStore } from './store.ts';

const LOCK = 'lock.json';

export interface LockRecord {
  /** The run's id, shared with its history entry. */
  readonly id: string;
  readonly holder: string;
  readonly machine: string;
  /** `/etc/machine-id` and the kernel's boot id: the pid means something only on this very boot. */
  readonly machineId?: string;
  readonly bootId?: string;
  readonly pid: number;
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

export type LockIdentity = Omit<LockRecord, 'heartbeatAt' | 'doing' | 'machine' | 'machineId' | 'bootId' | 'pid'>;

/** The current lock, if any, with a verdict on whether its holder is still alive. */
export async function inspectLock(store: StateStore): Promise<LockView | undefined> {
  const stored = await store.read<LockRecord>(LOCK);
  if (!stored) return undefined;
  const silentMs = Math.max(0, stored.storeNow.getTime() - stored.lastModified.getTime());
  const record = stored.value;
  const staleAfter = store.settings.staleAfter;
  let stale: string | undefined;
  if (sameBoot(record) && !processAlive(record.pid)) stale = `its process (pid ${record.pid} on ${record.machine}) is gone`;
  else if (silentMs > staleAfter) stale = `it has not been renewed for ${formatDuration(silentMs)} (state.staleAfter is ${formatDuration(staleAfter)})`;
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
  return { machineId: read('/etc/machine-id') ?? read('/var/lib/dbus/machine-id') ?? `host:${hostname()}`, bootId: read('/proc/sys/kernel/random/boot_id') };
})();

/** Whether the lock was written on this very machine and boot: only then does its pid mean a process here. */
function sameBoot(record: LockRecord): boolean {
  return !!here.machineId && !!here.bootId && record.machineId === here.machineId && record.bootId === here.bootId;
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
  /** Called once if the lock is lost while held (released by force, taken by another run). */
  readonly onLost?: (why: string) => void;
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
    const record = lockRecord(who);
    const etag = await store.write(LOCK, record, { absent: true });
    if (etag !== undefined) return new HeldLock(store, record, etag, options);
    const current = await inspectLock(store);
    if (!current) continue; // Released between our write and our read: try again.
    // Our own write, whose answer was lost (the SDK's retry then failed its condition): it is ours.
    if (current.record.id === record.id && current.record.pid === record.pid) return new HeldLock(store, current.record, current.etag, options);
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

function lockRecord(who: LockIdentity): LockRecord {
  return { ...who, machine: hostname(), ...(here.machineId && { machineId: here.machineId }), ...(here.bootId && { bootId: here.bootId }), pid: process.pid, heartbeatAt: new Date().toISOString() };
}

/**
 * Takes over the lock of a run that is gone (`baton recover`, `baton resume`): replaces exactly the
 * stale version read, so a holder that was only slow, and renewed meanwhile, keeps it.
 */
export async function takeOverLock(store: StateStore, stale: LockView, who: LockIdentity, options: AcquireOptions = {}): Promise<HeldLock> {
  const record = lockRecord(who);
  const etag = await store.write(LOCK, record, { etag: stale.etag });
  if (etag === undefined) throw new LockedError(`${store.label}: the lock changed while taking it over (its holder may be alive): look again with \`baton lock status --deployment ${store.scope.deployment}\``);
  return new HeldLock(store, record, etag, options);
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

export class HeldLock {
  private doing: string | undefined;
  private readonly timer: NodeJS.Timeout;
  private renewing: Promise<void> = Promise.resolve();
  private lost: string | undefined;
  private failing = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: StateStore,
    private record: LockRecord,
    private etag: string,
    private readonly options: Pick<AcquireOptions, 'events' | 'onLost'> = {},
  ) {
    this.unsubscribe = options.events?.subscribe((e) => this.track(e)) ?? (() => undefined);
    // Renew often enough that two missed renewals still leave the lock fresh.
    this.timer = setInterval(() => void this.renew(), Math.max(250, store.settings.staleAfter / 4));
    this.timer.unref();
  }

  /** The run's id, which the lock and its history entry share. */
  get id(): string {
    return this.record.id;
  }

  /** Why the lock was lost (released by force, taken by another run), if it was. */
  get lostBecause(): string | undefined {
    return this.lost;
  }

  /** Follows the run; what matters to whoever finds the lock after a crash is written at once. */
  private track(e: DeployEvent): void {
    if (e.type === 'step' && e.status === 'started') this.doing = e.scope === 'host' ? `${e.host}: ${e.step}` : e.step;
    if (e.type === 'guard' || (e.type === 'batch' && e.status === 'started') || (e.type === 'step' && e.scope === 'run' && e.status === 'started')) void this.renew();
  }

  /** Writes a fresh heartbeat, only over the version this run wrote last. */
  renew(): Promise<void> {
    this.renewing = this.renewing.then(async () => {
      if (this.lost) return;
      const next: LockRecord = { ...this.record, heartbeatAt: new Date().toISOString(), ...(this.doing && { doing: this.doing }) };
      try {
        let etag = await this.store.write(LOCK, next, { etag: this.etag });
        if (etag === undefined) {
          // Stored, but its answer was lost and the SDK's retry failed its own condition: still ours.
          const stored = await this.store.read<LockRecord>(LOCK).catch(() => undefined);
          if (stored && stored.value.id === next.id && stored.value.heartbeatAt === next.heartbeatAt) etag = stored.etag;
        }
        if (etag === undefined) {
          const now = await inspectLock(this.store).catch(() => undefined);
          this.lost = now ? `it is now held by ${now.record.holder} (${now.record.command})` : 'it was released by force';
          clearInterval(this.timer);
          this.options.onLost?.(this.lost);
          return;
        }
        this.record = next;
        this.etag = etag;
        if (this.failing) this.options.events?.emit({ type: 'warning', message: `the deploy lock is renewed again (${this.store.url(LOCK)})` });
        this.failing = false;
      } catch (error) {
        // Retried at the next tick; the lock goes stale only after several misses. Said once per streak.
        if (!this.failing) this.options.events?.emit({ type: 'warning', message: `could not renew the deploy lock ${this.store.url(LOCK)} (retrying): ${(error as Error).message}` });
        this.failing = true;
      }
    });
    return this.renewing;
  }

  /** Deletes the lock if it is still this run's. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe();
    await this.renewing;
    if (this.lost) return;
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
