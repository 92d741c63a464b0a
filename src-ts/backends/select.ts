// Choosing a backend: what `backend: 'auto' | 'native' | 'worker'` resolves to, and why.

import { loadAddon } from './addon.js';
import type { Backend } from './backend.js';
import { NativeBackend } from './native.js';
import { WorkerBackend, type WorkerBackendOptions } from './worker.js';

export type BackendChoice = 'auto' | 'native' | 'worker';

export interface BackendInfo {
  /** What `backend: 'auto'` picks in this process: 'native' when the addon loaded, else 'worker' (SPINDLE_BACKEND overrides). */
  backend: 'native' | 'worker';
  /** True when the native addon loaded in this process. */
  native: boolean;
  /** Why the addon did not load (one line), when it did not. */
  reason?: string;
  /** Set when the SPINDLE_BACKEND environment variable decided `backend`. */
  override?: 'native' | 'worker';
  /** Where the addon was loaded from. */
  path?: string;
  /** Native threads started so far (they start on the first native Pool). */
  threads?: number;
  /** CPU features the kernels may use. */
  cpuFeatures?: string;
  /** The SHA-256 code path the native kernels use: 'shani', 'avx2' or 'portable' (SPINDLE_SHA256_PATH can force one). */
  sha256Path?: string;
  /** The N-API version the addon was built for. */
  napiVersion?: number;
}

/** SPINDLE_BACKEND, when it names a backend. Any other value is an error at the first Pool. */
function environmentChoice(): 'native' | 'worker' | undefined {
  const value = process.env.SPINDLE_BACKEND;
  if (value === undefined || value === '' || value === 'auto') return undefined;
  if (value === 'native' || value === 'worker') return value;
  throw new RangeError(`the environment variable SPINDLE_BACKEND must be 'native', 'worker' or 'auto', got ${JSON.stringify(value)}`);
}

/** Which backend this process runs, and why; loads the addon if nothing has yet. Never throws. */
export function backendInfo(): BackendInfo {
  const load = loadAddon();
  let override: 'native' | 'worker' | undefined;
  try {
    override = environmentChoice();
  } catch {
    override = undefined;
  }
  const backend = override ?? (load.ok ? 'native' : 'worker');
  const overridden = override === undefined ? {} : { override };
  if (!load.ok) return { backend, native: false, reason: load.reason, ...overridden };
  return {
    backend,
    native: true,
    ...overridden,
    path: load.path,
    threads: load.addon.threadCount(),
    cpuFeatures: load.addon.cpuFeatures(),
    sha256Path: load.addon.sha256Path(),
    napiVersion: load.addon.napiVersion,
  };
}

/**
 * Opens the backend a Pool asked for. 'auto' is SPINDLE_BACKEND when set, else native when the
 * addon loads and the worker backend otherwise, silently. Asking for 'native' explicitly where
 * the addon cannot load is an error that says why.
 */
export function openBackend(choice: BackendChoice, options: WorkerBackendOptions): Backend {
  const resolved = choice === 'auto' ? (environmentChoice() ?? (loadAddon().ok ? 'native' : 'worker')) : choice;
  if (resolved === 'worker') return new WorkerBackend(options);
  const load = loadAddon();
  if (!load.ok) {
    throw new Error(`spindle's native addon did not load (${load.reason}): use backend 'worker' or 'auto'`);
  }
  return new NativeBackend(load.addon, options.size, load.path);
}
