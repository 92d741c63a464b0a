// Every built-in kernel, as users reach them: `kernels.countPrimes`, ...
import { countPrimes } from './countPrimes.js';
import { increment } from './increment.js';
import { noop } from './noop.js';

export const kernels = Object.freeze({ noop, increment, countPrimes });

export type { Kernel, KernelContext, Task, JsTask, ArgsOf, ResultOf } from './types.js';
