// Lock: a mutual-exclusion lock in shared memory, usable from the main thread and from
// worker_threads alike (the analogue of Python's multiprocessing.Lock).
//
// The lock is one Int32 word, futex style:
//
//   0            free
//   n > 0        held by the thread whose owner id is n (worker_threads.threadId + 1, so the
//                main thread is 1 and no thread is ever 0)
//
// acquire:  compareExchange(word, 0, self); on failure sleep in Atomics.wait(word, seenValue)
//           and try again. Waiting on the value that was seen makes the sleep race-free: if
//           the word changed in between, the wait returns 'not-equal' at once.
// acquireAsync: the same, except that a thread's waiting calls queue in JS behind one poller
//           that sleeps in Atomics.waitAsync for all of them (see pollForWaiters, at the end).
// release:  compareExchange(word, self, 0), then Atomics.notify(word) waking every sleeper.
//
// No wake-up is ever lost, because a release wakes every sleeper rather than one: the sleepers
// race for the word and the losers sleep again on the new holder, whose own release wakes them.
// Waking one would be enough only if the woken waiter were sure to act on it, and it is not: an
// acquireAsync() of a thread that is busy, blocked in a synchronous acquire(), or about to be
// terminated holds its wake-up without running, and a blocking waiter behind it would sleep on a
// free lock (for ever, without a timeout). A woken sleeper always tries the word again before it
// looks at its deadline. The price is a stampede per release when many threads wait, and no
// fairness: the lock goes to whichever waiter gets there first, as with a pthread mutex.
// Workers that cannot import this module follow the same two rules with plain Atomics on the
// same word (as test/fixtures/shared-state-worker.mjs does).
//
// Native threads cannot take part: V8's Atomics.wait/notify keep their own list of waiters,
// which an OS futex does not reach.
//
// Buffer layout of a standalone Lock (128 bytes):
//
//   byte 0    Int32  LOCK_TAG, naming the buffer's kind for Lock.from()
//   byte 64   Int32  the lock word, alone in its 64-byte cache line
//
// A SharedValue carries its lock word at the same offset (64) in its own buffer, tagged
// VALUE_TAG, so Lock.from(buffer) revives either one's lock with the default byteOffset.

import { isInt32Array, isSharedArrayBuffer } from 'node:util/types';
import { brand, fixedOwn, isSharedInstance, isViewAt, registerShape, sharedSize } from './brand.js';
import { threadId } from 'node:worker_threads';
import { TimeoutError } from '../errors.js';
import { describe } from '../kernels/args.js';
import { Ring } from '../internal/ring.js';

const BYTES = 128;
/** @internal Where the lock word lives in a Lock's buffer and in a SharedValue's buffer. */
export const LOCK_WORD_OFFSET = 64;
/** @internal Int32 tags at byte 0 of spindle's shared buffers ('SPN' + a kind number). */
export const LOCK_TAG = 0x53504e02;
/** @internal See LOCK_TAG. A SharedValue's buffer: its lock word is at LOCK_WORD_OFFSET too. */
export const VALUE_TAG = 0x53504e03;

const FREE = 0;
/** Owner ids must stay positive Int32s; threadIds beyond 2^31 - 2 would need ~2 billion workers. */
const SELF = (threadId % 0x7fff_fffe) + 1;
/** A keep-alive interval only needs to exist, not to fire: ~12 days, within setInterval's limit. */
const KEEP_ALIVE_PERIOD_MS = 2 ** 30;

/** Atomics.waitAsync (Node >= 16), typed here because the ES2023 lib predates it. */
const atomicsWaitAsync = (Atomics as unknown as {
  waitAsync(word: Int32Array, index: number, expected: number, timeoutMs: number):
    | { async: false; value: 'not-equal' | 'timed-out' }
    | { async: true; value: Promise<'ok' | 'timed-out'> };
}).waitAsync;

/**
 * A lock operation broke the ownership rules: release() by a thread that does not hold the
 * lock, release() of a free lock, or a blocking acquire() by the thread that holds the lock,
 * which nothing could ever wake.
 */
export class LockOwnershipError extends Error {
  override name = 'LockOwnershipError';
  constructor(message: string) {
    super(message);
  }
}

/**
 * A mutual-exclusion lock in a SharedArrayBuffer: the same lock on the main thread and in every
 * worker it is sent to (send `lock.buffer` and `lock.byteOffset`, revive with `Lock.from`).
 *
 * Ownership is per thread: only the thread that acquired the lock may release it (a thread
 * cannot tell its own async flows apart, so any of them may). The lock is not re-entrant: a
 * blocking `acquire()` by the holder throws a {@link LockOwnershipError} instead of
 * deadlocking. `acquireAsync()`/`withLock()` by the holding thread wait instead, because
 * another async flow of that thread may hold the lock and release it later; nesting `withLock`
 * on the same lock therefore waits forever (as with asyncio.Lock).
 *
 * A lock held by a worker that dies stays held: no thread can tell a dead owner from a slow
 * one. Waiters that pass a timeout get `false` instead of hanging; `forceRelease()` is the
 * recovery tool once the owner is known to be gone.
 */
export class Lock {
  /** The brand that another module sends alongside `buffer` to revive the lock with {@link Lock.from}. */
  static readonly kind = 'Lock';

  /** The shared memory holding the lock word: a Lock's own buffer or a SharedValue's. */
  declare readonly buffer: SharedArrayBuffer;
  /** Byte offset of the lock word in `buffer` (64 for a standalone Lock and for a SharedValue's lock). */
  declare readonly byteOffset: number;
  private declare readonly word: Int32Array;

  /** Creates a free lock in a buffer of its own, padded to a whole cache line. */
  constructor() {
    const buffer = new SharedArrayBuffer(BYTES);
    new Int32Array(buffer)[0] = LOCK_TAG;
    attach(this, buffer, LOCK_WORD_OFFSET);
  }

  /**
   * Revives a lock from its shared memory: the same lock, not a copy. With the default
   * `byteOffset` the buffer must be a Lock's or a SharedValue's (whose lock it then is). With an
   * explicit `byteOffset`, any 4-byte-aligned Int32 of any SharedArrayBuffer can serve as a lock
   * word, as long as every thread using it goes through Lock (or the same protocol).
   */
  /** True for a Lock from any copy of spindle loaded in this thread (see brand.ts). */
  static [Symbol.hasInstance](value: unknown): boolean {
    return isSharedInstance(this, Lock, 'Lock', value);
  }

  static from(buffer: SharedArrayBuffer, byteOffset?: number): Lock {
    if (!isSharedArrayBuffer(buffer)) { // not instanceof: see SharedCounter.from
      throw new TypeError(`Lock.from: buffer must be a SharedArrayBuffer, got ${describe(buffer)}`);
    }
    if (byteOffset === undefined) {
      const tag = sharedSize(buffer) === BYTES ? new Int32Array(buffer, 0, 1)[0] : undefined;
      if (tag !== LOCK_TAG && tag !== VALUE_TAG) {
        throw new TypeError('Lock.from: buffer is not the buffer of a Lock or a SharedValue; pass the byteOffset of the lock word to use another buffer');
      }
      byteOffset = LOCK_WORD_OFFSET;
    } else {
      if (typeof byteOffset !== 'number') throw new TypeError(`Lock.from: byteOffset must be a number, got ${describe(byteOffset)}`);
      const bytes = sharedSize(buffer);
      if (bytes < 4) throw new RangeError(`Lock.from: buffer holds ${bytes} bytes, too few for a lock word (4)`);
      if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0 || byteOffset + 4 > bytes) {
        throw new RangeError(`Lock.from: byteOffset must be a multiple of 4 in [0, ${bytes - 4}], got ${byteOffset}`);
      }
    }
    const lock = Object.create(Lock.prototype) as Lock;
    attach(lock, buffer, byteOffset);
    return lock;
  }

  /** Whether some thread (this one included) holds the lock right now. A snapshot: it may change at once. */
  get held(): boolean {
    return Atomics.load(this.word, 0) !== FREE;
  }

  /**
   * Acquires the lock, blocking the thread in `Atomics.wait` while another thread holds it.
   * Returns true once acquired, or false if `timeoutMs` passed first (0 = try once; the default
   * waits forever).
   *
   * On Node's main thread this works but blocks the event loop for as long as it waits: prefer
   * {@link acquireAsync} or {@link withLock} there. (Browsers forbid Atomics.wait on the main
   * thread altogether.) Rather than block for ever, it throws a {@link LockOwnershipError} if this
   * thread already holds the lock (it is not re-entrant). With `timeoutMs` 0 it never blocks, so
   * never throws for that: it returns false, like Python's `acquire(blocking=False)`. An
   * `acquireAsync()` of this thread that waits for the same lock meanwhile is no obstacle: the
   * holder's release wakes every waiter, this one included.
   */
  acquire(timeoutMs: number = Infinity): boolean {
    const deadline = deadlineOf(timeoutMs, 'Lock.acquire');
    let seen = Atomics.compareExchange(this.word, 0, FREE, SELF);
    if (seen === FREE) return true;
    for (;;) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) return false;
      // Past this point the thread blocks, which must not be for a wake-up that cannot come.
      if (seen === SELF) {
        throw new LockOwnershipError('Lock.acquire: the lock is already held by this thread (it is not re-entrant; if another async flow on this thread holds it, use acquireAsync or withLock)');
      }
      Atomics.wait(this.word, 0, seen, remaining);
      // Try again before looking at the clock: a wake-up must not be swallowed (see top of file).
      seen = Atomics.compareExchange(this.word, 0, FREE, SELF);
      if (seen === FREE) return true;
    }
  }

  /**
   * Acquires the lock without blocking the thread: the returned promise resolves to true once
   * the lock is held, or to false if `timeoutMs` passed first (0 = try once; the default waits
   * forever). Built on `Atomics.waitAsync`; while it waits it keeps the event loop alive, as a
   * pending timer would. This thread's waiting calls get the lock in the order they came (see
   * pollForWaiters); against other threads there is no order. If another async flow on this
   * same thread holds the lock, this waits for its release.
   */
  async acquireAsync(timeoutMs: number = Infinity): Promise<boolean> {
    const deadline = deadlineOf(timeoutMs, 'Lock.acquireAsync');
    // Behind this thread's waiting calls, not ahead of them: the word is free for a moment after
    // each release, before the poller's wake-up runs, and a flow that took the lock again at once
    // (withLock in a loop) barged past a waiting one every time, starving it to the loop's end.
    // A try (timeout 0) still just tries, as it cannot wait its turn.
    const queued = queuedWaiters(this);
    if ((queued === undefined || queued.live === 0 || timeoutMs === 0) && Atomics.compareExchange(this.word, 0, FREE, SELF) === FREE) return true;
    if (timeoutMs === 0) return false;
    const waiters = queued ?? asyncWaitersOf(this);
    const acquired = new Promise<boolean>((resolve) => {
      const waiter: AsyncWaiter = { resolve, timer: undefined, settled: false };
      // Its timer also keeps the event loop alive while it waits: a pending waitAsync does not.
      waiter.timer = timeoutMs === Infinity ? setInterval(noop, KEEP_ALIVE_PERIOD_MS) : setTimeout(waiterTimerFired, Math.min(timeoutMs, MAX_TIMER_MS), waiters, waiter, deadline);
      waiters.queue.push(waiter);
      waiters.live++;
    });
    if (!waiters.polling) void pollForWaiters(this.word, waiters);
    return acquired;
  }

  /**
   * Releases the lock and wakes every waiter (see the top of this file for why not one). Throws a {@link LockOwnershipError} if the lock is
   * free or held by another thread: releasing someone else's lock would let two threads in.
   */
  release(): void {
    const seen = Atomics.compareExchange(this.word, 0, SELF, FREE);
    if (seen === SELF) {
      Atomics.notify(this.word, 0);
      return;
    }
    if (seen === FREE) throw new LockOwnershipError('Lock.release: the lock is not held');
    throw new LockOwnershipError(`Lock.release: the lock is held by another thread (owner id ${seen}, this thread is ${SELF})`);
  }

  /**
   * Runs `fn` while holding the lock: acquires with {@link acquireAsync}, awaits `fn`, and
   * releases in all cases, even when `fn` throws (the error is rethrown). Resolves to `fn`'s
   * result. Rejects with a TimeoutError, without calling `fn`, if `timeoutMs` passes before
   * the lock is acquired.
   */
  async withLock<R>(fn: () => R | PromiseLike<R>, timeoutMs: number = Infinity): Promise<Awaited<R>> {
    if (typeof fn !== 'function') throw new TypeError(`Lock.withLock: fn must be a function, got ${describe(fn)}`);
    deadlineOf(timeoutMs, 'Lock.withLock'); // checked here, so a bad timeout is named as withLock's
    if (!(await this.acquireAsync(timeoutMs))) {
      throw new TimeoutError(`Lock.withLock: the lock was not acquired within ${timeoutMs} ms`);
    }
    let result: Awaited<R>;
    try {
      result = await fn();
    } catch (error) {
      // fn's own error is the one to report: a release that fails too (fn force-released the
      // lock) must not replace it.
      try {
        this.release();
      } catch {
        // see above
      }
      throw error;
    }
    this.release();
    return result;
  }

  /**
   * Frees the lock whoever holds it, and wakes every waiter; returns whether it was held. This is
   * the recovery tool for a lock whose owner died while holding it (a crashed worker), which no
   * thread could otherwise release. Calling it while a live thread holds the lock breaks mutual
   * exclusion, and that thread's own release() will then throw.
   */
  forceRelease(): boolean {
    const previous = Atomics.exchange(this.word, 0, FREE);
    Atomics.notify(this.word, 0);
    return previous !== FREE;
  }
}

// A lock is what attach() makes: its word the Int32 at byteOffset of a SharedArrayBuffer.
registerShape('Lock', (value) => {
  const buffer = fixedOwn(value, 'buffer');
  const byteOffset = fixedOwn(value, 'byteOffset');
  const word = fixedOwn(value, 'word');
  return isSharedArrayBuffer(buffer) && typeof byteOffset === 'number' && isInt32Array(word) && isViewAt(word, buffer, byteOffset, 4);
});

function attach(lock: Lock, buffer: SharedArrayBuffer, byteOffset: number): void {
  brand(lock, 'Lock');
  Object.defineProperty(lock, 'buffer', { value: buffer, enumerable: true });
  Object.defineProperty(lock, 'byteOffset', { value: byteOffset, enumerable: true });
  Object.defineProperty(lock, 'word', { value: new Int32Array(buffer, byteOffset, 1) });
}

function deadlineOf(timeoutMs: unknown, method: string): number {
  if (typeof timeoutMs !== 'number') throw new TypeError(`${method}: timeoutMs must be a number, got ${describe(timeoutMs)}`);
  if (!(timeoutMs >= 0)) throw new RangeError(`${method}: timeoutMs must be >= 0 (Infinity waits forever), got ${timeoutMs}`);
  return performance.now() + timeoutMs;
}

// ---- acquireAsync(): one poller per thread and lock word -----------------------------------
//
// A thread's acquireAsync() calls on one lock queue up in this thread (first come, first
// served), and one poller waits on the word for all of them with a single Atomics.waitAsync of
// no timeout. Each waiting call waiting on the word itself would make every release (which wakes
// all waiters) wake each of them, to retry and wait again: W^2 wake-ups to serve W calls. And a
// waitAsync with a timeout costs memory until that timeout passes even when a notify ends it
// early (V8 keeps its timeout task): a contended lock waited for with timeouts grew by tens of
// kilobytes a call. So the calls' timeouts are plain timers, and the poller never times out.
//
// Invariants: `live` counts the queue's unsettled waiters; a waiter settles once (by the poller,
// acquired, or by its timer, not); the poller runs while `live` > 0 and exits at its next wake
// once it is 0. A poller left waiting on a lock nobody releases keeps nothing alive.

interface AsyncWaiter {
  resolve: (acquired: boolean) => void;
  /** Its timeout, or a keep-alive interval when it waits for ever. */
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
}

class AsyncWaiters {
  /** Waiters in arrival order; settled ones (timed out) are skipped when the lock is handed on. */
  queue = new Ring<AsyncWaiter>();
  live = 0;
  polling = false;
}

/** setTimeout's longest delay; a longer timeout re-arms its timer until the deadline. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * This thread's waiters per lock word (buffer object, then byte offset). A buffer received twice
 * arrives as two objects, whose waiters queue apart with a poller each: still correct.
 */
const asyncWaiters = new WeakMap<SharedArrayBuffer, Map<number, AsyncWaiters>>();

/** This thread's waiters for `lock`'s word, if it ever had any. */
function queuedWaiters(lock: Lock): AsyncWaiters | undefined {
  return asyncWaiters.get(lock.buffer)?.get(lock.byteOffset);
}

function asyncWaitersOf(lock: Lock): AsyncWaiters {
  let byOffset = asyncWaiters.get(lock.buffer);
  if (byOffset === undefined) asyncWaiters.set(lock.buffer, (byOffset = new Map()));
  let waiters = byOffset.get(lock.byteOffset);
  if (waiters === undefined) byOffset.set(lock.byteOffset, (waiters = new AsyncWaiters()));
  return waiters;
}

function settleWaiter(waiters: AsyncWaiters, waiter: AsyncWaiter, acquired: boolean): void {
  waiter.settled = true;
  clearTimeout(waiter.timer); // clears an interval too
  waiter.timer = undefined;
  if (--waiters.live === 0) waiters.queue = new Ring(); // drop the settled ones it still holds
  // Timed-out waiters stay queued until the lock is handed on, which may be never (a holder that
  // died): beside one waiter that waits on, a loop of acquireAsync(ms) that kept timing out grew
  // the queue by ~220 bytes a call without end. Compacted once mostly settled: O(1) a call.
  else if (waiters.queue.length > 2 * waiters.live + 64) waiters.queue.retain(isLive);
  waiter.resolve(acquired);
}

function isLive(waiter: AsyncWaiter): boolean {
  return !waiter.settled;
}

function waiterTimerFired(waiters: AsyncWaiters, waiter: AsyncWaiter, deadline: number): void {
  if (waiter.settled) return;
  const remaining = deadline - performance.now();
  if (remaining > 0) {
    waiter.timer = setTimeout(waiterTimerFired, Math.min(remaining, MAX_TIMER_MS), waiters, waiter, deadline);
    return;
  }
  settleWaiter(waiters, waiter, false);
}

/** Takes the lock for the first live waiter whenever it is free, until no waiter is left. */
async function pollForWaiters(word: Int32Array, waiters: AsyncWaiters): Promise<void> {
  waiters.polling = true;
  try {
    while (waiters.live > 0) {
      const seen = Atomics.compareExchange(word, 0, FREE, SELF);
      if (seen === FREE) {
        let waiter = waiters.queue.shift();
        while (waiter !== undefined && waiter.settled) waiter = waiters.queue.shift();
        // live > 0 means a live waiter is queued; settling it leaves the lock held by this
        // thread, so the next turn of the loop waits for its release.
        settleWaiter(waiters, waiter!, true);
        continue;
      }
      const wait = atomicsWaitAsync(word, 0, seen, Infinity);
      if (wait.async) await wait.value;
    }
  } finally {
    waiters.polling = false;
  }
}

function noop(): void {}
