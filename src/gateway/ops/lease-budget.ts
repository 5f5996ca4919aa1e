/**
 * A connection's budget of lease fetches in flight: the scopes a frame
 * names are fetched concurrently, but one connection never has more than
 * `max` Core calls of its own waiting, however many frames it sends.
 */
export class LeaseBudget {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    // A waiter is handed the finishing call's slot, so `active` never passes `max`.
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next !== undefined) next();
      else this.active--;
    }
  }
}
