// The native backend: kernels run on the addon's C++ threads. This file only routes: it
// numbers each dispatch, passes the arguments to the addon, and turns the addon's batched
// completion records back into settle() calls.

import { Outcome, type Backend, type Dispatch } from './backend.js';
import type { Addon } from './addon.js';
import { kView, SharedCounter } from '../shared/counter.js';

// Record status codes written by src-cpp/addon/instance.cpp.
const OK_NUMBER = 0;
const OK_BATCH = 1;
const FAILED = 2;
const CANCELLED = 3;

const ERROR_CLASSES: Record<string, ErrorConstructor> = { TypeError, RangeError, Error };

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
        else if (status === FAILED) owner.settle(id, Outcome.Error, toError(extras![value] as [string, string]));
        else if (status === CANCELLED) owner.settle(id, Outcome.Cancelled, undefined);
      } catch (error) {
        // Settle every record of the batch even if one settle() throws; report the first.
        firstError ??= error;
      }
    }
    if (firstError !== undefined) throw firstError;
  }
}

function toError([name, message]: [string, string]): Error {
  return new (ERROR_CLASSES[name] ?? Error)(message);
}

const routerKey = Symbol.for('spindle.native.router');

function routerFor(addon: Addon): Router {
  const holder = addon as unknown as { [routerKey]?: Router };
  return (holder[routerKey] ??= new Router(addon));
}

function nativeArg(arg: unknown): unknown {
  return arg instanceof SharedCounter ? arg[kView] : arg;
}

export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  readonly capacity: number;
  private readonly router: Router;
  /** Native job id → dispatch, for everything this backend has dispatched and not settled. */
  private readonly live = new Map<number, Dispatch>();
  private whenEmpty: (() => void) | undefined;

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
    const progress = d.progress?.[kView];
    try {
      if (kernel === undefined) throw new TypeError(`kernel ${d.kernel.name} has no native implementation`);
      if (d.batch) {
        this.addon.submitBatch(id, kernel, this.size, progress, d.calls.map((args) => args.map(nativeArg)));
      } else {
        const args = d.calls[0]!;
        // The common arities without a spread: this is the per-task hot path.
        if (args.length === 0) this.addon.submit(id, kernel, this.size, progress);
        else if (args.length === 1) this.addon.submit(id, kernel, this.size, progress, nativeArg(args[0]));
        else if (args.length === 2) this.addon.submit(id, kernel, this.size, progress, nativeArg(args[0]), nativeArg(args[1]));
        else this.addon.submit(id, kernel, this.size, progress, ...args.map(nativeArg));
      }
    } catch (error) {
      // The pool validated the arguments, so this is a bug somewhere; still, settle the task
      // (asynchronously, as every outcome is) rather than lose it.
      queueMicrotask(() => this.settle(id, Outcome.Error, error));
    }
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

  cancel(d: Dispatch): void {
    this.addon.cancel(d.backendSlot as number);
  }

  terminate(): Promise<void> {
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
      napiVersion: this.addon.napiVersion,
    };
  }
}
