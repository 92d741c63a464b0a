// Per-call cancellation sources: an AbortSignal and a timeout, armed at the call and disarmed
// when the call settles.
//
// One 'abort' listener per signal, not per call: many calls commonly share one signal (a
// request's, a shutdown's), and a listener each would trip Node's EventTarget leak warning past
// ten and cost an add/remove pair per task. Calls sharing a signal sit in one group; the last
// one to leave removes the listener, so nothing accumulates on a long-lived signal.
// Calls with neither a signal nor a timeout pay for none of this.

import { isProxy } from 'node:util/types';
import { AbortError, TimeoutError } from '../errors.js';
import { intrinsicGetter } from '../kernels/args.js';

// A caller's signal is read and listened to through AbortSignal's and EventTarget's own
// methods, taken at load, never through properties of the object: an own `aborted` getter or
// `addEventListener` on it ran the caller's code between a call's checks and its admission
// (terminating the pool there left the call unsettled), and could hide an abort from the call.
const abortedOf = intrinsicGetter<boolean>(AbortSignal.prototype, 'aborted')!;
const reasonOf = intrinsicGetter<unknown>(AbortSignal.prototype, 'reason')!;
const addListener = EventTarget.prototype.addEventListener;
const removeListener = EventTarget.prototype.removeEventListener;

/**
 * Whether `value` is an AbortSignal made by Node (its own getter accepts it), not a look-alike,
 * and not a Proxy of one (whose traps would run the caller's code at each read).
 */
export function isAbortSignal(value: unknown): value is AbortSignal {
  if (typeof value !== 'object' || value === null || isProxy(value)) return false;
  try {
    abortedOf.call(value);
    return true;
  } catch {
    return false;
  }
}

/** Whether `signal` (a genuine one: isAbortSignal) has been aborted, whatever its own properties say. */
export function isAborted(signal: AbortSignal | undefined): signal is AbortSignal {
  return signal !== undefined && abortedOf.call(signal);
}

/** A call that a signal or a timer can end early. */
export interface Watched {
  /** Set by watch(), cleared by unwatch(); read only here. */
  signal: AbortSignal | undefined;
  timer: NodeJS.Timeout | undefined;
  timeout: number;
  /** Ends the call with `error`. Must be a no-op once the call has settled. */
  abort(error: Error): void;
}

class SignalGroup {
  readonly calls = new Set<Watched>();

  constructor(private readonly signal: AbortSignal) {}

  handleEvent(): void {
    groups.delete(this.signal);
    const calls = Array.from(this.calls);
    this.calls.clear();
    // Every call leaves the group before any is aborted: aborting one runs user code (a
    // callback), which may end the others first (terminate()), and unwatch() must find each of
    // them already out of this group rather than in a group that no longer exists.
    for (const call of calls) call.signal = undefined;
    for (const call of calls) call.abort(abortErrorFor(this.signal));
  }
}

const groups = new WeakMap<AbortSignal, SignalGroup>();

/**
 * Signals whose group, listener included, stays when its last call leaves: those of
 * AbortControllers that spindle itself reuses from call to call (serve's, one per running job),
 * where adding and removing the listener for each call was most of what the signal cost (8-10
 * us of a job's 20). Never a caller's signal: an AbortSignal.timeout() with a listener is held
 * until it fires, so a kept listener would hold each such signal for as long as its timeout.
 */
const reused = new WeakSet<AbortSignal>();

/** Marks `signal` (of an AbortController spindle reuses from call to call) as one whose listener stays between calls. */
export function keepListening(signal: AbortSignal): void {
  reused.add(signal);
}

export function abortErrorFor(signal: AbortSignal): AbortError {
  return new AbortError('the task was aborted', { cause: reasonOf.call(signal) });
}

function onTimeout(call: Watched): void {
  call.timer = undefined;
  call.abort(new TimeoutError(`the task did not settle within its timeout of ${call.timeout} ms`));
}

/** Arms the call's cancellation sources. The signal must not be aborted already. */
export function watch(call: Watched, signal: AbortSignal | undefined, timeout: number | undefined): void {
  if (signal !== undefined) {
    let group = groups.get(signal);
    if (group === undefined) {
      group = new SignalGroup(signal);
      groups.set(signal, group);
      addListener.call(signal, 'abort', group, { once: true });
    }
    group.calls.add(call);
    call.signal = signal;
  }
  if (timeout !== undefined) {
    call.timeout = timeout;
    call.timer = setTimeout(onTimeout, timeout, call);
  }
}

/** Disarms whatever watch() armed; safe to call on a call that was never watched. */
export function unwatch(call: Watched): void {
  if (call.timer !== undefined) {
    clearTimeout(call.timer);
    call.timer = undefined;
  }
  const signal = call.signal;
  if (signal !== undefined) {
    call.signal = undefined;
    const group = groups.get(signal);
    if (group === undefined) return;
    group.calls.delete(call);
    if (group.calls.size === 0 && !reused.has(signal)) {
      groups.delete(signal);
      removeListener.call(signal, 'abort', group);
    }
  }
}
