// Who runs a task posted to a worker: that worker, or (if the pool took it back first) another.
//
// The worker backend posts tasks to a worker ahead of time, so that a burst of small tasks
// costs one message per batch. A task posted to a worker that then gets stuck in a slow task
// must not wait there while another worker is idle, so the pool may take back any posted task
// that has not started. Both threads can act on the same task at the same moment; this table
// decides, with one compare-and-swap on shared memory, which one wins. Exactly one does.
//
// One Int32 cell per task, at index seq & CLAIM_MASK, where seq is the task's sequence number on its
// worker (1, 2, 3, ... in posting order). The cell holds:
//   token(seq)    posted, unclaimed: the pool wrote it before posting the task;
//   -token(seq)   claimed by the worker, which is running it: the pool may not take it back;
//   done(seq)     claimed and finished: the worker has its outcome (its reply may not be sent yet);
//   anything else the pool took it back (0), or the cell now belongs to a later task.
// A claim or a take-back succeeds only from exactly token(seq), so a cell reused for task
// seq + SLOTS can never be mistaken for task seq: a worker reaching a task the pool took back
// finds another value there and skips it.
//
// A finished task whose result is a primitive (a number, a boolean, undefined or null) also
// leaves that result beside its cell (`values`, `kinds`), written before the cell turns done(seq),
// so the pool can read it after the worker is gone: a worker killed to stop another task, or
// crashed by one, would otherwise take a finished task's held-back reply with it. Such replies
// may then be held back to share a message; any other must leave before the worker starts its
// next task (worker-entry.ts).
//
// Ownership: the pool's thread writes token(seq) (offer) and takes back (token -> 0); the worker
// only claims (token -> -token) and finishes (-token -> done). The pool may offer seq only while
// no earlier task in the same cell (seq - SLOTS, ...) is still unanswered and not taken back: it
// skips a sequence number whose cell is held (WorkerSlot.nextFreeSeq), so one long task pins
// its own cell and nothing else. The worker claims in sequence order (it may finish in any order: several tasks may be in flight)
// and finishes a task before its reply leaves, so a cell is never reused before it is done.

// Taken when this module loads, before any task's module: a task that rewrites Atomics in its
// worker must not turn every later claim into a silent skip (its calls would never settle).
const { load, store, compareExchange } = Atomics;

/** Cells per worker: the most tasks a worker may hold unanswered at once (WorkerSlot.room()). */
export const CLAIM_SLOTS = 1024;
export const CLAIM_MASK = CLAIM_SLOTS - 1;
/** Tokens are positive Int32s; sequence numbers wrap around here, far beyond any span. */
const TOKEN_RANGE = 0x3fffffff;

function token(seq: number): number {
  return (seq % TOKEN_RANGE) + 1;
}

/** A finished task's cell: negative like a claim, and outside the range of -token. */
function done(seq: number): number {
  return -(token(seq) + TOKEN_RANGE);
}

/** What `kinds` says of a finished task's recorded result. */
const enum Kept {
  /** No result kept: the reply carries it. */
  None = 0,
  Number = 1,
  True = 2,
  False = 3,
  Undefined = 4,
  Null = 5,
}

/** The buffer: the cells (Int32), then the kept results' values (Float64), then their kinds (Uint8). */
const CELLS_BYTES = CLAIM_SLOTS * Int32Array.BYTES_PER_ELEMENT;
const VALUES_BYTES = CLAIM_SLOTS * Float64Array.BYTES_PER_ELEMENT;
const TABLE_BYTES = CELLS_BYTES + VALUES_BYTES + CLAIM_SLOTS;

/** A finished task's result, read back by the pool: `kept` false when the table has none. */
export interface KeptResult {
  kept: boolean;
  value: number | boolean | undefined | null;
}

export class ClaimTable {
  readonly cells: Int32Array;
  /** A finished task's primitive result, at its cell's index: a number, or 0 for the other kinds. */
  private readonly values: Float64Array;
  private readonly kinds: Uint8Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(TABLE_BYTES)) {
    this.cells = new Int32Array(buffer, 0, CLAIM_SLOTS);
    this.values = new Float64Array(buffer, CELLS_BYTES, CLAIM_SLOTS);
    this.kinds = new Uint8Array(buffer, CELLS_BYTES + VALUES_BYTES, CLAIM_SLOTS);
  }

  get buffer(): SharedArrayBuffer {
    return this.cells.buffer as SharedArrayBuffer;
  }

  /** Pool: task seq is about to be posted. Before the post, so the worker always finds it. */
  offer(seq: number): void {
    store(this.cells, seq & CLAIM_MASK, token(seq));
  }

  /** Pool: takes task seq back if the worker has not claimed it. True: the worker will never run it. */
  takeBack(seq: number): boolean {
    const t = token(seq);
    return compareExchange(this.cells, seq & CLAIM_MASK, t, 0) === t;
  }

  /** Pool, once the worker is gone: whether it had claimed task seq (started it, and maybe finished it). */
  wasClaimed(seq: number): boolean {
    const cell = load(this.cells, seq & CLAIM_MASK);
    return cell === -token(seq) || cell === done(seq);
  }

  /** Pool: whether task seq is claimed and not finished: the worker is running it. */
  isRunning(seq: number): boolean {
    return load(this.cells, seq & CLAIM_MASK) === -token(seq);
  }

  /** Pool: whether the worker finished task seq (it has the outcome; the reply may not have left). */
  wasFinished(seq: number): boolean {
    return load(this.cells, seq & CLAIM_MASK) === done(seq);
  }

  /** Worker: claims task seq before running it. False: the pool took it back; skip it. */
  claim(seq: number): boolean {
    const t = token(seq);
    return compareExchange(this.cells, seq & CLAIM_MASK, t, -t) === t;
  }

  /**
   * Worker: task seq, which it claimed, has its outcome. Before its reply is posted. With
   * `result` (when `keep` is true and it is a primitive), the result is kept here too, for the
   * pool to read should the worker die before the reply leaves. Returns whether it was kept.
   */
  finish(seq: number, keep = false, result?: unknown): boolean {
    const i = seq & CLAIM_MASK;
    const kind = keep ? keptKind(result) : Kept.None;
    this.values[i] = kind === Kept.Number ? (result as number) : 0;
    this.kinds[i] = kind;
    // The store publishes the two writes above to a pool that reads done(seq) (Atomics order them).
    store(this.cells, i, done(seq));
    return kind !== Kept.None;
  }

  /** Pool, once the worker is gone: the result task seq finished with, if the table kept it. */
  keptResult(seq: number): KeptResult {
    const i = seq & CLAIM_MASK;
    if (load(this.cells, i) !== done(seq)) return { kept: false, value: undefined };
    switch (this.kinds[i] as Kept) {
      case Kept.Number:
        return { kept: true, value: this.values[i]! };
      case Kept.True:
        return { kept: true, value: true };
      case Kept.False:
        return { kept: true, value: false };
      case Kept.Undefined:
        return { kept: true, value: undefined };
      case Kept.Null:
        return { kept: true, value: null };
      default:
        return { kept: false, value: undefined };
    }
  }
}

function keptKind(result: unknown): Kept {
  switch (typeof result) {
    case 'number':
      return Kept.Number;
    case 'boolean':
      return result ? Kept.True : Kept.False;
    case 'undefined':
      return Kept.Undefined;
    default:
      return result === null ? Kept.Null : Kept.None;
  }
}
