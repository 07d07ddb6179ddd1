/**
 * The run's guards: the changes made before any host leaves service (Auto Scaling processes
 * suspended, alarm actions disabled), each journaled before it is made and undone, newest first, when
 * the run ends, however it ends. The undo has a deadline of its own (timeouts.undo): whatever it
 * cannot undo in time stays open in the journal, with its fix command. A run that lost its lease
 * undoes nothing: the run that holds the lock now owns those changes.
 */
import { describeChange, fixCommand, undoChange, undoStep, type Change, type UndoContext } from '../changes/index.ts';
import { deadlineSignal, type Clock } from '../clock.ts';
import { LeaseLostError } from '../errors.ts';
import type { RunContext } from '../playbook/types.ts';
import type { JournalEntry } from '../state/journal.ts';
import type { EventBus } from '../events/events.ts';
import type { ChangeLog } from './journal-log.ts';

interface Guard {
  readonly change: Change;
  readonly entry: JournalEntry;
}

export class GuardStack {
  private readonly guards: Guard[] = [];

  constructor(
    private readonly journal: ChangeLog,
    private readonly events: EventBus,
    /** What the undo of each guard's kind may use (changes/); its signal is the undo's deadline. */
    private readonly undoing: Omit<UndoContext, 'signal' | 'clock'> & { readonly clock: Clock },
  ) {}

  get size(): number {
    return this.guards.length;
  }

  /** `ctx.guard`: journal the change and say so; the caller makes the change after. Its kind's undo runs at the end. */
  readonly record: RunContext['guard'] = async ({ change }) => {
    this.events.declareNames(change, 'a name in the journal');
    const entry = await this.journal.record(
      change,
      describeChange(change),
      fixCommand(change, this.undoing.config.region),
    );
    this.guards.push({ change, entry });
    this.events.emit({ type: 'guard', what: entry.what, fix: entry.fix });
  };

  /** Undoes every guard, newest first, within `ms`; true when one stays open in the journal. */
  async undoAll(ms: number): Promise<boolean> {
    const limit = deadlineSignal(this.undoing.clock, ms);
    try {
      return await this.undoEach({ ...this.undoing, signal: limit.signal });
    } finally {
      limit.cancel();
    }
  }

  private async undoEach(undoing: UndoContext & { readonly signal: AbortSignal }): Promise<boolean> {
    let failed = false;
    let fenced: LeaseLostError | undefined;
    const leftToThem: string[] = [];
    for (const guard of this.guards.splice(0).reverse()) {
      try {
        if (fenced) throw fenced;
        await this.journal.fence();
        const what = undoStep(guard.change);
        await this.events.step({}, what, () =>
          withDeadline(
            undoChange(guard.change, undoing),
            undoing.signal,
            `${what}: the undo's time limit (timeouts.undo) ran out`,
          ),
        );
        await this.journal.close(guard.entry);
      } catch (error) {
        failed = true;
        if (error instanceof LeaseLostError) {
          fenced = error;
          leftToThem.push(guard.entry.what);
        } else
          this.events.emit({
            type: 'undo-failed',
            what: guard.entry.what,
            error: (error as Error).message,
            fix: guard.entry.fix,
          });
      }
    }
    if (fenced)
      this.events.emit({
        type: 'warning',
        message: `${fenced.message}. Not undone, left to that run: ${leftToThem.join('; ')}`,
      });
    return failed;
  }
}

/** Waits for `work` until `limit` aborts; then gives up with `message` (the work may go on). */
function withDeadline<T>(work: Promise<T>, limit: AbortSignal, message: string): Promise<T> {
  let expire = () => {};
  const expired = new Promise<never>((_, reject) => {
    expire = () => reject(new Error(message));
    if (limit.aborted) expire();
    else limit.addEventListener('abort', expire, { once: true });
  });
  return Promise.race([work, expired]).finally(() => limit.removeEventListener('abort', expire));
}
