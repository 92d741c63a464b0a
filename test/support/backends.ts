// The backends the conformance suite runs on: every real backend this build can open. Each
// entry makes a Pool on that backend; tests must not depend on which one it is.

import { backendInfo } from '../../src-ts/backends/select.js';
import { Pool, type PoolOptions } from '../../src-ts/pool.js';

export interface BackendUnderTest {
  name: string;
  make(options?: PoolOptions): Pool;
}

export function availableBackends(): BackendUnderTest[] {
  const backends: BackendUnderTest[] = [];
  if (backendInfo().native) backends.push({ name: 'native', make: (options) => new Pool({ ...options, backend: 'native' }) });
  // Always available: it needs only the built worker runtime (npm test builds it first).
  backends.push({ name: 'worker', make: (options) => new Pool({ ...options, backend: 'worker' }) });
  return backends;
}
