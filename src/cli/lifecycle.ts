/**
 * Every way a run can be asked to end, routed to the interrupt, so the undo always runs:
 * - SIGINT (Ctrl-C), SIGTERM (a CI agent cancelling) and SIGHUP (the operator's SSH session to the jump
 *   host dropped): the first finishes or puts back the hosts in flight and stops; a second aborts them.
 * - stdout or stderr closed under us (EPIPE from `| head`, EIO from a terminal that is gone): that
 *   stream goes quiet for good, so no renderer can crash the run, and the run stops as for a signal.
 * - an uncaught exception or unhandled rejection somewhere: reported, then the run aborts its steps in
 *   flight and undoes, rather than dying with the fleet half-changed.
 */
import type { EventBus } from '../events/events.ts';
import type { InterruptController } from '../rollout/interrupt.ts';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function guardProcess(interrupt: InterruptController, events: EventBus): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    const count = interrupt.request();
    events.emit({
      type: 'warning',
      message:
        count === 1
          ? `${describe(signal)}: finishing the hosts in flight, then stopping (Ctrl-C again to abort them; guards are undone either way)`
          : `${describe(signal)} again: aborting the steps in flight; hosts are put back and guards undone`,
    });
  };
  const quieted = new Set<NodeJS.WriteStream>();
  const onOutputError = (stream: NodeJS.WriteStream, name: string) => (error: NodeJS.ErrnoException) => {
    if (quieted.has(stream)) return;
    quieted.add(stream);
    silence(stream);
    if (interrupt.stopRequested) return;
    interrupt.request();
    // Said where it can still be read: the run now stops and undoes with nobody watching its progress.
    const message = `${name} is closed (${error.code ?? error.message}): stopping after the hosts in flight and undoing the guards`;
    if (stream === process.stdout && !quieted.has(process.stderr)) process.stderr.write(`baton: ${message}\n`);
    else events.emit({ type: 'warning', message });
  };
  const onCrash = (error: unknown) => {
    events.emit({
      type: 'warning',
      message: `internal error, aborting and undoing: ${(error as Error)?.stack ?? String(error)}`,
    });
    interrupt.request();
    interrupt.request();
  };
  const outHandler = onOutputError(process.stdout, 'standard output');
  const errHandler = onOutputError(process.stderr, 'standard error');
  for (const s of SIGNALS) process.on(s, onSignal);
  process.stdout.on('error', outHandler);
  process.stderr.on('error', errHandler);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  return () => {
    for (const s of SIGNALS) process.off(s, onSignal);
    // The output handlers stay: a pipe may close while the last lines are written.
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  };
}

function describe(signal: NodeJS.Signals): string {
  if (signal === 'SIGINT') return 'interrupted';
  if (signal === 'SIGHUP') return 'the terminal hung up (SIGHUP)';
  return `asked to stop (${signal})`;
}

/** A stream that can no longer be written: every later write is dropped instead of throwing. */
function silence(stream: NodeJS.WriteStream): void {
  stream.write = ((_chunk: unknown, encoding?: unknown, callback?: unknown) => {
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  }) as typeof stream.write;
}
