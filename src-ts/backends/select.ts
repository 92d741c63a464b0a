// Choosing a backend: what `backend: 'auto' | 'native' | 'worker'` resolves to, and why.

import { loadAddon } from './addon.js';
import type { Backend } from './backend.js';
import { NativeBackend } from './native.js';

export type BackendChoice = 'auto' | 'native' | 'worker';

export interface BackendInfo {
  /** True when the native addon loaded in this process. */
  native: boolean;
  /** Why the addon did not load (one line), when it did not. */
  reason?: string;
  /** Where the addon was loaded from. */
  path?: string;
  /** Native threads started so far (they start on the first native Pool). */
  threads?: number;
  /** CPU features the kernels may use. */
  cpuFeatures?: string;
  /** The N-API version the addon was built for. */
  napiVersion?: number;
}

export function backendInfo(): BackendInfo {
  const load = loadAddon();
  if (!load.ok) return { native: false, reason: load.reason };
  return {
    native: true,
    path: load.path,
    threads: load.addon.threadCount(),
    cpuFeatures: load.addon.cpuFeatures(),
    napiVersion: load.addon.napiVersion,
  };
}

export function openBackend(choice: BackendChoice, size: number): Backend {
  if (choice === 'worker') {
    throw new Error("backend 'worker' is not available yet in this version of spindle: use 'native' or 'auto'");
  }
  const load = loadAddon();
  if (!load.ok) {
    throw new Error(`spindle's native addon did not load (${load.reason}); the worker backend that replaces it is not available yet in this version`);
  }
  return new NativeBackend(load.addon, size, load.path);
}
