// Every built-in kernel, as users reach them: `kernels.countPrimes`, ...
import { countPrimes } from './countPrimes.js';
import { increment } from './increment.js';
import { noop } from './noop.js';
import { sha256 } from './sha256.js';
import { sha256File } from './sha256File.js';
import { argsort, sort } from './sort.js';

export const kernels = Object.freeze({ noop, increment, countPrimes, sha256, sha256File, sort, argsort });

export type { Kernel, KernelContext, Task, JsTask, ArgsOf, ResultOf, ResultFor, ResultFn } from './types.js';
export type { Digest, DigestEncoding, DigestOptions } from './digest.js';
export type { Sha256Data } from './sha256.js';
export type { Sha256FilePath } from './sha256File.js';
export type { SortableArray, SortIndices } from './sort.js';
