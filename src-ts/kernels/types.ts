// What every kernel is, seen from TypeScript: a name shared with the C++ registry, an argument
// check that runs at the call site, and a JS twin that gives the same results as the C++ code.
import { markGenuine } from '../internal/genuine.js';

/** What a running kernel may look at: cancellation and progress. */
export interface KernelContext {
  /** True once the task was aborted, timed out or the pool terminated; stop at the next check. */
  cancelled(): boolean;
  /** Adds units of work done (numbers sieved, bytes hashed) to the call's progress counter. */
  progress(units: number): void;
}

/** A context for running a JS twin directly: never cancelled, progress ignored. */
export const noContext: KernelContext = { cancelled: () => false, progress: () => {} };

declare const resultBrand: unique symbol;

/**
 * A result type that follows a call's arguments, for kernels whose result depends on them:
 * sort resolves with the array it was given (a Float64Array for a Float64Array), sha256 with a
 * string or a Buffer as its `encoding` says. TypeScript has no type-level functions, so one is
 * written as an interface extending this one whose `result` reads `this['args']` (the call's
 * argument tuple); ResultFor<T, A> fills `args` in and reads `result`. Pool methods type each
 * call's result with ResultFor, so one mechanism serves apply, map, imap and the rest.
 */
export interface ResultFn {
  readonly args: readonly unknown[];
  readonly result: unknown;
}

/** Type-level only: a kernel's `By`, when it is a ResultFn, as a property of its brand. */
type ResultFnOf<By> = By extends ResultFn ? { readonly by: By } : unknown;

/**
 * A compute kernel: `Args` is what callers pass, `Result` what the task resolves to. `By`, when
 * given, is a ResultFn that narrows `Result` to what one call's arguments give (see ResultFn).
 * Descriptors are plain frozen objects; use them as the task argument of Pool methods.
 */
export interface Kernel<Args extends readonly unknown[] = readonly any[], Result = unknown, By = unknown> {
  readonly kind: 'kernel';
  /** Registry name, the same in C++ (src-cpp/core/kernels/registry.cpp). */
  readonly name: string;
  /**
   * Checks the arguments and returns them normalized (defaults filled in) for both backends.
   * Throws a TypeError or RangeError whose message names the bad argument.
   */
  validate(args: readonly unknown[]): unknown[];
  /** The JS twin: same algorithm and results as the C++ kernel, run synchronously. */
  run(args: readonly unknown[], ctx: KernelContext): Result;
  /**
   * Optional, for kernels whose one call can be shared out: validated arguments → at most
   * `parts` argument tuples whose results `combine` merges into the whole call's result. The
   * worker backend uses it to spread one big call over its workers, as the C++ core spreads it
   * over its threads. Returning `[args]`, the call's own tuple, means "not worth splitting": the
   * call runs as it is. One other tuple is a call of one part, run like a split call's (sort
   * uses it to run on a copy of the array in shared memory). `parts` is 1 on a pool of one
   * worker.
   */
  split?(args: readonly unknown[], parts: number): unknown[][];
  /**
   * Optional, with split, for a call shared out in rounds: a round's parts start only once every
   * part of the round before has succeeded, so each round may read what the one before wrote to
   * shared memory. Runs on the pool's thread with the finished round's results and tuples, in
   * order, and the whole call's validated arguments; returns the next round's tuples (at least
   * one), or undefined when the round just finished was the last. Without it, split's tuples are
   * the only round.
   */
  nextRound?(results: unknown[], pieces: readonly (readonly unknown[])[], args: readonly unknown[]): unknown[][] | undefined;
  /** Merges the results of the last round's tuples, in their order, given the whole call's validated arguments. */
  combine?(results: unknown[], args: readonly unknown[]): Result;
  /**
   * Required for kernels whose C++ side returns bytes (a digest) rather than a number: turns
   * `bytes[start, end)`, one call's result, into the result the JS twin would give for `args`
   * (its validated arguments). Runs on the pool's thread as results arrive; a map chunk's
   * results share one buffer, hence the range rather than a view per call.
   */
  fromBytes?(bytes: Buffer, start: number, end: number, args: readonly unknown[]): Result;
  /**
   * Optional, worker backend: turns what the JS twin returned in a worker (a structured clone)
   * into the caller's result, on the pool's thread, given the call's validated arguments. For
   * kernels that work on the caller's own memory: sort writes a copied array's sorted elements
   * back into the caller's array and resolves with that array.
   */
  fromWorker?(value: unknown, args: readonly unknown[]): Result;
  /**
   * Optional, native backend: a map chunk's validated tuples repacked as one call of another
   * C++ kernel (`kernel`, by registry name) whose result is what the chunk's would have been,
   * or undefined to send the chunk as it is. For chunks of small messages, where handing each
   * message to the addon costs more than the kernel's work on it.
   */
  packBatch?(calls: readonly (readonly unknown[])[]): { kernel: string; args: unknown[] } | undefined;
  /** Type-level only: lets `pool.apply(kernel, args)` infer the result type. */
  readonly [resultBrand]?: { args: Args; result: Result } & ResultFnOf<By>;
}

/**
 * A user's JavaScript function, named by its module and export, made by `task()`. It runs only
 * on the worker backend: functions cannot cross threads, so each worker imports the module
 * itself. `Args` and `Result` are the function's parameters and (awaited) return type.
 */
export interface JsTask<Args extends readonly unknown[] = readonly any[], Result = unknown> {
  readonly kind: 'task';
  /** For messages: "exportName from module". */
  readonly name: string;
  /** The module, as a file: URL (or any URL `import()` accepts). */
  readonly module: string;
  readonly exportName: string;
  /** Checks that the arguments are an array; their contents travel by structured clone. */
  validate(args: readonly unknown[]): unknown[];
  /** Type-level only. */
  readonly [resultBrand]?: { args: Args; result: Result };
}

/** Anything a Pool method accepts as its task: a built-in kernel or a user's JS task. */
export type Task<Args extends readonly unknown[] = readonly any[], Result = unknown> = Kernel<Args, Result> | JsTask<Args, Result>;

/** Any task, whatever its types; what the pool's internals pass around. */
export type Runnable = Kernel<any, any> | JsTask<any, any>;

export type ArgsOf<T> = T extends Kernel<infer A, any> ? A : T extends JsTask<infer A, any> ? A : never;
export type ResultOf<T> = T extends Kernel<any, infer R> ? R : T extends JsTask<any, infer R> ? R : never;
/**
 * The result of calling task `T` with arguments of type `A`: its ResultFn's answer if it has one,
 * else ResultOf<T>. The answer is kept within ResultOf<T> (Extract), so code generic in the task
 * (`<T extends Task>(t: T, ...) => Promise<ResultOf<T>>`) can still return what a Pool method gives.
 */
export type ResultFor<T, A> = T extends { readonly [resultBrand]?: { readonly by: infer F extends ResultFn } }
  ? Extract<(F & { readonly args: A })['result'], ResultOf<T>>
  : ResultOf<T>;

/** Helper for kernel files: builds a frozen descriptor. `By`: see ResultFn. */
export function defineKernel<Args extends readonly unknown[], Result, By = unknown>(spec: {
  name: string;
  validate(args: readonly unknown[]): unknown[];
  run(args: readonly unknown[], ctx: KernelContext): Result;
  split?(args: readonly unknown[], parts: number): unknown[][];
  nextRound?(results: unknown[], pieces: readonly (readonly unknown[])[], args: readonly unknown[]): unknown[][] | undefined;
  combine?(results: unknown[], args: readonly unknown[]): Result;
  fromBytes?(bytes: Buffer, start: number, end: number, args: readonly unknown[]): Result;
  fromWorker?(value: unknown, args: readonly unknown[]): Result;
  packBatch?(calls: readonly (readonly unknown[])[]): { kernel: string; args: unknown[] } | undefined;
}): Kernel<Args, Result, By> {
  return Object.freeze(markGenuine({ kind: 'kernel' as const, ...spec })) as Kernel<Args, Result, By>;
}
