// increment(counter, by = 1): adds atomically to a SharedCounter and returns the new value.
import { isSafeBigInt, SharedCounter } from '../shared/counter.js';
import { checkArity, checkInteger, describe } from './args.js';
import { defineKernel } from './types.js';

export const increment = defineKernel<[counter: SharedCounter, by?: number], number>({
  name: 'increment',
  validate(args) {
    checkArity('increment', args, 1, 2, 'counter, by?');
    const counter = args[0];
    if (!(counter instanceof SharedCounter)) {
      throw new TypeError(`increment: counter must be a SharedCounter, got ${describe(counter)}`);
    }
    const by = args.length < 2 || args[1] === undefined ? 1 : checkInteger('increment', 'by', args[1], Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    return [counter, by];
  },
  run(args) {
    // As a bigint, so that the new value comes back exact; run() called directly with no `by`
    // or a bad one still gets add()'s default and add()'s error.
    const by = (args[1] ?? 1) as number;
    const after = (args[0] as SharedCounter).add(Number.isSafeInteger(by) ? BigInt(by) : by) as bigint | number;
    if (typeof after === 'number') return after;
    // The C++ kernel's words, so that a call fails alike on either backend (add(number)'s own
    // error did not name the kernel).
    if (!isSafeBigInt(after)) throw new RangeError(`increment: the counter's new value ${after} is beyond 2^53; read counter.bigint instead`);
    return Number(after);
  },
});
