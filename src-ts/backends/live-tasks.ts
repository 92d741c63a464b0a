// What both backends keep to honour Backend.close() and terminate(): how many tasks they still
// owe a settle(), and who waits for that number to reach zero.

export class LiveTasks {
  /** Tasks taken and not yet settled. */
  count = 0;
  private waiters: (() => void)[] = [];

  /** One more task taken. */
  add(): void {
    this.count++;
  }

  /** One task settled (call it after its settle() has run); wakes the waiters at zero. */
  done(): void {
    if (--this.count !== 0 || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once no task is left: at once if none is. */
  drained(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
