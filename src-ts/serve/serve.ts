// `spindle serve`, programmatically: a BullMQ Worker that runs each job on a local spindle Pool.
//
// The processor only decodes, hands the call to the Pool and awaits it: the CPU work runs on
// the pool's threads or workers, so this process's event loop stays free and BullMQ renews
// job locks on time however long a job computes. That is the difference from a plain
// in-process BullMQ worker, whose CPU-bound processor blocks lock renewal and gets its jobs
// marked stalled and run twice.
//
// Jobs are taken up to the pool's size at once (the Worker's concurrency). A client cancels a
// running job by publishing its id on cancelChannel(queue); the job's call is aborted and the
// job fails with an AbortError (its client has settled already).
//
// Outcomes and progress go to the job's client on its reply channel (replies.ts): a result as
// the job returns it, a failure (or a result too large to publish) once BullMQ has recorded it
// (the Worker's 'completed'/'failed' events come after that).

import type { Job, Worker } from 'bullmq';
import { Pool } from '../pool.js';
import { isSafeBigInt, SharedCounter } from '../shared/counter.js';
import { channelRefusal, checkTimeoutMs, CredentialsCheck, describeConnection, forceClose, loadBullmq, MAX_TIMEOUT_MS, readyWithin, redisOptions, selectDatabase, type QueueConnection } from '../backends/queue/bullmq.js';
import { cancelChannel, subscriberOf, type PubSubClient } from '../backends/queue/client.js';
import { encode } from '../backends/queue/codec.js';
import { failureReason, readJobData } from '../backends/queue/wire.js';
import { completedLargeMessage, completedMessage, failedMessage, progressMessage, replyChannel, replyChannelOf } from '../backends/queue/replies.js';
import { findUnknownOption, unknownOptionError } from '../internal/option-names.js';
import { namesOf } from '../internal/options.js';
import { keepListening } from '../internal/watch.js';
import { buildRegistry, registeredNames, type Registry } from './registry.js';

export interface ServeOptions {
  /** The BullMQ queue to serve. */
  queue: string;
  /** A redis:// URL or ioredis options. */
  connection: QueueConnection;
  /** The pool that runs the jobs. Default: a new Pool() (which serve's handle closes). */
  pool?: Pool | undefined;
  /** Task modules (paths or file URLs) whose function exports this server runs, beside the built-in kernels. */
  tasks?: readonly (string | URL)[] | undefined;
  /** BullMQ's lockDuration (ms): how long a job's lock lasts between renewals. Default 30000. */
  lockDuration?: number | undefined;
  /** BullMQ's stalledInterval (ms): how often this server looks for jobs whose lock expired. Default 30000. */
  stalledInterval?: number | undefined;
  /** ms to wait for Redis at start before serve() rejects. Default: the connection's connectTimeout, else 10000. */
  connectTimeout?: number | undefined;
  /**
   * Called with each error the BullMQ worker or the cancel subscriber reports while serving, once
   * serve() has resolved (Redis connection errors, a job whose data BullMQ cannot parse).
   * Default: none is reported.
   * `spindle serve` prints them, one line each, at most one a second.
   */
  onError?: ((error: Error) => void) | undefined;
}

/** What close() found. */
export interface ServeClosed {
  /**
   * Jobs this server had taken and not finished in Redis when close() gave up waiting (Redis
   * unreachable): their locks expire and another server runs them again. 0 after a graceful close.
   */
  abandoned: number;
  /** True when close() gave up on a graceful close (Redis unreachable) and dropped the connections. */
  forced: boolean;
}

export interface ServeHandle {
  /** The pool running the jobs. */
  readonly pool: Pool;
  /** The names this server runs ('kernel:countPrimes', 'task:tasks.js#resize', ...). */
  readonly tasks: readonly string[];
  /**
   * Takes no new jobs, waits for the running ones to finish, then closes the connections (and
   * the pool, if serve made it). Bounded: once the running jobs are done, or while Redis is
   * unreachable, it waits at most CLOSE_WAIT_MS (5 s) more, then aborts what still runs and
   * drops the connections, resolving with the jobs it abandoned.
   */
  close(): Promise<ServeClosed>;
}

/**
 * The most cancel requests EarlyCancels keeps. Clients publish every cancel, for waiting jobs
 * they removed too, and every server hears each one: kept a minute each, a client cancelling
 * thousands of calls a second (or anything publishing on the channel) grew every server by about
 * 130 B a request (39 MB for 300 000). The request it must keep waits only for one fetch.
 */
export const EARLY_CANCELS_MAX = 10_000;

/**
 * Cancel requests for jobs this server does not run (yet): a job may be fetched between the
 * client's failed removal and its runJob() start. Kept for a minute, then forgotten (and the
 * oldest past EARLY_CANCELS_MAX); a request for a job another server runs is simply never used here.
 */
export class EarlyCancels {
  readonly #at = new Map<string, number>();

  add(jobId: string): void {
    const now = Date.now();
    for (const [id, at] of this.#at) {
      if (now - at < 60_000 && this.#at.size < EARLY_CANCELS_MAX) break; // insertion order: the rest are younger
      this.#at.delete(id);
    }
    this.#at.set(jobId, now);
  }

  get size(): number {
    return this.#at.size;
  }

  take(jobId: string): boolean {
    return this.#at.delete(jobId);
  }
}

/**
 * AbortControllers for running jobs, reused from job to job: a fresh controller per job (its
 * signal's first listener sets up a new EventTarget) measured 8-20 µs of CPU per apply, a reused
 * one about 3. Only a controller that was never aborted comes back; and it comes back after its
 * job left `running`, so a cancel request that arrives late cannot reach the job that reuses it.
 */
class Controllers {
  readonly #free: AbortController[] = [];

  constructor(private readonly keep: number) {}

  take(): AbortController {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const controller = new AbortController();
    keepListening(controller.signal); // the pool's abort listener on it stays from job to job
    return controller;
  }

  give(controller: AbortController): void {
    if (!controller.signal.aborted && this.#free.length < this.keep) this.#free.push(controller);
  }
}

/**
 * How often a running job's progress counter is copied to the job (one Redis command and one
 * event, only when it moved). Often enough that a job of a fraction of a second reports while
 * it runs, not only at its end: at 200 ms a 0.2 s countPrimes sometimes reported nothing
 * before it finished.
 */
const PROGRESS_EVERY_MS = 50;

/**
 * A running job's progress as the job reports it: a JSON number, which the client takes only
 * while it is a safe integer. A task may report bigint units, and its counter's `value` then
 * throws a RangeError beyond ±2^53, which in the reporting timer crashed the server (and after
 * the run failed the job). So the count is held at ±(2^53 - 1) there: the client's counter stops
 * at that bound instead of being told a rounded number.
 */
function reportedProgress(counter: SharedCounter): number {
  const done = counter.bigint;
  if (isSafeBigInt(done)) return Number(done);
  return done > 0n ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
}

/**
 * How long close() waits, once this server's running jobs are done or while Redis is
 * unreachable, before it gives up on a graceful close (BullMQ's close() awaits Redis: with Redis
 * down it waited for ever, and a SIGTERM did nothing).
 */
export const CLOSE_WAIT_MS = 5_000;

/**
 * Stops a Worker whose graceful close() is stuck: with Redis unreachable it waits for ever for
 * its blocking connection's 'end' (ioredis emits none for a client between reconnects), before
 * it stops its lock renewal timer, which kept the process alive after everything else closed.
 * worker.close(true) cannot help once close() was called (it returns the same promise): the
 * same steps are taken here, through BullMQ's own (protected) fields.
 */
function forceCloseWorker(worker: Worker): void {
  forceClose(worker);
  const internals = worker as unknown as { lockManager?: { close?: () => Promise<void> }; stalledCheckStopper?: () => void };
  internals.lockManager?.close?.().catch(() => {});
  internals.stalledCheckStopper?.();
}

/** `value` as a timer's ms: an integer in [1, 2^31 - 1]. */
function checkIntegerMs(name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be an integer number of ms, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`);
  if (!Number.isInteger(value) || value < 1 || value > MAX_TIMEOUT_MS) throw new RangeError(`${name} must be an integer number of ms in [1, ${MAX_TIMEOUT_MS}], got ${value}`);
  return value;
}

function checkTasks(tasks: unknown): readonly (string | URL)[] {
  if (tasks === undefined) return [];
  if (!Array.isArray(tasks)) throw new TypeError(`serve: options.tasks must be an array of module paths or file URLs, got ${typeof tasks === 'string' ? `the string ${JSON.stringify(tasks)} (wrap it in [ ])` : tasks === null ? 'null' : typeof tasks}`);
  tasks.forEach((module: unknown, i) => {
    if (!(typeof module === 'string' && module !== '') && !(module instanceof URL)) {
      throw new TypeError(`serve: options.tasks[${i}] must be a module path or a file URL, got ${typeof module === 'string' ? 'an empty string' : module === null ? 'null' : typeof module}`);
    }
  });
  return tasks as (string | URL)[];
}

/** The names serve() takes: a misspelt one (`lockDuraton`) is refused rather than left at its default. */
const SERVE_OPTIONS = namesOf<ServeOptions>()(['queue', 'connection', 'pool', 'tasks', 'lockDuration', 'stalledInterval', 'connectTimeout', 'onError']);

export async function serve(options: ServeOptions): Promise<ServeHandle> {
  if (typeof options !== 'object' || options === null) throw new TypeError('serve: options must be an object with queue and connection');
  const unknown = findUnknownOption(options, SERVE_OPTIONS);
  if (unknown !== undefined) throw unknownOptionError('serve', unknown, SERVE_OPTIONS);
  if (typeof options.queue !== 'string' || options.queue === '' || options.queue.includes(':')) {
    throw new TypeError(`serve: options.queue must be a non-empty queue name without ':', got ${JSON.stringify(options.queue)}`);
  }
  if (options.pool !== undefined && !(options.pool instanceof Pool)) throw new TypeError('serve: options.pool must be a spindle Pool');
  if (options.pool?.backend === 'queue') throw new TypeError("serve: options.pool must run its tasks here (backend 'native' or 'worker'), not on another queue");
  const tasks = checkTasks(options.tasks);
  if (options.lockDuration !== undefined) checkIntegerMs('serve: options.lockDuration', options.lockDuration);
  if (options.stalledInterval !== undefined) checkIntegerMs('serve: options.stalledInterval', options.stalledInterval);
  if (options.connectTimeout !== undefined) checkTimeoutMs('serve: options.connectTimeout', options.connectTimeout);
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError('serve: options.onError must be a function');
  const bull = loadBullmq('serve');
  const connection = redisOptions('serve', options.connection);
  const registry = await buildRegistry(tasks);
  const ownPool = options.pool === undefined;
  const hasTasks = [...registry.values()].some((r) => r.kind === 'task');
  const pool = options.pool ?? new Pool(hasTasks ? { backend: 'worker' } : undefined);
  if (hasTasks && pool.backend !== 'worker') {
    if (ownPool) await pool.terminate();
    throw new TypeError("serve: task modules run only on a pool with backend 'worker'");
  }
  const running = new Map<string, AbortController>();
  const early = new EarlyCancels();
  const controllers = new Controllers(pool.size);
  const where = `queue '${options.queue}' on Redis at ${describeConnection(connection)}`;
  // The Worker's own connection, once serve() has connected: replies go out on it after the
  // commands that recorded what they report (ioredis keeps one connection's commands in order).
  let publisher: PubSubClient | undefined;
  const reply: Reply = (jobId, message) => {
    const channel = replyChannelOf(options.queue, jobId);
    // Lost with a connection that drops: the client looks the job up (client.ts's sweep).
    if (channel !== undefined && publisher !== undefined) publisher.publish(channel, message()).catch(() => {});
  };

  const worker: Worker = new bull.Worker(
    options.queue,
    (job: Job) => {
      if (job.id !== undefined) unfinished.add(job.id);
      return runJob(job, registry, pool, running, early, controllers, reply, repliedEarly);
    },
    {
      connection: { ...connection },
      concurrency: pool.size,
      autorun: false,
      ...(options.lockDuration === undefined ? {} : { lockDuration: options.lockDuration }),
      ...(options.stalledInterval === undefined ? {} : { stalledInterval: options.stalledInterval }),
    },
  );
  let lastError: Error | undefined;
  // Errors before serve() resolves are its rejection's business (the last one is quoted there).
  let serving = false;
  const credentials = new CredentialsCheck((error) => `serve: cannot use Redis for ${where}: it refuses this server's credentials (${error.message})`);
  const onError = (error: Error) => {
    lastError = error;
    credentials.note(error);
    if (!serving) return;
    try {
      options.onError?.(error);
    } catch {
      // A reporter's own failure must not reach BullMQ's emitter.
    }
  };
  worker.on('error', onError);
  // Jobs taken and not yet finished in Redis: what a close that gives up abandons.
  const unfinished = new Set<string>();
  // Jobs whose result runJob published as it returned.
  const repliedEarly = new WeakSet<Job>();
  worker.on('completed', (job: Job) => {
    if (job.id === undefined) return;
    unfinished.delete(job.id);
    if (!repliedEarly.has(job)) reply(job.id, () => completedLargeMessage(job.id!));
  });
  worker.on('failed', (job: Job | undefined, error: Error) => {
    if (job?.id === undefined) return;
    unfinished.delete(job.id);
    // Only a failure for good: BullMQ sets finishedOn as it records one, not for an attempt it
    // will retry (nor when it could not record the failure: the job runs again).
    if (typeof job.finishedOn === 'number') reply(job.id, () => failedMessage(job.id!, job.failedReason ?? error.message));
  });
  const timeout = options.connectTimeout ?? (connection.connectTimeout as number | undefined) ?? 10_000;
  let subscriber: PubSubClient | undefined;
  let redis: { status: string } | undefined;
  try {
    await readyWithin(worker.waitUntilReady(), timeout, () => `serve: cannot reach Redis for ${where} within ${timeout} ms${lastError === undefined ? '' : ` (${lastError.message})`}`, credentials.refused);
    // A database Redis refuses must stop the server, not leave it serving database 0's queue.
    await selectDatabase(worker.client, connection).catch((error: Error) => {
      throw new Error(`serve: ${where}: ${error.message}`, { cause: error });
    });
    const client = (await worker.client) as unknown as PubSubClient & { status: string };
    redis = client;
    publisher = client;
    const cancels = cancelChannel(options.queue);
    // Down again when it fails: the next reconnect subscribes.
    subscriber = subscriberOf(client, (again) => void again.subscribe(cancels).catch(() => {}));
    subscriber.on('error', onError);
    subscriber.on('message', (_channel, jobId) => {
      const controller = running.get(jobId);
      if (controller !== undefined) controller.abort(new Error(`queue job ${jobId} was cancelled by its client`));
      else early.add(jobId);
    });
    await subscriber.subscribe(cancels).catch((error: unknown) => {
      throw channelRefusal('this server', cancels, options.queue, error);
    });
    // Replies are published without a look at the outcome (a lost one costs its client a 10 s
    // lookup): a channel Redis refuses them must stop the server here, not slow every call.
    const replies = replyChannel(options.queue, '00000000-0000-0000-0000-000000000000');
    await client.publish(replies, '').catch((error: unknown) => {
      throw channelRefusal('this server', replies, options.queue, error);
    });
  } catch (error) {
    subscriber?.disconnect();
    forceClose(worker);
    await worker.close(true).catch(() => {});
    if (ownPool) await pool.terminate();
    throw error;
  }
  void worker.run().catch((error: unknown) => {
    lastError = error as Error;
  });

  let closing: Promise<ServeClosed> | undefined;
  serving = true;
  return {
    pool,
    tasks: [...registry.keys()],
    close() {
      closing ??= (async () => {
        // Running jobs get their time while Redis is reachable; once they are done, or while
        // Redis is unreachable, the close has CLOSE_WAIT_MS to complete.
        const graceful = worker.close().then(
          () => true,
          () => true,
        );
        let timer: NodeJS.Timeout | undefined;
        const closed = await Promise.race([
          graceful,
          new Promise<boolean>((resolve) => {
            let stuckSince: number | undefined;
            timer = setInterval(() => {
              if (running.size > 0 && redis!.status === 'ready') {
                stuckSince = undefined;
                return;
              }
              stuckSince ??= Date.now();
              if (Date.now() - stuckSince >= CLOSE_WAIT_MS) resolve(false);
            }, 100);
          }),
        ]);
        clearInterval(timer);
        const abandoned = closed ? 0 : unfinished.size;
        if (!closed) {
          for (const controller of running.values()) controller.abort(new Error('spindle serve closed while Redis was unreachable: the job is left for another server'));
          forceCloseWorker(worker);
          subscriber!.disconnect();
        } else {
          let quitTimer: NodeJS.Timeout | undefined;
          const quit = subscriber!.quit().then(() => true, () => false);
          if (!(await Promise.race([quit, new Promise<boolean>((resolve) => (quitTimer = setTimeout(resolve, CLOSE_WAIT_MS, false)))]))) subscriber!.disconnect();
          clearTimeout(quitTimer);
        }
        if (ownPool) {
          if (abandoned > 0) await pool.terminate();
          else {
            pool.close();
            await pool.join();
          }
        }
        return { abandoned, forced: !closed };
      })();
      return closing;
    },
  };
}

/** Sends a message about a job to its client, built only if the job has one. */
type Reply = (jobId: string, message: () => string) => void;

/** One job: its payload checked, its task looked up, run on the pool. Throws only errors whose message is a failureReason. */
async function runJob(job: Job, registry: Registry, pool: Pool, running: Map<string, AbortController>, early: EarlyCancels, controllers: Controllers, reply: Reply, repliedEarly: WeakSet<Job>): Promise<unknown> {
  const bull = loadBullmq('serve');
  let call: ReturnType<typeof readJobData>;
  try {
    call = readJobData(job.data);
  } catch (error) {
    // No attempt can fix a payload: UnrecoverableError fails the job at once.
    throw new bull.UnrecoverableError(failureReason(error));
  }
  const kernel = registry.get(call.task);
  if (kernel === undefined) {
    throw new bull.UnrecoverableError(failureReason(new Error(`this server does not run ${JSON.stringify(call.task)}; it runs ${registeredNames(registry)}`)));
  }
  const controller = controllers.take();
  const jobId = job.id!;
  if (early.take(jobId)) controller.abort(new Error(`queue job ${jobId} was cancelled by its client`));
  running.set(jobId, controller);
  const progress = call.progress ? new SharedCounter() : undefined;
  let reported = 0;
  const timer =
    progress === undefined
      ? undefined
      : setInterval(() => {
          const done = reportedProgress(progress);
          if (done !== reported) {
            reported = done;
            job.updateProgress(done).catch(() => {});
            reply(jobId, () => progressMessage(jobId, done));
          }
        }, PROGRESS_EVERY_MS);
  const options = { signal: controller.signal, ...(progress === undefined ? {} : { progress }) };
  const started = performance.now();
  try {
    const result = call.batch
      ? await pool.starmap(kernel as never, call.calls as never, { ...options, chunkSize: call.calls.length })
      : await pool.apply(kernel as never, call.calls[0] as never, options);
    const ms = performance.now() - started;
    const done = progress === undefined ? reported : reportedProgress(progress);
    if (done !== reported) {
      // Before the outcome, on the same connection: the client's counter is complete when its call settles.
      reply(jobId, () => progressMessage(jobId, done));
      await job.updateProgress(done).catch(() => {});
    }
    const returnvalue = { r: encode(result, 'the result'), ms };
    // Now rather than once BullMQ has recorded it: a Redis round trip sooner (replies.ts).
    const message = completedMessage(jobId, returnvalue);
    if (message !== undefined) {
      reply(jobId, () => message);
      repliedEarly.add(job);
    }
    return returnvalue;
  } catch (error) {
    // A job its client cancelled (the call has settled with an AbortError) must not be retried
    // when the call allowed attempts: UnrecoverableError ends it. (It was run again in full.)
    if (controller.signal.aborted) throw new bull.UnrecoverableError(failureReason(error, performance.now() - started));
    throw new Error(failureReason(error, performance.now() - started));
  } finally {
    if (timer !== undefined) clearInterval(timer);
    running.delete(jobId);
    controllers.give(controller);
  }
}
