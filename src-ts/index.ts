// spindle's public API. See README.md for the manual and ../shared/DESIGN.md for the contract.
export { Pool, AsyncResult } from './pool.js';
export type {
  PoolOptions,
  PoolStats,
  PoolState,
  CallOptions,
  ApplyOptions,
  AsyncCallOptions,
  MapOptions,
  MapAsyncOptions,
  ImapOptions,
} from './pool.js';
export { kernels } from './kernels/index.js';
export type { Kernel, KernelContext, Task, JsTask, ArgsOf, ResultOf, ResultFor, ResultFn } from './kernels/index.js';
export type { Digest, DigestEncoding, DigestOptions, Sha256Data, Sha256FilePath } from './kernels/index.js';
export { task, taskContext, withTransfer } from './task.js';
export type { TaskContext } from './task.js';
export { SharedCounter } from './shared/counter.js';
export { SharedValue } from './shared/value.js';
export type { SharedValueType, SharedValueInput } from './shared/value.js';
export { Lock, LockOwnershipError } from './shared/lock.js';
export { backendInfo } from './backends/select.js';
export { serve } from './serve/serve.js';
export type { ServeOptions, ServeHandle } from './serve/serve.js';
export type { BackendInfo, BackendChoice } from './backends/select.js';
export type { TimeSummary } from './internal/histogram.js';
export type { WorkerUtilization } from './backends/backend.js';
export {
  AbortError,
  PoolClosedError,
  PoolStateError,
  QueueFullError,
  TimeoutError,
  WorkerCrashError,
} from './errors.js';
