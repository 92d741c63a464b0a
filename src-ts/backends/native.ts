// The native backend: kernels run on the addon's C++ threads. This file only routes: it
// numbers each dispatch, passes the arguments to the addon, and turns the addon's batched
// completion records back into settle() calls.

import { Outcome, type Backend, type Dispatch } from './backend.js';
import type { Addon } from './addon.js';
import { kView, SharedCounter } from '../shared/counter.js';
import { systemError } from '../system-error.js';

// Record status codes written by src-cpp/addon/instance.cpp.
const OK_NUMBER = 0;
const OK_BATCH = 1;
const FAILED = 2;
const CANCELLED = 3;
/** extras[value]: a Buffer of the call's result bytes, or of a map chunk's, back to back. */
const OK_BYTES = 4;

/** A FAILED record's extra: [name, message], or for a failed system call [name, message, errno (> 0), syscall, path]. */
type ErrorRecord = [string, string] | [string, string, number, string, string];

const ERROR_CLASSES: Record<string, ErrorConstructor> = { TypeError, RangeError, Error };

// The packed fast path (addon submitPacked): single calls with at most two number arguments
// and no progress counter travel as records of PACKED_STRIDE doubles, [id, kernel,
// parallelism, argc, arg0, arg1], flushed in one addon call per microtask (or per PACK_LIMIT
// tasks). A burst of small tasks then pays one crossing, one lock and one wake-up per flush.
const PACKED_STRIDE = 6;
const PACK_LIMIT = 1024;

function packable(d: Dispatch): boolean {
  if (d.batch || d.progress !== undefined) return false;
  const args = d.calls[0]!;
  return args.length <= 2 && (args.length < 1 || typeof args[0] === 'number') && (args.length < 2 || typeof args[1] === 'number');
}

/**
 * One per addon instance (per JS environment). It lives on the addon's exports object so that
 * two copies of this module (the ESM and CommonJS builds loaded side by side) share it: the
 * addon accepts one completion callback per environment.
 */
class Router {
  private nextId = 1;
  /** Native job id → the backend that dispatched it. */
  private readonly owners = new Map<number, NativeBackend>();
  readonly kernelIndex: ReadonlyMap<string, number>;

  constructor(readonly addon: Addon) {
    this.kernelIndex = new Map(addon.kernels().map((name, i) => [name, i]));
    addon.start((records, extras) => this.complete(records, extras));
  }

  register(owner: NativeBackend): number {
    const id = this.nextId++;
    this.owners.set(id, owner);
    return id;
  }

  private complete(records: Float64Array, extras: unknown[] | undefined): void {
    let firstError: unknown;
    for (let i = 0; i < records.length; i += 3) {
      const id = records[i]!;
      const owner = this.owners.get(id);
      if (owner === undefined) continue;
      this.owners.delete(id);
      const status = records[i + 1]!;
      const value = records[i + 2]!;
      try {
        if (status === OK_NUMBER) owner.settle(id, Outcome.Ok, value);
        else if (status === OK_BATCH) owner.settle(id, Outcome.Ok, Array.from(extras![value] as Float64Array));
        else if (status === FAILED) owner.settle(id, Outcome.Error, toError(extras![value] as ErrorRecord));
        else if (status === CANCELLED) owner.settle(id, Outcome.Cancelled, undefined);
        else if (status === OK_BYTES) owner.settleBytes(id, extras![value] as Buffer);
      } catch (error) {
        // Settle every record of the batch even if one settle() throws; report the first.
        firstError ??= error;
      }
    }
    if (firstError !== undefined) throw firstError;
  }
}

function toError(record: ErrorRecord): Error {
  if (record.length === 5) return systemError(-record[2], record[3], record[4]);
  return new (ERROR_CLASSES[record[0]] ?? Error)(record[1]);
}

const routerKey = Symbol.for('spindle.native.router');

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
  /** Native job id → dispatch, for everything this backend has dispatched and not settled. */
  private readonly live = new Map<number, Dispatch>();
  private whenEmpty: (() => void) | undefined;
  private readonly packed = new Float64Array(PACKED_STRIDE * PACK_LIMIT);
  private packedCount = 0;
  private flushQueued = false;

  constructor(
    private readonly addon: Addon,
    readonly size: number,
    private readonly addonPath: string,
  ) {
    this.router = routerFor(addon);
    addon.reserve(size);
    // Enough work queued natively that threads never wait for the JS thread between
    // completion batches, small enough that the pool's own queue still does the bounding.
    this.capacity = Math.max(1024, size * 256);
  }

  dispatch(d: Dispatch): void {
    const kernel = this.router.kernelIndex.get(d.kernel.name);
    const id = this.router.register(this);
    d.backendSlot = id;
    this.live.set(id, d);
    if (kernel !== undefined && packable(d)) {
      this.pack(id, kernel, d.calls[0]!);
      return;
    }
    const progress = d.progress?.[kView];
    try {
      if (kernel === undefined) throw new TypeError(`kernel ${d.kernel.name} has no native implementation`);
      if (d.batch) {
        this.addon.submitBatch(id, kernel, this.size, progress, nativeCalls(d.calls));
      } else {
        this.addon.submit(id, kernel, this.size, progress, ...d.calls[0]!.map(nativeArg));
      }
    } catch (error) {
      this.failAsync([id], error);
    }
  }

  private pack(id: number, kernel: number, args: readonly unknown[]): void {
    const at = this.packedCount++ * PACKED_STRIDE;
    const records = this.packed;
    records[at] = id;
    records[at + 1] = kernel;
    records[at + 2] = this.size;
    records[at + 3] = args.length;
    records[at + 4] = args.length > 0 ? (args[0] as number) : 0;
    records[at + 5] = args.length > 1 ? (args[1] as number) : 0;
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
   * The pool validated the arguments, so an addon refusal is a bug somewhere; still, settle
   * the tasks (asynchronously, as every outcome is) rather than lose them.
   */
  private failAsync(ids: number[], error: unknown): void {
    queueMicrotask(() => {
      for (const id of ids) this.settle(id, Outcome.Error, error);
    });
  }

  /** Called by the router for each completion record. */
  settle(id: number, outcome: Outcome, value: unknown): void {
    const d = this.live.get(id);
    if (d === undefined) return;
    this.live.delete(id);
    try {
      d.settle(outcome, value);
    } finally {
      if (this.live.size === 0 && this.whenEmpty) this.whenEmpty();
    }
  }

  /**
   * Called by the router for a record of bytes: the kernel's fromBytes() turns them into the
   * result, or for a map chunk into each call's result (the bytes split evenly between calls).
   */
  settleBytes(id: number, bytes: Buffer): void {
    const d = this.live.get(id);
    if (d === undefined) return;
    let outcome = Outcome.Ok;
    let value: unknown;
    try {
      const kernel = d.kernel;
      if (kernel.kind !== 'kernel' || kernel.fromBytes === undefined) throw new TypeError(`kernel ${kernel.name} returned bytes but has no fromBytes()`);
      if (!d.batch) {
        value = kernel.fromBytes(bytes, 0, bytes.length, d.calls[0]!);
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
    this.settle(id, outcome, value);
  }

  cancel(d: Dispatch): void {
    this.flush();
    this.addon.cancel(d.backendSlot as number);
  }

  terminate(): Promise<void> {
    this.flush();
    for (const id of this.live.keys()) this.addon.cancel(id);
    return this.drained();
  }

  close(): Promise<void> {
    return this.drained();
  }

  private drained(): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.whenEmpty;
      this.whenEmpty = () => {
        this.whenEmpty = undefined;
        previous?.();
        resolve();
      };
    });
  }

  describe(): Record<string, unknown> {
    return {
      capacity: this.capacity,
      threads: this.addon.threadCount(),
      addonPath: this.addonPath,
      cpuFeatures: this.addon.cpuFeatures(),
      sha256Path: this.addon.sha256Path(),
      napiVersion: this.addon.napiVersion,
    };
  }
}
