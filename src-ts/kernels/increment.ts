// increment(counter, by = 1): adds atomically to a SharedCounter and returns the new value.
import { SharedCounter } from '../shared/counter.js';
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
    return (args[0] as SharedCounter).add(args[1] as number);
  },
});
