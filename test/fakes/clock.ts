/**
 * A simulated clock for executor tests: time stands still while anything can still run, and jumps to
 * the next sleeper's wake-up once everything else is waiting. A health check that times out after
 * 2 s, a capacity wait of a minute or an undo's deadline take no real time, and happen in the order
 * their times say. Only for code whose other waits are fakes answering at once (no real I/O): an
 * answer that takes real time could be overtaken by a jump.
 */
import type { Clock } from '../../src/clock.ts';

export interface SimulatedClock extends Clock {
  /** Milliseconds simulated since it was made. */
  elapsed(): number;
}

export function simulatedClock(start = Date.parse('2026-01-01T00:00:00Z')): SimulatedClock {
  let now = start;
  const sleepers = new Set<{ readonly at: number; wake(): void }>();
  let pending = false;

  /** Wakes the earliest sleepers, once the work the last wake-up started has settled. */
  const advanceLater = () => {
    if (pending) return;
    pending = true;
    // Two turns of the event loop: every promise chain the fakes start settles within them.
    setImmediate(() =>
      setImmediate(() => {
        pending = false;
        if (!sleepers.size) return;
        now = Math.max(now, Math.min(...[...sleepers].map((s) => s.at)));
        for (const s of [...sleepers]) if (s.at <= now) s.wake();
        advanceLater();
      }),
    );
  };

  return {
    now: () => now,
    elapsed: () => now - start,
    sleep: (ms, signal) =>
      new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        const sleeper = { at: now + Math.max(0, ms), wake };
        function wake() {
          sleepers.delete(sleeper);
          signal?.removeEventListener('abort', wake);
          resolve();
        }
        sleepers.add(sleeper);
        signal?.addEventListener('abort', wake, { once: true });
        advanceLater();
      }),
  };
}
