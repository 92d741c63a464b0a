// The native backend: kernels run on the addon's C++ threads. This file only routes: it
// numbers each dispatch, passes the arguments to the addon, and turns the addon's batched
// completion records back into settle() calls.

import { performance } from 'node:perf_hooks';
import { Outcome, type Backend, type Dispatch, type PlainSink } from './backend.js';
import { LiveTasks } from './live-tasks.js';
import type { Addon } from './addon.js';
import type { Runnable } from '../kernels/types.js';
import { kView, SharedCounter } from '../shared/counter.js';
import { systemError } from '../system-error.js';

// Record status codes written by src-cpp/addon/instance.cpp.
const OK_NUMBER = 0;
const OK_BATCH = 1;
const FAILED = 2;
const CANCELLED = 3;
/** extras[value]: a Buffer of the call's result bytes, or of a map chunk's, back to back. */
const OK_BYTES = 4;
/**
 * Doubles per completion record: [id, status, value, startedNs, runNs]. startedNs is when a
 * thread took the job up, in CLOCK_MONOTONIC nanoseconds (0: it never started), runNs how long
 * it ran from then.
 */
const RECORD_STRIDE = 5;

/** A FAILED record's extra: [name, message], or for a failed system call [name, message, errno (> 0), syscall, path]. */
type ErrorRecord = [string, string] | [string, string, number, string, string];

const ERROR_CLASSES: Record<string, ErrorConstructor> = { TypeError, RangeError, Error };

// The packed fast path (addon submitPacked): single calls with at most two number arguments
// (Dispatch.numberArgs >= 0) and no progress counter travel as records of PACKED_STRIDE doubles, [id, kernel,
// lane, argc, arg0, arg1], flushed in one addon call per microtask (or per PACK_LIMIT
// tasks). A burst of small tasks then pays one crossing, one lock and one wake-up per flush.
const PACKED_STRIDE = 6;
const PACK_LIMIT = 1024;

/**
 * One per addon instance (per JS environment). It lives on the addon's exports object so that
 * two copies of this module (the ESM and CommonJS builds loaded side by side) share it: the
 * addon accepts one completion callback per environment.
 *
 * It names every native job with a small integer id, a slot in its tables: a burst of tasks
 * then costs two array stores per task where Maps cost hashing and rehashing garbage.
 *
 * A holder is a Dispatch, or for a plain call (NativeBackend.dispatchPlain) its promise's
 * resolve function; withdrawPlain() swaps that for `withdrawn` once the pool has answered the
 * call, and the id stays held until the call's record arrives.
 *
 * Slot ownership. An id belongs to one dispatch from register() until release(), which happens
 * exactly once: when complete() reads the job's completion record, or when the backend settles
 * a dispatch the addon never accepted (failAsync). Only then does the id go back on the free
 * list, to be reused by a later dispatch. Reuse is safe because the addon drops its own entry
 * for a job before it hands the job's record to complete(): an id the addon holds is always
 * still held here by the same dispatch, so a job is never confused with a later holder of its
 * id. A cancel() for a held id reaches either that job or, if its record is on the way, nothing
 * (the addon answers false). Nothing cancels a released id: the pool cancels only dispatches
 * it has not seen settle, and settling comes after release.
 *
 * Ids stay small (at most the most jobs ever unsettled at once), which the addon relies on:
 * it keeps its jobs in a table indexed by id.
 */
class Router {
  /**
   * By id: what holds it (a Dispatch, or for a plain call its resolve function, or `withdrawn`
   * once the pool answered that call), and the backend that dispatched it; undefined when free.
   * Id 0 is never used.
   */
  private readonly dispatches: (Holder | undefined)[] = [undefined];
  private readonly backends: (NativeBackend | undefined)[] = [undefined];
  /** By id, for a plain call: when the pool accepted it (Dispatch.acceptedAt, which it has no Dispatch for). */
  private readonly acceptedAt: number[] = [0];
  /**
   * performance.now() = CLOCK_MONOTONIC ms - this. Both read uv_hrtime's clock, so one reading
   * of each converts the addon's start stamps for the whole process.
   */
  private readonly clockOffsetMs = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  /** Released ids, reused last released first (the most recently touched slots). */
  private readonly freeIds: number[] = [];
  readonly kernelIndex: ReadonlyMap<string, number>;

  constructor(readonly addon: Addon) {
    this.kernelIndex = new Map(addon.kernels().map((name, i) => [name, i]));
    addon.start((records, count, extras) => this.complete(records, count, extras));
  }

  /** A free id, now held by `d` for `owner`; `acceptedAt` matters for a plain call only. */
  register(owner: NativeBackend, d: Holder, acceptedAt = 0): number {
    const id = this.freeIds.length > 0 ? this.freeIds.pop()! : this.dispatches.length;
    this.dispatches[id] = d;
    this.backends[id] = owner;
    this.acceptedAt[id] = acceptedAt;
    return id;
  }

  /** What holds `id`, if anything. */
  holder(id: number): Holder | undefined {
    return this.dispatches[id];
  }

  /** Replaces the plain call holding `id` by `withdrawn`. */
  withdraw(id: number): void {
    this.dispatches[id] = withdrawn;
  }

  /** Frees `id`: its dispatch is about to be settled and the addon no longer knows the id. */
  release(id: number): void {
    this.dispatches[id] = undefined;
    this.backends[id] = undefined;
    this.freeIds.push(id);
  }

  /** Every id that `owner` holds. */
  idsOf(owner: NativeBackend): number[] {
    const ids: number[] = [];
    for (let id = 1; id < this.backends.length; id++) if (this.backends[id] === owner) ids.push(id);
    return ids;
  }

  /** The addon's delivery: `count` records at the start of `records` (reused by the addon: read it now or never). */
  private complete(records: Float64Array, count: number, extras: unknown[] | undefined): void {
    let firstError: unknown;
    for (let i = 0; i < count * RECORD_STRIDE; i += RECORD_STRIDE) {
      const id = records[i]!;
      const d = this.dispatches[id];
      if (d === undefined) continue; // cannot happen: the addon reports each job once
      const owner = this.backends[id]!;
      const acceptedAt = this.acceptedAt[id]!;
      this.release(id);
      const status = records[i + 1]!;
      const value = records[i + 2]!;
      const startedNs = records[i + 3]!;
      try {
        if (startedNs !== 0) {
          const startedAt = startedNs / 1e6 - this.clockOffsetMs;
          const runMs = records[i + 4]! / 1e6;
          if (typeof d === 'function') owner.timedPlain(acceptedAt, startedAt, runMs);
          else d.timed(startedAt, runMs);
        }
        if (status === OK_NUMBER) owner.report(d, Outcome.Ok, value);
        else if (status === FAILED) owner.report(d, Outcome.Error, toError(extras![value] as ErrorRecord));
        else if (status === CANCELLED) owner.report(d, Outcome.Cancelled, undefined);
        // dispatchPlain takes only kernels with number results, so a plain call gets no other record.
        else if (typeof d === 'function') owner.report(d, Outcome.Error, new TypeError(`a plain call received a result record of status ${status}`));
        else if (status === OK_BATCH) owner.settle(d, Outcome.Ok, Array.from(extras![value] as Float64Array));
        else if (status === OK_BYTES) owner.settleBytes(d, extras![value] as Buffer);
      } catch (error) {
        // Settle every record of the batch even if one settle() throws; report the first.
        firstError ??= error;
      }
    }
    if (firstError !== undefined) throw firstError;
  }
}

/** What holds a router id: a Dispatch, or a plain call's resolve function (or `withdrawn`). */
type Holder = Dispatch | ((value: unknown) => void);

/** Holds the id of a plain call the pool already answered (withdrawPlain), until its record arrives. */
const withdrawn = (): void => {};

function toError(record: ErrorRecord): Error {
  if (record.length === 5) return systemError(-record[2], record[3], record[4]);
  return new (ERROR_CLASSES[record[0]] ?? Error)(record[1]);
}

const routerKey = Symbol.for('spindle.native.router');

/**
 * Closes a backend's lane once the backend is unreachable: its jobs have all been delivered by
 * then (a pending job's record holds the backend through the router), and the core frees the
 * lane when its last queued ticket has run.
 */
const laneCloser = new FinalizationRegistry<{ addon: Addon; lane: number }>(({ addon, lane }) => {
  try {
    addon.closeLane(lane);
  } catch {
    // the environment is going away: its lanes are closed by the addon's teardown
  }
});

function routerFor(addon: Addon): Router {
  const holder = addon as unknown as { [routerKey]?: Router };
  return (holder[routerKey] ??= new Router(addon));
}

function nativeArg(arg: unknown): unknown {
  return arg instanceof SharedCounter ? arg[kView] : arg;
}

/**
 * A map chunk's argument tuples as the addon takes them: the same arrays unless some argument
 * is a SharedCounter (passed as its view). The addon keeps a reference to the array it gets
 * until the job completes, and neither the pool nor this backend changes a dispatch's calls.
 */
function nativeCalls(calls: readonly (readonly unknown[])[]): readonly (readonly unknown[])[] {
  for (const args of calls) {
    for (const arg of args) if (arg instanceof SharedCounter) return calls.map((tuple) => tuple.map(nativeArg));
  }
  return calls;
}

export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  readonly capacity: number;
  private readonly router: Router;
  /** Dispatches this backend holds ids for: dispatched and not yet settled. */
  private readonly live = new LiveTasks();
  private readonly packed = new Float64Array(PACKED_STRIDE * PACK_LIMIT);
  private packedCount = 0;
  private flushQueued = false;
  /** The kernel dispatched last and its addon index: bursts repeat one kernel, and this skips the name lookup. */
  private lastKernel: Runnable | undefined = undefined;
  private lastKernelIndex: number | undefined = undefined;
  /** Where plain calls are reported: the pool's scheduler, set by the first dispatchPlain(). */
  private plainSink: PlainSink | undefined = undefined;
  /**
   * This pool's lane in the process-wide thread pool: at most `size` threads run its calls at
   * once, however many threads other pools started.
   */
  private readonly lane: number;

  constructor(
    private readonly addon: Addon,
    readonly size: number,
    private readonly addonPath: string,
  ) {
    this.router = routerFor(addon);
    addon.reserve(size);
    this.lane = addon.openLane(size);
    laneCloser.register(this, { addon, lane: this.lane });
    // Enough work queued natively that threads never wait for the JS thread between
    // completion batches, small enough that the pool's own queue still does the bounding.
    this.capacity = Math.max(1024, size * 256);
  }

  /**
   * Backend.dispatchPlain: a plain call goes straight into the packed records, its id held by
   * its resolve function. Only for kernels whose results are plain numbers (no fromBytes).
   */
  dispatchPlain(kernel: Runnable, resolve: (value: unknown) => void, argc: number, a0: number, a1: number, acceptedAt: number, sink: PlainSink): boolean {
    if (kernel.kind !== 'kernel' || kernel.fromBytes !== undefined) return false;
    const index = this.indexOf(kernel);
    if (index === undefined) return false;
    this.plainSink = sink;
    const id = this.router.register(this, resolve, acceptedAt);
    this.live.add();
    this.pack(id, index, argc, a0, a1);
    return true;
  }

  /** Backend.withdrawPlain: cancels this backend's plain calls and hands their resolve functions back. */
  withdrawPlain(): ((value: unknown) => void)[] {
    this.flush();
    const resolvers: ((value: unknown) => void)[] = [];
    for (const id of this.router.idsOf(this)) {
      const holder = this.router.holder(id);
      if (typeof holder !== 'function' || holder === withdrawn) continue;
      resolvers.push(holder);
      this.router.withdraw(id);
      this.addon.cancel(id);
    }
    return resolvers;
  }

  /** The one report for what held an id the router has just released: a Dispatch, or a plain call. */
  report(holder: Holder, outcome: Outcome, value: unknown): void {
    if (typeof holder === 'function') this.reportPlain(holder, outcome, value);
    else this.settle(holder, outcome, value);
  }

  /** Dispatch.timed for a plain call. */
  timedPlain(acceptedAt: number, startedAt: number, runMs: number): void {
    this.plainSink!.plainTimed(acceptedAt, startedAt, runMs);
  }

  private reportPlain(resolve: (value: unknown) => void, outcome: Outcome, value: unknown): void {
    try {
      this.plainSink!.plainSettled(resolve === withdrawn ? undefined : resolve, outcome, value);
    } finally {
      this.live.done();
    }
  }

  /** The addon's index of `kernel`, cached for the last kernel seen. */
  private indexOf(kernel: Runnable): number | undefined {
    if (kernel !== this.lastKernel) {
      this.lastKernel = kernel;
      this.lastKernelIndex = this.router.kernelIndex.get(kernel.name);
    }
    return this.lastKernelIndex;
  }

  dispatch(d: Dispatch): void {
    const kernel = this.indexOf(d.kernel);
    const id = this.router.register(this, d);
    d.backendSlot = id;
    this.live.add();
    const numberArgs = d.numberArgs;
    if (kernel !== undefined && numberArgs >= 0 && d.progress === undefined) {
      this.pack(id, kernel, numberArgs, d.arg0, d.arg1);
      return;
    }
    // Plain calls made earlier in this turn wait in the packed records for the microtask flush;
    // hand them over first, or this call would start ahead of them (the lane is a FIFO).
    if (this.packedCount > 0) this.flush();
    const args = d.args;
    const progress = d.progress?.[kView];
    try {
      if (kernel === undefined) throw new TypeError(`kernel ${d.kernel.name} has no native implementation`);
      if (args === undefined) {
        const packed = d.kernel.kind === 'kernel' ? d.kernel.packBatch?.(d.calls) : undefined;
        const packedKernel = packed === undefined ? undefined : this.router.kernelIndex.get(packed.kernel);
        if (packedKernel !== undefined) this.addon.submit(id, packedKernel, this.lane, progress, ...packed!.args);
        else this.addon.submitBatch(id, kernel, this.lane, progress, nativeCalls(d.calls));
      } else {
        this.addon.submit(id, kernel, this.lane, progress, ...args.map(nativeArg));
      }
    } catch (error) {
      this.failAsync([id], error);
    }
  }

  private pack(id: number, kernel: number, argc: number, arg0: number | undefined, arg1: number | undefined): void {
    const at = this.packedCount++ * PACKED_STRIDE;
    const records = this.packed;
    records[at] = id;
    records[at + 1] = kernel;
    records[at + 2] = this.lane;
    records[at + 3] = argc;
    records[at + 4] = arg0 ?? 0;
    records[at + 5] = arg1 ?? 0;
    if (this.packedCount === PACK_LIMIT) {
      this.flush();
    } else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  /** Hands every packed task to the addon. Runs before cancel/terminate so they see them all. */
  private readonly flush = (): void => {
    this.flushQueued = false;
    const count = this.packedCount;
    if (count === 0) return;
    this.packedCount = 0;
    try {
      this.addon.submitPacked(this.packed, count);
    } catch (error) {
      const ids: number[] = [];
      for (let i = 0; i < count; i++) ids.push(this.packed[i * PACKED_STRIDE]!);
      this.failAsync(ids, error);
    }
  };

  /**
   * The addon refused these ids' jobs (it accepts all of a submission or none), so no
   * completion record will come for them: release the ids and settle the dispatches here,
   * asynchronously as every outcome is. The pool validated the arguments, so a refusal is a
   * bug somewhere; still, the tasks settle rather than hang.
   */
  private failAsync(ids: number[], error: unknown): void {
    queueMicrotask(() => {
      for (const id of ids) {
        const holder = this.router.holder(id)!;
        this.router.release(id);
        this.report(holder, Outcome.Error, error);
      }
    });
  }

  /** The one report for `d`, whose id the router has just released. */
  settle(d: Dispatch, outcome: Outcome, value: unknown): void {
    try {
      d.settle(outcome, value);
    } finally {
      this.live.done();
    }
  }

  /**
   * A record of bytes for `d`: the kernel's fromBytes() turns them into the result, or for a
   * map chunk into each call's result (the bytes split evenly between calls).
   */
  settleBytes(d: Dispatch, bytes: Buffer): void {
    let outcome = Outcome.Ok;
    let value: unknown;
    try {
      const kernel = d.kernel;
      if (kernel.kind !== 'kernel' || kernel.fromBytes === undefined) throw new TypeError(`kernel ${kernel.name} returned bytes but has no fromBytes()`);
      if (d.args !== undefined) {
        value = kernel.fromBytes(bytes, 0, bytes.length, d.args);
      } else {
        const calls = d.calls;
        const size = calls.length === 0 ? 0 : bytes.length / calls.length;
        const results = new Array<unknown>(calls.length);
        for (let i = 0; i < calls.length; i++) results[i] = kernel.fromBytes(bytes, i * size, (i + 1) * size, calls[i]!);
        value = results;
      }
    } catch (error) {
      outcome = Outcome.Error;
      value = error;
    }
    this.settle(d, outcome, value);
  }

  cancel(d: Dispatch): void {
    this.flush();
    this.addon.cancel(d.backendSlot as number);
  }

  terminate(): Promise<void> {
    this.flush();
    for (const id of this.router.idsOf(this)) this.addon.cancel(id);
    return this.live.drained();
  }

  close(): Promise<void> {
    return this.live.drained();
  }

  busyTime(): number {
    return this.addon.laneStats(this.lane).busyNs / 1e6;
  }

  describe(): Record<string, unknown> {
    const lane = this.addon.laneStats(this.lane);
    return {
      capacity: this.capacity,
      threads: this.addon.threadCount(),
      // Of those, running this pool's calls now, and the most ever at once: never above size.
      activeThreads: lane.active,
      maxActiveThreads: lane.maxActive,
      addonPath: this.addonPath,
      cpuFeatures: this.addon.cpuFeatures(),
      sha256Path: this.addon.sha256Path(),
      sortPath: this.addon.sortPath(),
      napiVersion: this.addon.napiVersion,
    };
  }
}
