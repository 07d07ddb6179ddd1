/**
 * A run's footprint in the state bucket: the lock it holds while it may change the fleet, and its
 * history entry. Trouble with the bucket after the lock is taken never fails the run: it is said loudly,
 * with the command that cleans up.
 */
import { hostname } from 'node:os';
import type { EventBus, HostSummary, RunOutcome } from '../rollout/events.ts';
import { recordHistory, type HistoryEntry } from './history.ts';
import { acquireLock, type HeldLock } from './lock.ts';
import type { StateStore } from './store.ts';

export type RunFacts = Omit<HistoryEntry, 'machine' | 'outcome' | 'hosts' | 'finishedAt' | 'ms' | 'exitCode' | 'error'>;

export class RunLedger {
  private held: HeldLock | undefined;
  private started: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: StateStore,
    private readonly facts: RunFacts,
    private readonly events: EventBus,
    /** `--lock-wait`, and the signal that ends a wait (Ctrl-C). */
    private readonly wait: { readonly waitMs?: number; readonly signal?: AbortSignal } = {},
  ) {}

  /** Takes the lock (or throws `LockedError`) and records the run as running; returns the lock's URL. */
  async begin(): Promise<string> {
    const { id, deployer, kind, image, startedAt, build } = this.facts;
    this.held = await acquireLock(this.store, { id, holder: deployer, command: kind === 'rollback' ? 'rollback' : `deploy ${image}`, startedAt, ...(build && { build }) }, { events: this.events, ...this.wait });
    // Written while the run connects; `end` waits for it before writing the outcome over it.
    this.started = this.record({ outcome: 'running', hosts: [] });
    return this.store.url('lock.json');
  }

  /** Records how the run ended and releases the lock; a no-op if the lock was never taken. */
  async end(result: { outcome: RunOutcome; exitCode: number; hosts: readonly HostSummary[]; error?: string }): Promise<void> {
    if (!this.held) return;
    await this.started;
    const finishedAt = new Date();
    await this.record({ ...result, finishedAt: finishedAt.toISOString(), ms: finishedAt.getTime() - Date.parse(this.facts.startedAt) });
    if (this.held.lostBecause) {
      this.events.emit({ type: 'warning', message: `this run lost the deploy lock while it ran: ${this.held.lostBecause}` });
      return;
    }
    try {
      await this.held.release();
    } catch (error) {
      this.events.emit({
        type: 'undo-failed',
        what: `release the deploy lock ${this.store.url('lock.json')}`,
        error: (error as Error).message,
        fix: `baton lock release --force --deployment ${this.store.scope.deployment}`,
      });
    }
  }

  private async record(part: Pick<HistoryEntry, 'outcome' | 'hosts'> & Partial<HistoryEntry>): Promise<void> {
    try {
      await recordHistory(this.store, { ...this.facts, machine: hostname(), ...part });
    } catch (error) {
      this.events.emit({ type: 'warning', message: `could not record this run in ${this.store.url('history/')}: ${(error as Error).message}` });
    }
  }
}
