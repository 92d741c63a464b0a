// TaskTimes: how long the pool's tasks waited and ran, for stats().waitTime, runTime and
// utilization. One per Scheduler; touched only on the pool's thread.
//
// What is measured, and where:
// - acceptedAt: when the pool accepted the call (performance.now(), this thread), read through
//   clock() below;
// - startedAt, runMs: where the task ran. A native thread stamps the job with CLOCK_MONOTONIC as
//   it takes it up and again as it completes (src-cpp/core/job.cpp), the clock
//   performance.now() is read from; a worker reads its own performance.now(), whose origin is
//   the process's, as it claims and settles the task. The backend hands both over with the
//   task's outcome (Dispatch.timed, PlainSink.plainTimed).
// waitTime is startedAt - acceptedAt; runTime is runMs. A task that never started (cancelled
// while it waited, or lost with a crashed worker before its reply left) is in neither.
//
// clock(): performance.now() costs about 50 ns, half the pool's whole cost per task in a burst
// on the native backend, so acceptance stamps are shared: one reading serves up to
// STAMP_REUSE acceptances within one synchronous run of code, and none outlives it (a microtask
// retires it). A stamp is therefore early by at most the time the caller took to submit
// STAMP_REUSE calls, which only makes waits look that much longer.

import { performance } from 'node:perf_hooks';
import { Histogram } from './histogram.js';

const STAMP_REUSE = 64;

export class TaskTimes {
  readonly wait = new Histogram();
  readonly run = new Histogram();
  readonly createdAt = performance.now();
  private stamp = 0;
  private stampsLeft = 0;
  private retiring = false;
  private readonly retire = (): void => {
    this.retiring = false;
    this.stampsLeft = 0;
  };

  /** The acceptance time of a call accepted now (see the top of this file). */
  clock(): number {
    if (this.stampsLeft > 0) {
      this.stampsLeft--;
      return this.stamp;
    }
    this.stamp = performance.now();
    this.stampsLeft = STAMP_REUSE - 1;
    if (!this.retiring) {
      this.retiring = true;
      queueMicrotask(this.retire);
    }
    return this.stamp;
  }

  /** A task accepted at `acceptedAt` started at `startedAt` and ran `runMs` (all in ms, performance.now()'s clock). */
  record(acceptedAt: number, startedAt: number, runMs: number): void {
    this.wait.record(startedAt - acceptedAt);
    this.run.record(runMs);
  }

  /** Milliseconds since the pool was created. */
  age(): number {
    return performance.now() - this.createdAt;
  }
}
