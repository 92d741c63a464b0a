// Each call option is read exactly once, into a snapshot, before the call is checked or accepted
// (issue #8 item 17): a getter that answers differently on a second read cannot make a call
// throw after it was accepted, which used to orphan its promise and kill the process.
import { describe, expect, it } from 'vitest';
import { kernels } from '../src-ts/index.js';
import { availableBackends } from './support/backends.js';

const KEYS = ['signal', 'timeout', 'progress', 'transfer', 'callback', 'errorCallback', 'chunkSize', 'window'];

/** Options whose every getter counts its reads and answers "nothing" first, garbage after. */
function fickleOptions(): { options: object; reads: Record<string, number> } {
  const reads: Record<string, number> = {};
  const options = {};
  for (const key of KEYS) {
    reads[key] = 0;
    Object.defineProperty(options, key, {
      enumerable: true,
      get() {
        reads[key]++;
        return reads[key] === 1 ? undefined : 'garbage';
      },
    });
  }
  return { options, reads };
}

describe.each(availableBackends())('$name backend', ({ make }) => {
  const calls: Record<string, (pool: any, options: object) => Promise<unknown>> = {
    apply: (pool, o) => pool.apply(kernels.noop, [7], o),
    applyAsync: (pool, o) => pool.applyAsync(kernels.noop, [7], o).get(),
    submit: async (pool, o) => (await pool.submit(kernels.noop, [7], o)).get(),
    map: (pool, o) => pool.map(kernels.noop, [7], o),
    mapAsync: (pool, o) => pool.mapAsync(kernels.noop, [7], o).get(),
    starmap: (pool, o) => pool.starmap(kernels.noop, [[7]], o),
    imap: async (pool, o) => { const out = []; for await (const r of pool.imap(kernels.noop, [7], o)) out.push(r); return out; },
    istarmapUnordered: async (pool, o) => { const out = []; for await (const r of pool.istarmapUnordered(kernels.noop, [[7]], o)) out.push(r); return out; },
  };
  it.each(Object.keys(calls))('%s reads each option once and runs as the first read said', async (shape) => {
    const pool = make({ size: 1 });
    try {
      const { options, reads } = fickleOptions();
      const result = await calls[shape]!(pool, options);
      expect(result === 7 || (Array.isArray(result) && result[0] === 7)).toBe(true);
      for (const key of KEYS) expect({ key, reads: reads[key] }).toEqual({ key, reads: 1 });
    } finally {
      await pool.terminate();
    }
  });
});

describe('Pool options', () => {
  it('are read once each, resourceLimits too: a getter that answers differently later changes nothing', async () => {
    const reads: Record<string, number> = {};
    const fickle = <T>(target: object, key: string, first: T, later: unknown) => {
      reads[key] = 0;
      Object.defineProperty(target, key, {
        enumerable: true,
        get() {
          reads[key]!++;
          return reads[key] === 1 ? first : later;
        },
      });
    };
    const options = {};
    const resourceLimits = {};
    fickle(options, 'backend', 'worker', 'bogus');
    fickle(options, 'size', 1, 1e9);
    fickle(options, 'maxQueue', 10, 'abc');
    fickle(options, 'onQueueFull', 'reject', 'sometimes');
    fickle(options, 'concurrentTasksPerWorker', 1, 5000);
    fickle(options, 'closeTimeout', 1000, -1);
    fickle(options, 'cancelGrace', 1000, -1);
    // Below 1 MB Node cannot start a worker and ends the whole process: this one stays at 4.
    fickle(resourceLimits, 'stackSizeMb', 4, 4);
    fickle(options, 'resourceLimits', resourceLimits, { stackSizeMb: 0.1 });
    fickle(options, 'execArgv', [], ['--bogus-flag']);
    const { Pool } = await import('../src-ts/pool.js');
    const pool = new Pool(options as never);
    try {
      expect(pool.backend).toBe('worker');
      expect(pool.size).toBe(1);
      expect(await pool.apply(kernels.noop, [7])).toBe(7);
      for (const key of Object.keys(reads)) expect({ key, reads: reads[key] }).toEqual({ key, reads: 1 });
    } finally {
      await pool.terminate();
    }
  });
});
