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
import { formatDuration, LockedError } from '../errors.ts';
import { clockMark, HeldLock, LOCK, type LeaseOptions } from './lease.ts';
import { sleep } from '../poll.ts';
import type { StateStore } from './store.ts';

export { HeldLock } from './lease.ts';

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

export type LockIdentity = Omit<
  LockRecord,
  | 'heartbeatAt'
  | 'doing'
  | 'machine'
  | 'machineId'
  | 'bootId'
  | 'pidNamespace'
  | 'processStart'
  | 'pid'
  | 'epoch'
  | 'staleAfterMs'
>;

/** The current lock, if any, with a verdict on whether its holder is still alive. */
export async function inspectLock(store: StateStore): Promise<LockView | undefined> {
  const stored = await store.read<LockRecord>(LOCK);
  if (!stored) return undefined;
  const silentMs = Math.max(0, stored.storeNow.getTime() - stored.lastModified.getTime());
  const record = stored.value;
  const staleAfter =
    typeof record.staleAfterMs === 'number' && record.staleAfterMs > 0
      ? record.staleAfterMs
      : store.settings.staleAfter;
  let stale: string | undefined;
  if (provablyGone(record)) stale = `its process (pid ${record.pid} on ${record.machine}) is gone`;
  // S3's Last-Modified and Date have whole seconds: a second more is waited out, so a holder whose
  // lease still runs by its own clock is never judged stale early.
  else if (silentMs > staleAfter + CLOCK_RESOLUTION_MS)
    stale = `it has not been renewed for ${formatDuration(silentMs)} (state.staleAfter is ${formatDuration(staleAfter)})`;
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
  const sameBoot =
    !!here.machineId && !!here.bootId && record.machineId === here.machineId && record.bootId === here.bootId;
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

export interface AcquireOptions extends LeaseOptions {
  /** How long to wait for a live holder to finish (`--lock-wait`); 0 fails at once. */
  readonly waitMs?: number;
  /** Ends a wait early (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/**
 * Takes the lock or throws `LockedError` naming its holder. With `waitMs`, waits for a live holder to
 * finish, polling; a stale lock is never waited for, since its run will not release it.
 */
export async function acquireLock(
  store: StateStore,
  who: LockIdentity,
  options: AcquireOptions = {},
): Promise<HeldLock> {
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
    if (
      current.record.id === record.id &&
      current.record.pid === record.pid &&
      current.record.heartbeatAt === record.heartbeatAt
    ) {
      return new HeldLock(store, current.record, current.etag, options, mark);
    }
    if (current.stale || Date.now() >= deadline || options.signal?.aborted) {
      const waited = announced ? ` (waited ${formatDuration(Date.now() - started)} for it)` : '';
      throw new LockedError(`${describeHeld(store, current)}${waited}`);
    }
    if (!announced) {
      announced = true;
      options.events?.emit({
        type: 'warning',
        message: `waiting up to ${formatDuration(options.waitMs ?? 0)} for the deploy lock: ${describeHeld(store, current)}`,
      });
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

/**
 * Takes over the lock of a run that is gone (`baton recover`, `baton resume`): replaces exactly the
 * stale version read, so a holder that was only slow, and renewed meanwhile, keeps it.
 */
export async function takeOverLock(
  store: StateStore,
  stale: LockView,
  who: LockIdentity,
  options: AcquireOptions = {},
): Promise<HeldLock> {
  const record = lockRecord(who, (stale.record.epoch ?? 1) + 1, store.settings.staleAfter);
  const mark = clockMark();
  let etag = await store.write(LOCK, record, { etag: stale.etag });
  if (etag === undefined) {
    // Stored, but its answer was lost (the SDK's retry then failed its own condition): still ours.
    const now = await store.read<LockRecord>(LOCK).catch(() => undefined);
    if (now && now.value.id === record.id && now.value.heartbeatAt === record.heartbeatAt) etag = now.etag;
  }
  if (etag === undefined)
    throw new LockedError(
      `${store.label}: the lock changed while taking it over (its holder may be alive): look again with \`baton lock status --deployment ${store.scope.deployment}\``,
    );
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
 * `baton lock release --force`: removes the lock as it was read, never a newer one (a run that renewed
 * or took it meanwhile keeps it); returns what it removed.
 */
export async function forceRelease(store: StateStore): Promise<LockView | undefined> {
  const current = await inspectLock(store);
  if (!current) return undefined;
  if (!(await store.remove(LOCK, current.etag)))
    throw new LockedError(
      `${store.label}: the lock changed while releasing it (its holder renewed it, or another run took it): look again with \`baton lock status --deployment ${store.scope.deployment}\``,
    );
  return current;
}
