// A FIFO ring buffer: O(1) push and shift at any size, where Array#shift is O(n) on large
// arrays. Capacity is a power of two, doubles when full and halves when three quarters empty,
// so a queue that once held a flood does not keep its peak memory forever.

const MIN_CAPACITY = 16;

export class Ring<T> {
  private slots: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor() {
    this.slots = new Array<T | undefined>(MIN_CAPACITY);
  }

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.slots.length) this.resize(this.slots.length * 2);
    this.slots[(this.head + this.count) & (this.slots.length - 1)] = item;
    this.count++;
  }

  /** Removes and returns the oldest item; undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) & (this.slots.length - 1);
    this.count--;
    if (this.slots.length > MIN_CAPACITY && this.count < this.slots.length >> 2) this.resize(this.slots.length >> 1);
    return item;
  }

  /** The oldest item, left in place; undefined when empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  /** The item `index` places from the oldest (0 is the oldest); undefined past the end. */
  at(index: number): T | undefined {
    return index < this.count ? this.slots[(this.head + index) & (this.slots.length - 1)] : undefined;
  }

  /** Keeps, in order, only the items for which `keep` returns true. O(length). */
  retain(keep: (item: T) => boolean): void {
    const kept: T[] = [];
    for (let i = 0; i < this.count; i++) {
      const item = this.slots[(this.head + i) & (this.slots.length - 1)] as T;
      if (keep(item)) kept.push(item);
    }
    let capacity = MIN_CAPACITY;
    while (capacity < kept.length) capacity *= 2;
    this.slots = new Array<T | undefined>(capacity);
    for (let i = 0; i < kept.length; i++) this.slots[i] = kept[i];
    this.head = 0;
    this.count = kept.length;
  }

  private resize(capacity: number): void {
    const slots = new Array<T | undefined>(capacity);
    for (let i = 0; i < this.count; i++) slots[i] = this.slots[(this.head + i) & (this.slots.length - 1)];
    this.slots = slots;
    this.head = 0;
  }
}
