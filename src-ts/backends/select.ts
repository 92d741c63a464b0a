// Choosing a backend: what `backend: 'auto' | 'native' | 'worker'` resolves to, and why.

import { loadAddon } from './addon.js';
import type { Backend } from './backend.js';
import { NativeBackend } from './native.js';
import { QueueBackend, type QueueBackendOptions } from './queue/client.js';
import { WorkerBackend, type WorkerBackendOptions } from './worker.js';
import { workerEntry } from './worker-start.js';

export type BackendChoice = 'auto' | 'native' | 'worker';

export interface BackendInfo {
  /**
   * What `backend: 'auto'` picks in this process: 'native' when the addon loaded, else 'worker'
   * when its runtime is there (SPINDLE_BACKEND overrides), else 'none': a bundle that inlined
   * spindle without its files, where `new Pool()` throws saying what to mark external.
   */
  backend: 'native' | 'worker' | 'none';
  /** True when the native addon loaded in this process. */
  native: boolean;
  /** Why the addon did not load (one line), when it did not. */
  reason?: string;
  /** True when the worker backend can start workers: its runtime, spindle's dist/worker.js, is there. */
  worker: boolean;
  /** Why the worker backend cannot run (one line), when it cannot. */
  workerReason?: string;
  /** Set when the SPINDLE_BACKEND environment variable decided `backend`. */
  override?: 'native' | 'worker';
  /**
   * Set when SPINDLE_BACKEND holds a value that names no backend: the error (one line) that every
   * Pool left on backend 'auto' throws until it is fixed. `backend` is then what 'auto' would pick
   * without the variable.
   */
  overrideError?: string;
  /** Where the addon was loaded from. */
  path?: string;
  /** Why that file: SPINDLE_ADDON, compiled here (build/Release), or the prebuild for this platform and libc. */
  why?: string;
  /** Native threads started so far (they start on the first native Pool). */
  threads?: number;
  /** CPU features the kernels may use. */
  cpuFeatures?: string;
  /** The SHA-256 code path the native kernels use: 'shani', 'avx2', 'armv8' or 'portable' (SPINDLE_SHA256_PATH can force one). */
  sha256Path?: string;
  /** The sort code path the native kernels use: 'avx2' (x86-64 CPUs with AVX2 and BMI2) or 'baseline' (SPINDLE_SORT_PATH=baseline forces it). */
  sortPath?: string;
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

/** Whether the worker backend can run here, or why not. */
function workerRuntime(): { ok: true } | { ok: false; reason: string } {
  try {
    workerEntry();
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

/** Which backend this process runs, and why; loads the addon if nothing has yet. Never throws. */
export function backendInfo(): BackendInfo {
  const load = loadAddon();
  const worker = workerRuntime();
  let override: 'native' | 'worker' | undefined;
  let overrideError: string | undefined;
  try {
    override = environmentChoice();
  } catch (error) {
    override = undefined;
    overrideError = (error as Error).message;
  }
  const backend = override ?? (load.ok ? 'native' : worker.ok ? 'worker' : 'none');
  const overridden = override !== undefined ? { override } : overrideError !== undefined ? { overrideError } : {};
  const workerFields = worker.ok ? { worker: true } : { worker: false, workerReason: worker.reason };
  if (!load.ok) return { backend, native: false, reason: load.reason, ...workerFields, ...overridden };
  return {
    backend,
    native: true,
    ...workerFields,
    ...overridden,
    path: load.path,
    why: load.why,
    threads: load.addon.threadCount(),
    cpuFeatures: load.addon.cpuFeatures(),
    sha256Path: load.addon.sha256Path(),
    sortPath: load.addon.sortPath(),
    napiVersion: load.addon.napiVersion,
  };
}

/**
 * Opens the backend a Pool asked for. 'auto' is SPINDLE_BACKEND when set, else native when the
 * addon loads and the worker backend otherwise, silently. Asking for 'native' explicitly where
 * the addon cannot load is an error that says why; one that cannot start workers (its runtime is
 * missing: a bundle that inlined spindle) is the error that says what to do.
 */
export function openBackend(choice: BackendChoice | 'queue', options: WorkerBackendOptions, queue?: Omit<QueueBackendOptions, 'size'>): Backend {
  if (choice === 'queue') return new QueueBackend({ ...queue!, size: options.size });
  const fromEnvironment = choice === 'auto' ? environmentChoice() : undefined;
  const resolved = choice === 'auto' ? (fromEnvironment ?? (loadAddon().ok ? 'native' : 'worker')) : choice;
  if (resolved === 'worker') return new WorkerBackend(options);
  const load = loadAddon();
  if (!load.ok) {
    const worker = workerRuntime();
    // Name the knob that asked for native: the option, or the environment variable behind 'auto'.
    const way = fromEnvironment === undefined ? "use backend 'worker' or 'auto'" : "SPINDLE_BACKEND=native asks for it: set SPINDLE_BACKEND to 'worker' or 'auto', or unset it";
    if (worker.ok) throw new Error(`spindle's native addon did not load (${load.reason}): ${way}`);
    // Neither backend can run: in a bundle both fail for the one reason, which says what to do.
    if (worker.reason === load.reason) throw new Error(load.reason);
    throw new Error(`spindle's native addon did not load (${load.reason}), and its worker backend cannot run either (${worker.reason})`);
  }
  return new NativeBackend(load.addon, options.size, load.path);
}
