/**
 * Time, as the executor sees it: the time now, and a wait. Everything in a run that waits or measures
 * (health checks, drains, capacity, deadlines, out-of-service times) reads it from the clock it is
 * given, so a test can run a rollout's minutes of waiting on a simulated clock in no time.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts (without throwing: the caller checks it). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** A signal that aborts `ms` from now on `clock`; `cancel` once it is no longer needed (it holds a timer). */
export function deadlineSignal(clock: Clock, ms: number): { signal: AbortSignal; cancel(): void } {
  const timeout = new AbortController();
  const cancelled = new AbortController();
  void clock.sleep(ms, cancelled.signal).then(() => {
    if (!cancelled.signal.aborted) timeout.abort(new DOMException('The operation timed out.', 'TimeoutError'));
  });
  return { signal: timeout.signal, cancel: () => cancelled.abort() };
}
