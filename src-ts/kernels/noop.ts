// noop(x?): returns its number argument (0 when absent). Measures dispatch overhead and ordering.
import { checkArity, checkFinite } from './args.js';
import { defineKernel } from './types.js';

export const noop = defineKernel<[x?: number], number>({
  name: 'noop',
  validate(args) {
    checkArity('noop', args, 0, 1, 'x?');
    return [args.length === 0 || args[0] === undefined ? 0 : checkFinite('noop', 'x', args[0])];
  },
  run(args) {
    return args[0] as number;
  },
});
