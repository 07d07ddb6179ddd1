/**
 * Deadline-bounded polling. Every wait in Baton goes through here, so every wait has a deadline and,
 * when it gives up, says what it was waiting for and what it saw last.
 */
import { systemClock, type Clock } from './clock.ts';
import { InterruptedError, TimeoutError } from './errors.ts';

export interface PollOptions {
  /** What is being waited for, for the timeout message: "i-0abc to be InService in web-elb". */
  what: string;
  timeoutMs: number;
  /** First interval; it grows by `factor` up to `maxIntervalMs`. Short first polls catch fast transitions. */
  intervalMs?: number;
  maxIntervalMs?: number;
  factor?: number;
  signal?: AbortSignal;
  /** Whose time the deadline and the intervals are in (the system's by default). */
  clock?: Clock | undefined;
}

/**
 * Calls `check` until it returns `{ done: true, value }`, then returns the value. `check` reports what it
 * saw (`seen`), which goes into the TimeoutError when the deadline passes.
 */
export async function pollUntil<T>(
  check: () => Promise<{ done: true; value: T } | { done: false; seen: string }>,
  options: PollOptions,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const deadline = started + options.timeoutMs;
  let interval = options.intervalMs ?? 100;
  for (;;) {
    if (options.signal?.aborted) throw new InterruptedError(`interrupted while waiting for ${options.what}`);
    let result: Awaited<ReturnType<typeof check>>;
    try {
      result = await check();
    } catch (error) {
      // A call in flight aborted by the signal: say it was the interrupt, not the call, that failed.
      if (options.signal?.aborted) throw new InterruptedError(`interrupted while waiting for ${options.what}`);
      throw error;
    }
    if (result.done) return result.value;
    const seen = result.seen;
    const left = deadline - clock.now();
    if (left <= 0) throw new TimeoutError(options.what, clock.now() - started, seen);
    await clock.sleep(Math.min(interval, left), options.signal);
    interval = Math.min(interval * (options.factor ?? 1.5), options.maxIntervalMs ?? 2_000);
  }
}

/** A sleep that an AbortSignal cuts short (without throwing: the caller checks the signal). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> => systemClock.sleep(ms, signal);
