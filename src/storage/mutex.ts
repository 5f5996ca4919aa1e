/**
 * A FIFO async mutex (a promise queue). The KSI interface is async while its
 * transactions must not interleave: better-sqlite3 has one connection per
 * database, so two `tx` calls whose awaits interleaved would share one SQL
 * transaction. PostgreSQL uses it too, so that both engines behave alike
 * within one process (and serialization retries become rare).
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs fn once every earlier call has settled; its result passes through. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
