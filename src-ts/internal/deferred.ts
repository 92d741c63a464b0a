// A promise settled from outside, without a closure per promise: `new Promise(executor)` with
// an inline executor allocates that closure (and, in the keepNames build, renames it), on every
// call. Here one shared executor stores the resolvers on a holder the caller already has (the
// task, the map job, the AsyncResult waiter), so a promise costs only itself and its resolvers.

/** Something that keeps a promise's resolvers; promiseFor() fills them in. */
export interface Resolvers {
  resolveFn: ((value: any) => void) | undefined;
  rejectFn: ((error: unknown) => void) | undefined;
}

// Set just before the Promise constructor runs captureExecutor, which it does synchronously, and
// cleared right after: a holder left here would keep the last call's task, arguments and result
// reachable from this module long after the call settled (CPython's bpo-29861).
let capturing: Resolvers | undefined;

function captureExecutor(resolve: (value: any) => void, reject: (error: unknown) => void): void {
  capturing!.resolveFn = resolve;
  capturing!.rejectFn = reject;
}

/** A new promise whose resolvers are stored on `target`. */
export function promiseFor<R>(target: Resolvers): Promise<R> {
  capturing = target;
  const promise = new Promise<R>(captureExecutor);
  capturing = undefined;
  return promise;
}

/** Something that keeps only a promise's resolve function; see promiseResolvedBy(). */
export interface Resolver {
  resolveFn: ((value: any) => void) | undefined;
}

let capturingResolver: Resolver | undefined; // as `capturing` above: set only while constructing

function captureResolve(resolve: (value: any) => void): void {
  capturingResolver!.resolveFn = resolve;
}

/**
 * A new promise whose resolve function is stored on `target`, and whose reject function is
 * dropped at once: reject it with `resolveFn(new Rejection(error))`. A burst of apply() calls
 * keeps every task alive until it runs, V8's young-generation collector pays for each live
 * object, and a stored reject function was one more per task, used by few.
 */
export function promiseResolvedBy<R>(target: Resolver): Promise<R> {
  capturingResolver = target;
  const promise = new Promise<R>(captureResolve);
  capturingResolver = undefined;
  return promise;
}

/**
 * A thenable that rejects with `error`: a promise resolved with it rejects with `error` one
 * microtask later (the promise adopts the thenable's outcome), without an intermediate
 * rejected promise that Node would first have to count as unhandled.
 */
export class Rejection {
  constructor(private readonly error: unknown) {}

  then(_resolve: unknown, reject: (error: unknown) => void): void {
    reject(this.error);
  }
}

/** Settles a promise from promiseResolvedBy(): fulfils it with `value`, or rejects it with `value` as the error. */
export function settleByResolve(resolve: (value: unknown) => void, ok: boolean, value: unknown): void {
  resolve(ok ? value : new Rejection(value));
}
