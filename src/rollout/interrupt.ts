/**
 * Ctrl-C and SIGTERM, as an operator expects: the first asks the run to stop after the hosts in flight
 * (each finishes or is put back); the second aborts the steps in flight, and the undo still runs.
 */
export interface Interrupt {
  /** True once a stop was asked: no new batch starts. */
  readonly stopRequested: boolean;
  /** Aborted by the second signal: steps in flight stop. */
  readonly signal: AbortSignal;
  /** Aborted by the first: waits between batches (a canary pause, a prompt) end at once. */
  readonly stopSignal: AbortSignal;
}

export class InterruptController implements Interrupt {
  private readonly abort = new AbortController();
  private readonly stop = new AbortController();
  private requests = 0;
  get stopRequested(): boolean {
    return this.requests > 0;
  }
  get signal(): AbortSignal {
    return this.abort.signal;
  }
  get stopSignal(): AbortSignal {
    return this.stop.signal;
  }
  /** Records one interrupt; returns how many there have been. */
  request(): number {
    this.requests++;
    this.stop.abort();
    if (this.requests >= 2) this.abort.abort();
    return this.requests;
  }
}
