// Which tasks a pool will run: kernels made by defineKernel() and handles made by task(), and
// nothing merely shaped like them. A look-alike object ({ kind: 'kernel', validate, combine })
// would run its own code inside the pool's machinery, where what it throws or returns has no
// task to settle. The mark is keyed with Symbol.for, so the ESM and CommonJS builds loaded
// together (two copies of this module) accept each other's kernels and handles.

const kGenuine = Symbol.for('spindle.runnable');

/** Marks a kernel or task handle as made by spindle; call before freezing it. */
export function markGenuine<T extends object>(runnable: T): T {
  Object.defineProperty(runnable, kGenuine, { value: true });
  return runnable;
}

/** Whether `value` was made by defineKernel() or task(), in any copy of spindle. */
export function isGenuine(value: object): boolean {
  return (value as { [kGenuine]?: boolean })[kGenuine] === true;
}
