// Backlog: the scheduler's FIFO of tasks not yet dispatched (its waiters, or its queue).
//
// An entry is a Task, or a plain call kept as its parts: an apply() with no options whose
// arguments are at most two numbers, which is what a burst of small tasks is made of (see the
// top of scheduler.ts). A plain call has no Task while it waits, only its kernel, its
// promise's resolve function and its numbers, in columns of this queue (the numbers unboxed in a
// Float64Array).
//
// Nothing outside refers to a plain call while it waits: it has no signal or timeout to withdraw
// it, so it leaves only from the head, in order (headIsPlain, then takeHead or moveHeadTo), or
// as a Task through shift(), which builds one for it.
//
// Storage is a linked list of fixed-size chunks, so that growing never copies (a burst grows a
// backlog to its full size in one go, and copying the columns on each doubling showed in the JS
// thread's profile), and a drained chunk is kept as a spare or dropped, so a backlog that once
// held a flood does not keep its peak memory.

import type { Runnable } from '../kernels/types.js';
import type { Task } from './task.js';

/** A plain call as it leaves a backlog; one object reused for every call (read it at once). */
export interface PlainCall {
  kernel: Runnable;
  resolve: (value: unknown) => void;
  /** How many of a0, a1 are arguments: 0 to 2. */
  argc: number;
  a0: number;
  a1: number;
  /** When the pool accepted it (TaskTimes.clock); meaningless while it waits in the waiters. */
  acceptedAt: number;
}

/** Builds the Task of a plain call that leaves through shift(). */
export type MakeTask = (call: PlainCall) => Task;

const CHUNK = 256;

class Chunk {
  /** A Task, or a plain call's kernel. */
  readonly items = new Array<Task | Runnable | undefined>(CHUNK);
  /** A plain call's resolve function; undefined for a Task. */
  readonly resolvers = new Array<((value: unknown) => void) | undefined>(CHUNK);
  /** A plain call's number arguments: slots 2i and 2i + 1 for entry i, `argcs[i]` of them used. */
  readonly numbers = new Float64Array(2 * CHUNK);
  readonly argcs = new Uint8Array(CHUNK);
  /** A plain call's acceptance time (see PlainCall.acceptedAt). */
  readonly accepted = new Float64Array(CHUNK);
  next: Chunk | undefined = undefined;
}

export class Backlog {
  // Entries run from head[headAt] to tail[tailAt - 1], following `next`. Both indices are 0,
  // and head === tail, whenever the backlog is empty.
  private head = new Chunk();
  private headAt = 0;
  private tail = this.head;
  private tailAt = 0;
  /** One drained chunk, kept for the next growth. */
  private spare: Chunk | undefined = undefined;
  private count = 0;
  private readonly taken: PlainCall = { kernel: undefined as unknown as Runnable, resolve: undefined as unknown as (value: unknown) => void, argc: 0, a0: 0, a1: 0, acceptedAt: 0 };

  constructor(private readonly makeTask: MakeTask) {}

  get length(): number {
    return this.count;
  }

  push(task: Task): void {
    const chunk = this.slotForPush();
    const at = this.tailAt++;
    chunk.items[at] = task;
    chunk.resolvers[at] = undefined;
  }

  /** Appends a plain call: `kernel` applied to the first `argc` (0 to 2) of a0, a1, accepted at `acceptedAt`. */
  pushPlain(kernel: Runnable, resolve: (value: unknown) => void, argc: number, a0: number, a1: number, acceptedAt: number): void {
    const chunk = this.slotForPush();
    const at = this.tailAt++;
    chunk.items[at] = kernel;
    chunk.resolvers[at] = resolve;
    chunk.argcs[at] = argc;
    chunk.numbers[2 * at] = a0;
    chunk.numbers[2 * at + 1] = a1;
    chunk.accepted[at] = acceptedAt;
  }

  /** True when the oldest entry is a plain call (false when empty). */
  headIsPlain(): boolean {
    return this.count !== 0 && this.head.resolvers[this.headAt] !== undefined;
  }

  /** Removes the oldest entry, a plain call (see headIsPlain), and returns its parts in a reused object. */
  takeHead(): PlainCall {
    const chunk = this.head;
    const at = this.headAt;
    const call = this.taken;
    call.kernel = chunk.items[at] as Runnable;
    call.resolve = chunk.resolvers[at]!;
    call.argc = chunk.argcs[at]!;
    call.a0 = chunk.numbers[2 * at]!;
    call.a1 = chunk.numbers[2 * at + 1]!;
    call.acceptedAt = chunk.accepted[at]!;
    this.dropHead();
    return call;
  }

  /** Moves the oldest entry, a plain call (see headIsPlain), to the end of `to`, still as its parts, accepted at `acceptedAt`. */
  moveHeadTo(to: Backlog, acceptedAt: number): void {
    const call = this.takeHead();
    to.pushPlain(call.kernel, call.resolve, call.argc, call.a0, call.a1, acceptedAt);
  }

  /** Removes and returns the oldest entry as a Task (a plain call gets one now); undefined when empty. */
  shift(): Task | undefined {
    if (this.count === 0) return undefined;
    if (this.headIsPlain()) return this.makeTask(this.takeHead());
    const task = this.head.items[this.headAt] as Task;
    this.dropHead();
    return task;
  }

  /** Keeps, in order, only the Tasks for which `keep` returns true, and every plain call. O(length). */
  retain(keep: (task: Task) => boolean): void {
    let chunk = this.head;
    let at = this.headAt;
    const remaining = this.count;
    this.head = this.tail = new Chunk();
    this.headAt = this.tailAt = 0;
    this.spare = undefined;
    this.count = 0;
    for (let i = 0; i < remaining; i++, at++) {
      if (at === CHUNK) {
        chunk = chunk.next!;
        at = 0;
      }
      const resolve = chunk.resolvers[at];
      if (resolve !== undefined) {
        this.pushPlain(chunk.items[at] as Runnable, resolve, chunk.argcs[at]!, chunk.numbers[2 * at]!, chunk.numbers[2 * at + 1]!, chunk.accepted[at]!);
      } else if (keep(chunk.items[at] as Task)) {
        this.push(chunk.items[at] as Task);
      }
    }
  }

  /** The chunk holding slot tailAt, where the next push goes; links a new tail chunk when the last is full. */
  private slotForPush(): Chunk {
    if (this.tailAt === CHUNK) {
      const next = this.spare ?? new Chunk();
      this.spare = undefined;
      this.tail.next = next;
      this.tail = next;
      this.tailAt = 0;
    }
    this.count++;
    return this.tail;
  }

  /** Forgets the oldest entry, dropping its references; a drained head chunk becomes the spare. */
  private dropHead(): void {
    const chunk = this.head;
    chunk.items[this.headAt] = undefined;
    chunk.resolvers[this.headAt] = undefined;
    this.headAt++;
    this.count--;
    if (this.count === 0) {
      // Empty: start over at the front of the head chunk (head === tail here).
      this.headAt = this.tailAt = 0;
    } else if (this.headAt === CHUNK) {
      this.head = chunk.next!;
      this.headAt = 0;
      chunk.next = undefined;
      this.spare = chunk;
    }
  }
}
