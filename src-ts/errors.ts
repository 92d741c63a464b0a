// Error classes users test with `instanceof` (and by `name`, which survives structured clone).

/** A submission was made after close() or terminate(). */
export class PoolClosedError extends Error {
  override name = 'PoolClosedError';
  constructor(message = 'the pool is closed: no new tasks are accepted') {
    super(message);
  }
}

/** The admission queue was full and the pool was created with `onQueueFull: 'reject'`. */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
  constructor(readonly maxQueue: number) {
    super(`the pool's queue is full (maxQueue = ${maxQueue})`);
  }
}

/** A task ran past its `timeout`, or `AsyncResult.get(ms)` waited longer than `ms`. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
  constructor(message: string) {
    super(message);
  }
}

/**
 * A task was cancelled: its AbortSignal fired, or terminate() cancelled it. `cause` holds the
 * signal's reason when there is one. Named 'AbortError' like DOM cancellations, so code that
 * checks `err.name === 'AbortError'` handles it.
 */
export class AbortError extends Error {
  override name = 'AbortError';
  constructor(message = 'the task was cancelled', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The worker running a task died (crash, process.exit in the task, out of memory). */
export class WorkerCrashError extends Error {
  override name = 'WorkerCrashError';
  /**
   * The code of the error the worker died of, when it had one (a string): Node's
   * 'ERR_WORKER_OUT_OF_MEMORY' for a worker past its resourceLimits, or the code of the task's
   * own uncaught error. Absent (not even an own property) otherwise.
   */
  declare readonly code?: string;
  constructor(message: string, options?: { cause?: unknown; code?: string | undefined }) {
    super(message, options);
    if (options?.code !== undefined) (this as { code?: string }).code = options.code;
  }
}

/** A lifecycle method was called out of order, e.g. join() before close(). */
export class PoolStateError extends Error {
  override name = 'PoolStateError';
  constructor(message: string) {
    super(message);
  }
}
