// The worker backend's queue of tasks not yet given to a worker: new tasks at the back, tasks
// coming back (taken back from a worker before they started, or left unstarted by a worker that
// died) ahead of them, since they were dispatched earlier. Both ends O(1) per task, whatever the
// queue's length: tasks come back often (every take-back), and a queue of a flood's tasks must
// not be copied each time.

import { Ring } from '../internal/ring.js';

export class PendingQueue<T> {
  /** Tasks that came back, oldest batch first; served before `back`. */
  private readonly front = new Ring<T>();
  private readonly back = new Ring<T>();

  get length(): number {
    return this.front.length + this.back.length;
  }

  push(item: T): void {
    this.back.push(item);
  }

  /** Puts `items`, in their order, ahead of every task pushed with push(). */
  pushFront(items: readonly T[]): void {
    for (const item of items) this.front.push(item);
  }

  peek(): T | undefined {
    return this.front.length > 0 ? this.front.peek() : this.back.peek();
  }

  shift(): T | undefined {
    return this.front.length > 0 ? this.front.shift() : this.back.shift();
  }
}
