import { describe, expect, it } from 'vitest';
import { simulatedClock } from '../test/fakes/clock.ts';
import { deadlineSignal } from './clock.ts';

describe('a clock', () => {
  it('wakes sleepers in the order of their times, simulated: a minute passes in no time', async () => {
    const clock = simulatedClock();
    const woke: string[] = [];
    await Promise.all([
      clock.sleep(60_000).then(() => woke.push(`a at ${clock.elapsed()}`)),
      clock.sleep(500).then(() => woke.push(`b at ${clock.elapsed()}`)),
      clock
        .sleep(500)
        .then(() => clock.sleep(1_000))
        .then(() => woke.push(`c at ${clock.elapsed()}`)),
    ]);
    expect(woke).toEqual(['b at 500', 'c at 1500', 'a at 60000']);
  });

  it('wakes a sleeper at once when its signal aborts', async () => {
    const clock = simulatedClock();
    const stop = new AbortController();
    const slept = clock.sleep(10_000, stop.signal);
    stop.abort();
    await slept;
    expect(clock.elapsed()).toBe(0);
  });

  it('gives a deadline signal that aborts at its time and not before, or never once cancelled', async () => {
    const clock = simulatedClock();
    const limit = deadlineSignal(clock, 5_000);
    const cancelled = deadlineSignal(clock, 1_000);
    cancelled.cancel();
    await clock.sleep(4_999);
    expect(limit.signal.aborted).toBe(false);
    await clock.sleep(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(limit.signal.aborted).toBe(true);
    expect((limit.signal.reason as Error).name).toBe('TimeoutError');
    expect(cancelled.signal.aborted).toBe(false);
  });
});
