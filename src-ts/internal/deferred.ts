// A promise settled from outside, without a closure per promise: `new Promise(executor)` with
// an inline executor allocates that closure (and, in the keepNames build, renames it), on every
// call. Here one shared executor stores the resolvers on a holder the caller already has (the
// task, the map job, the AsyncResult waiter), so a promise costs only itself and its resolvers.

/** Something that keeps a promise's resolvers; promiseFor() fills them in. */
export interface Resolvers {
  resolveFn: ((value: any) => void) | undefined;
  rejectFn: ((error: unknown) => void) | undefined;
}

// Set just before the Promise constructor runs captureExecutor, which it does synchronously.
let capturing: Resolvers;

function captureExecutor(resolve: (value: any) => void, reject: (error: unknown) => void): void {
  capturing.resolveFn = resolve;
  capturing.rejectFn = reject;
}

/** A new promise whose resolvers are stored on `target`. */
export function promiseFor<R>(target: Resolvers): Promise<R> {
  capturing = target;
  return new Promise<R>(captureExecutor);
}
