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
// Ownership: the pool's thread writes token(seq) (offer) and takes back (token -> 0); the worker
// only claims (token -> -token) and finishes (-token -> done). The pool may offer seq only while
// no earlier task in the same cell (seq - SLOTS, ...) is still unanswered and not taken back: it
// keeps the span between its oldest such task and its next sequence number below SLOTS. The
// worker claims in sequence order (it may finish in any order: several tasks may be in flight)
// and finishes a task before its reply leaves, so a cell is never reused before it is done.

/** Cells per worker; more than any worker ever holds (see WorkerBackend's depth()). */
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

export class ClaimTable {
  readonly cells: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(CLAIM_SLOTS * Int32Array.BYTES_PER_ELEMENT)) {
    this.cells = new Int32Array(buffer);
  }

  get buffer(): SharedArrayBuffer {
    return this.cells.buffer as SharedArrayBuffer;
  }

  /** Pool: task seq is about to be posted. Before the post, so the worker always finds it. */
  offer(seq: number): void {
    Atomics.store(this.cells, seq & CLAIM_MASK, token(seq));
  }

  /** Pool: takes task seq back if the worker has not claimed it. True: the worker will never run it. */
  takeBack(seq: number): boolean {
    const t = token(seq);
    return Atomics.compareExchange(this.cells, seq & CLAIM_MASK, t, 0) === t;
  }

  /** Pool, once the worker is gone: whether it had claimed task seq (started it, and maybe finished it). */
  wasClaimed(seq: number): boolean {
    const cell = Atomics.load(this.cells, seq & CLAIM_MASK);
    return cell === -token(seq) || cell === done(seq);
  }

  /** Pool: whether task seq is claimed and not finished: the worker is running it. */
  isRunning(seq: number): boolean {
    return Atomics.load(this.cells, seq & CLAIM_MASK) === -token(seq);
  }

  /** Pool: whether the worker finished task seq (it has the outcome; the reply may not have left). */
  wasFinished(seq: number): boolean {
    return Atomics.load(this.cells, seq & CLAIM_MASK) === done(seq);
  }

  /** Worker: claims task seq before running it. False: the pool took it back; skip it. */
  claim(seq: number): boolean {
    const t = token(seq);
    return Atomics.compareExchange(this.cells, seq & CLAIM_MASK, t, -t) === t;
  }

  /** Worker: task seq, which it claimed, has its outcome. Before its reply is posted. */
  finish(seq: number): void {
    Atomics.store(this.cells, seq & CLAIM_MASK, done(seq));
  }
}
