/**
 * The deploy lock: one object per stack, release and deployment, created only if absent (S3's
 * `If-None-Match: *`), so of two runs starting together exactly one gets it. The holder renews it
 * (`If-Match` on the version it wrote) while it runs, recording what it is doing; a lock nobody renewed
 * for `staleAfter`, or whose process is gone from this very machine, belongs to a run that was killed.
 * Such a lock is reported, never taken over silently: that run may have left a host out of its load
 * balancer, so an operator looks (`baton status`) and releases it (`baton lock release --force`).
 */
import { hostname } from 'node:os';
import { LockedError } from '../errors.ts';
import type { DeployEvent } from '../rollout/events.ts';
import type { StateStore } from './store.ts';

const LOCK = 'lock.json';

export interface LockRecord {
  /** The run's id, shared with its history entry. */
  readonly id: string;
  readonly holder: string;
  readonly machine: string;
  readonly pid: number;
  /** What the run does: `deploy registry/app:v2`, `rollback`. */
  readonly command: string;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  /** What the run was doing when it last renewed the lock. */
  readonly doing?: string;
  /** The CI build, when there is one. */
  readonly build?: string;
  /** The guards the run holds, with the commands that undo them should it die holding them. */
  readonly guards?: readonly { readonly what: string; readonly fix: string }[];
}

export interface LockView {
  readonly record: LockRecord;
  /** When the bucket last heard from the holder. */
  readonly renewedAt: Date;
  /** Why the lock is stale, if it is. */
  readonly stale?: string;
}

export type LockIdentity = Omit<LockRecord, 'heartbeatAt' | 'doing' | 'machine' | 'pid' | 'guards'>;

/** The current lock, if any, with a verdict on whether its holder is still alive. */
export async function inspectLock(store: StateStore, now = Date.now()): Promise<LockView | undefined> {
  const stored = await store.read<LockRecord>(LOCK);
  return stored && view(stored.value, stored.lastModified, store.settings.staleAfter, now);
}

function view(record: LockRecord, renewedAt: Date, staleAfter: number, now: number): LockView {
  const silent = now - renewedAt.getTime();
  let stale: string | undefined;
  if (record.machine === hostname() && !processAlive(record.pid)) stale = `its process (pid ${record.pid} on ${record.machine}) is gone`;
  else if (silent > staleAfter) stale = `it has not been renewed for ${ago(silent)} (state.staleAfter is ${ago(staleAfter)})`;
  return { record, renewedAt, ...(stale && { stale }) };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface AcquireOptions {
  /** The run's events: the lock records what the run is doing, and a wait is announced there. */
  readonly events?: { subscribe(l: (e: DeployEvent) => void): () => void; emit?(e: DeployEvent): void };
  /** How long to wait for a live holder to finish (`--lock-wait`); 0 fails at once. */
  readonly waitMs?: number;
  /** Ends a wait early (Ctrl-C). */
  readonly signal?: AbortSignal;
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
    const record: LockRecord = { ...who, machine: hostname(), pid: process.pid, heartbeatAt: new Date().toISOString() };
    const etag = await store.write(LOCK, record, { absent: true });
    if (etag !== undefined) return new HeldLock(store, record, etag, options.events);
    const current = await inspectLock(store);
    if (!current) continue; // Released between our write and our read: try again.
    if (current.stale || Date.now() >= deadline || options.signal?.aborted) {
      const waited = announced ? ` (waited ${ago(Date.now() - started)} for it)` : '';
      throw new LockedError(`${describeHeld(store, current)}${waited}`);
    }
    if (!announced) {
      announced = true;
      options.events?.emit?.({ type: 'warning', message: `waiting up to ${ago(options.waitMs ?? 0)} for the deploy lock: ${describeHeld(store, current)}` });
    }
    await sleep(Math.min(1_000, Math.max(0, deadline - Date.now())), options.signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** A one-paragraph account of who holds the lock and what to do about it. */
export function describeHeld(store: StateStore, lock: LockView, now = Date.now()): string {
  const r = lock.record;
  const who = `${r.holder} (${r.command}${r.build ? `, build ${r.build}` : ''}; pid ${r.pid} on ${r.machine})`;
  const since = `since ${r.startedAt} (${ago(now - Date.parse(r.startedAt))} ago)`;
  const doing = r.doing ? `, last seen at: ${r.doing}` : '';
  const release = `baton lock release --force --deployment ${store.scope.deployment}`;
  if (lock.stale) {
    return (
      `${store.label} is locked by a run that did not finish: ${who} ${since}${doing}. The lock is stale: ${lock.stale}. ` +
      `That run may have left a host out of its load balancer, Auto Scaling processes suspended or alarms silenced: ` +
      `check with \`baton status --deployment ${store.scope.deployment}\`, then \`${release}\`` +
      leftovers(lock.record)
    );
  }
  return `${store.label} is being deployed by ${who} ${since}${doing}. Wait for it to finish; if that run is gone: \`${release}\``;
}

/** What a dead run held and how to undo it, one command per line; empty when it held nothing. */
export function leftovers(record: LockRecord): string {
  if (!record.guards?.length) return '';
  return `.\nIt held these guards, which it undoes at its end; run what it did not get to:\n${record.guards.map((g) => `  # ${g.what}\n  ${g.fix.split('\n').join('\n  ')}`).join('\n')}`;
}

export class HeldLock {
  private doing: string | undefined;
  private readonly guards: { what: string; fix: string }[] = [];
  private readonly timer: NodeJS.Timeout;
  private renewing: Promise<void> = Promise.resolve();
  private lost: string | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: StateStore,
    private record: LockRecord,
    private etag: string,
    events?: { subscribe(l: (e: DeployEvent) => void): () => void },
  ) {
    this.unsubscribe = events?.subscribe((e) => this.track(e)) ?? (() => undefined);
    // Renew often enough that two missed renewals still leave the lock fresh.
    this.timer = setInterval(() => void this.renew(), Math.max(250, store.settings.staleAfter / 4));
    this.timer.unref();
  }

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
    if (e.type === 'guard') this.guards.push({ what: e.what, fix: e.fix });
    if (e.type === 'guard' || (e.type === 'batch' && e.status === 'started') || (e.type === 'step' && e.scope === 'run' && e.status === 'started')) void this.renew();
  }

  /** Writes a fresh heartbeat, only over the version this run wrote last. */
  renew(): Promise<void> {
    this.renewing = this.renewing.then(async () => {
      if (this.lost) return;
      const next: LockRecord = { ...this.record, heartbeatAt: new Date().toISOString(), ...(this.doing && { doing: this.doing }), ...(this.guards.length && { guards: [...this.guards] }) };
      try {
        const etag = await this.store.write(LOCK, next, { etag: this.etag });
        if (etag === undefined) {
          const now = await inspectLock(this.store).catch(() => undefined);
          this.lost = now ? `it is now held by ${now.record.holder} (${now.record.command})` : 'it was released by force';
          return;
        }
        this.record = next;
        this.etag = etag;
      } catch {
        // A failed renewal is retried at the next tick; the lock goes stale only after several.
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
    const current = await this.store.read<LockRecord>(LOCK);
    if (current?.value.id === this.record.id) await this.store.remove(LOCK);
  }
}

/** `baton lock release --force`: removes whatever lock there is; returns what it removed. */
export async function forceRelease(store: StateStore): Promise<LockView | undefined> {
  const current = await inspectLock(store);
  if (current) await store.remove(LOCK);
  return current;
}

/** 75 s -> "1m15s"; 800 ms -> "0.8s". */
export function ago(ms: number): string {
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m${Math.floor((ms % 60_000) / 1000)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}
