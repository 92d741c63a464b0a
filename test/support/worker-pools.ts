// Worker-backend pools for a test file: each test makes what it needs, and every pool made is
// terminated after the test, whatever the test left running.
import { afterEach } from 'vitest';
import { Pool, type PoolOptions } from '../../src-ts/pool.js';

/** Registers the cleanup; returns the factory (size 2 unless the options say otherwise). */
export function useWorkerPools(): (options?: PoolOptions) => Pool {
  const pools: Pool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.terminate()));
  });
  return (options) => {
    const pool = new Pool({ size: 2, ...options, backend: 'worker' });
    pools.push(pool);
    return pool;
  };
}
