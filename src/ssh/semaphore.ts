/** Bounds concurrent channels on one connection (sshd's MaxSessions counts them, default 10). */
export class Semaphore {
  private readonly waiting: (() => void)[] = [];
  private free: number;
  constructor(size: number) {
    this.free = Math.max(1, Math.floor(size));
  }

  /** Resolves with the function that gives the slot back (once; later calls do nothing). */
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
