// The queue backend: a Pool whose tasks run as BullMQ jobs on `spindle serve` processes.
//
// Each dispatch (one call, or one map chunk) becomes one job, with an id this client chooses
// (`<client uuid>-<seq>`), so it is known before the job exists. Dispatches made in one turn of
// the event loop are added with one addBulk. Servers publish outcomes and progress on this
// client's own channel (replies.ts), which it subscribes to before it adds a job; a sweep asks
// Redis directly about jobs it has not heard of for a while, and about every job in flight once
// its subscriber reconnects (a reply published meanwhile is lost), so a call never waits on a
// lost reply.
//
// Invariants:
// - `#live` maps a job id to its dispatch from dispatch() until the dispatch settles; a
//   dispatch settles only by being taken out of `#live` first, hence exactly once, whatever
//   mix of events, sweeps, cancels and re-runs (a stalled job run twice reports twice) occurs.
// - Nothing here throws into the Pool: every failure settles the dispatch it belongs to.

import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { Outcome, resultOfCopy, type Backend, type Dispatch } from '../backend.js';
import { channelRefusal, CredentialsCheck, describeConnection, forceClose, loadBullmq, readyWithin, redisOptions, selectDatabase, type QueueConnection } from './bullmq.js';
import type { Encoded } from './codec.js';
import { encodeCall, errorFromReason, readResult, reasonRunMs, taskName, WIRE_VERSION, type JobData } from './wire.js';
import { readReply, replyChannel } from './replies.js';
import { addProgress } from '../../shared/counter.js';

export interface QueueBackendOptions {
  queue: string;
  connection: QueueConnection;
  /** Jobs this client keeps unsettled in Redis at once (the Pool's size). */
  size: number;
  /** BullMQ attempts per job: 1 (default) runs a failing task once. */
  attempts?: number;
}

/** The Redis channel on which clients ask servers to stop a running job (by its id). */
export function cancelChannel(queue: string): string {
  return `spindle:${queue}:cancel`;
}

/** BullMQ's connections are ioredis clients; its own typing leaves pub/sub out. */
export interface PubSubClient {
  publish(channel: string, message: string): Promise<number>;
  subscribe(channel: string): Promise<unknown>;
  ping(): Promise<unknown>;
  readonly status: string;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready' | 'connect', listener: () => void): unknown;
  /** ioredis's socket of the current connection. */
  readonly stream?: { on(event: 'data', listener: () => void): unknown };
  duplicate(override?: { autoResubscribe?: boolean }): PubSubClient;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/**
 * A copy of `client`'s connection to SUBSCRIBE on, which ioredis does not subscribe again after a
 * reconnect: its own SUBSCRIBE then has no handler, and a close that dropped the connection before
 * Redis answered it crashed the process with an unhandled 'Connection is closed.' rejection.
 * `resubscribe` runs at each reconnect after the first connect instead, and handles its own.
 */
export function subscriberOf(client: PubSubClient, resubscribe: (subscriber: PubSubClient) => void): PubSubClient {
  const subscriber = client.duplicate({ autoResubscribe: false });
  let connects = 0;
  subscriber.on('ready', () => {
    if (++connects > 1) resubscribe(subscriber);
  });
  return subscriber;
}

/** How long calls wait for an unreachable Redis before they reject (ioredis's connectTimeout when given). */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A job not heard of (added, a reply) for this long is looked up in Redis by the sweep. */
const QUIET_MS = 10_000;
const SWEEP_EVERY_MS = 1_000;
/** How long close() waits for cancel requests still on their way to Redis. */
const STOP_WAIT_MS = 5_000;
/**
 * Jobs looked up per sweep, oldest first: a lost reply is rare, and a flood of jobs waiting in
 * the queue for longer than QUIET_MS must not turn the sweep into load on Redis. After the
 * subscriber reconnects every job in flight is looked up, CATCH_UP_BATCH at a time.
 */
const SWEEP_BATCH = 20;
const CATCH_UP_BATCH = 100;
/**
 * How long after its catch-up lookups (#catchUp) the client looks up the jobs still in flight
 * once more: a server publishes a result a round trip before BullMQ records it, so a reply lost
 * while the subscriber was away may belong to a job the first lookups found still running.
 */
const CATCH_UP_AGAIN_MS = 1_000;

interface Slot {
  jobId: string;
  /** Progress units already added to the call's counter. */
  progressSeen: number;
  /** When this client last heard of the job (added, a reply). */
  heard: number;
  /** BullMQ attempts for this job: the call's `attempts` option, else the pool's. */
  attempts: number;
  /** Sweeps in a row, since Redis accepted the job, that found no job of this id there. */
  missing: number;
}

/** A job's outcome as Redis holds it (#outcomeOf). */
interface StoredOutcome {
  /** BullMQ sets finishedOn once the job is done for good. */
  finished: boolean;
  /** '' when none. */
  failedReason: string;
  /** Parsed; null when the job has none, undefined when it is not JSON. */
  returnvalue: unknown;
  /** The progress its server recorded (job.updateProgress), when a safe integer. */
  progress: number | undefined;
}

/** Sweeps in a row that must find a job missing before its call fails: see #sweep. */
const MISSING_SWEEPS = 2;

export class QueueBackend implements Backend {
  readonly name = 'queue' as const;
  readonly size: number;
  readonly capacity: number;
  readonly #queueName: string;
  readonly #where: string;
  readonly #attempts: number;
  readonly #queue: Queue;
  readonly #ready: Promise<void>;
  readonly #clientId = randomUUID();
  #seq = 0;
  readonly #live = new Map<string, Dispatch>();
  #toAdd: Dispatch[] = [];
  /** A flush is scheduled (dispatch) and has not yet taken #toAdd. */
  #flushing = false;
  /** Adds (flushes past their batch) on their way to Redis. */
  #adding = 0;
  readonly #flushNow = (): void => void this.#flush();
  #sweepTimer: NodeJS.Timeout | undefined;
  #lastError: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #connected = false;
  /** How long calls wait for an unreachable Redis (connectTimeout), and what they then reject with. */
  readonly #timeout: number;
  readonly #unreachable: () => string;
  /** Since when (Date.now()) the connection that adds jobs has been down, after it had connected once. */
  #downSince: number | undefined;
  /**
   * Since when (Date.now()) a PING has gone unanswered, or, for one sent on the subscriber, since
   * that connection last received anything: see #probe.
   */
  #pingSince: number | undefined;
  /** The PING under way went out on the subscriber. */
  #pingOnSubscriber = false;
  /**
   * The connection subscribed to this client's reply channel, which also carries the PINGs
   * (#probe): opened before the first job is added, dropped at close.
   */
  #subscriber: PubSubClient | undefined;
  /** Removals and cancel requests under way: close() lets them reach Redis before it closes the connection. */
  readonly #stopping = new Set<Promise<void>>();
  /** Each checked call's arguments, encoded at the call (checkArgs), taken by the flush that adds its job: encoded once. */
  readonly #encoded = new WeakMap<readonly unknown[], Encoded[]>();

  constructor(options: QueueBackendOptions) {
    const bull = loadBullmq('Pool');
    const connection = redisOptions('Pool', options.connection);
    const timeout = typeof connection.connectTimeout === 'number' ? connection.connectTimeout : DEFAULT_CONNECT_TIMEOUT_MS;
    this.#queueName = options.queue;
    this.#where = `queue '${options.queue}' on Redis at ${describeConnection(connection)}`;
    this.#attempts = options.attempts ?? 1;
    this.size = options.size;
    // Jobs waiting in Redis are cheap, and servers pull them as fast as they free up: a deeper
    // pipeline than the size keeps every server busy between the client's turns.
    this.capacity = options.size * 2;
    // Reconnect quickly after a Redis restart; but a Redis never reached by the time this
    // client gave up (or closed) is not retried forever: ioredis's timers would hold the process.
    // Once closed, never: a Redis that went away must not keep a closed client's process alive.
    const retryStrategy = (times: number): number | null => (this.#closed ? null : Math.min(times * 200, 2000));
    this.#queue = new bull.Queue(options.queue, { connection: { retryStrategy, ...connection } });
    // Without listeners, an EventEmitter's 'error' would crash the process; the last one is
    // what a call that cannot reach Redis reports.
    const credentials = new CredentialsCheck((error) => `cannot use Redis for ${this.#where}: it refuses this client's credentials (${error.message})`);
    this.#queue.on('error', (error: Error) => {
      this.#keepError(error);
      credentials.note(error);
    });
    this.#timeout = timeout;
    this.#unreachable = () => `cannot reach Redis for ${this.#where} within ${timeout} ms${this.#lastError === undefined ? '' : ` (${this.#lastError.message})`}`;
    this.#ready = readyWithin(this.#queue.waitUntilReady(), timeout, this.#unreachable, credentials.refused)
      // A database Redis refuses must fail the calls, not leave them running in database 0.
      .then(() => selectDatabase(this.#queue.client, connection))
      // No job is added before this client listens for its replies.
      .then(() => readyWithin(this.#listen(), timeout, this.#unreachable));
    // Settled by the first flush; a pool that never runs a call must not report it as unhandled.
    this.#ready.then(
      () => {
        this.#connected = true;
        this.#watchConnection();
      },
      () => {},
    );
  }

  readonly #keepError = (error: Error): void => {
    this.#lastError = error;
  };

  /**
   * Bytes arrived on the subscriber: Redis is answering there. A PING sent on it waits behind the
   * replies queued before it: on a slow link, results of a few MB in all (each up to 256 KiB)
   * held its answer past connectTimeout, and every call failed against a Redis that was up.
   */
  readonly #subscriberRead = (): void => {
    if (this.#pingSince !== undefined && this.#pingOnSubscriber) this.#pingSince = Date.now();
  };

  /**
   * Opens the subscriber: a copy of the connection that adds jobs (its options, retryStrategy
   * included), subscribed to this client's reply channel. Each reconnect after the first connect
   * subscribes again and, since what was published to the channel in between is lost, looks up
   * every job in flight (#catchUp).
   */
  async #listen(): Promise<void> {
    const client = (await this.#queue.client) as unknown as PubSubClient;
    const channel = replyChannel(this.#queueName, this.#clientId);
    const subscriber = subscriberOf(client, (again) => void this.#catchUp(again, channel));
    this.#subscriber = subscriber;
    subscriber.on('error', this.#keepError);
    // A new socket for each connection (ioredis sets `stream` before it emits 'connect').
    subscriber.on('connect', () => subscriber.stream?.on('data', this.#subscriberRead));
    subscriber.on('message', (from, message) => {
      if (from === channel) this.#replied(message);
    });
    if (this.#closed) subscriber.disconnect();
    try {
      await subscriber.subscribe(channel);
    } catch (error) {
      throw channelRefusal('this client', channel, this.#queueName, error);
    }
  }

  /** After the subscriber reconnected: once it is subscribed again, every job in flight is looked up. */
  async #catchUp(subscriber: PubSubClient, channel: string): Promise<void> {
    try {
      // The SUBSCRIBE that restores the subscription (not ioredis's: see subscriberOf) answers once
      // Redis has subscribed it: a reply published after that reaches it, one published before it
      // is in Redis for the lookups.
      await subscriber.subscribe(channel);
    } catch {
      return; // down again: the next reconnect catches up
    }
    await this.#lookUpAll();
    setTimeout(() => void this.#lookUpAll(), CATCH_UP_AGAIN_MS).unref();
  }

  /** Looks up every job in flight, CATCH_UP_BATCH at a time. */
  async #lookUpAll(): Promise<void> {
    for (const d of this.#live.values()) (d.backendSlot as Slot).heard = 0;
    while (!this.#closed && (await this.#lookUpQuiet(CATCH_UP_BATCH)) === CATCH_UP_BATCH);
  }

  /**
   * Follows the connection that adds jobs once it has connected: while it is down, ioredis
   * queues every command (an add, the sweep's lookups) for as long as it takes, so without this
   * a call waited for ever once Redis went away. The sweep fails calls once Redis has been down
   * for connectTimeout (see #giveUpIfUnreachable); a restart shorter than that goes unnoticed.
   */
  #watchConnection(): void {
    this.#queue.client.then(
      (client) => {
        const redis = client as unknown as { status: string; on(event: string, listener: () => void): unknown };
        const down = () => {
          this.#downSince ??= Date.now();
        };
        redis.on('close', down);
        redis.on('end', down);
        redis.on('ready', () => {
          this.#downSince = undefined;
        });
        if (redis.status !== 'ready') down();
      },
      () => {},
    );
  }

  /**
   * Once Redis has been unreachable for connectTimeout, every call still waiting (its job not
   * yet added, or added and not yet heard of) rejects as a call does that cannot reach Redis at
   * start. Its job is withdrawn as a cancelled call's is: the removal, queued behind the add,
   * reaches Redis if it comes back (a running job is asked to stop).
   */
  #giveUpIfUnreachable(socketsRead = false): void {
    const now = Date.now();
    const down = this.#downSince !== undefined && now - this.#downSince >= this.#timeout;
    if (!down && (this.#pingSince === undefined || now - this.#pingSince < this.#timeout)) return;
    if (!down && !socketsRead) {
      // Only the PING is overdue, and its answer may be in the socket unread: the sweep runs in
      // the timers phase, before the loop reads its sockets, and a main thread busy (sync work,
      // a suspended machine) for connectTimeout right after a PING went out failed every call
      // against a Redis that had answered at once. setImmediate runs after the loop's poll
      // phase, which reads what has arrived.
      setImmediate(() => this.#giveUpIfUnreachable(true));
      return;
    }
    const message = this.#unreachable();
    for (const jobId of [...this.#live.keys()]) {
      this.#settle(jobId, Outcome.Error, new Error(message));
      this.#track(this.#stop(jobId));
    }
  }

  /**
   * Sends a PING, unless one is still unanswered. A Redis that hangs (stopped, or cut off by a
   * network partition that drops packets) closes no connection: ioredis waits on its socket for
   * as long as TCP does, and every call waited with it. An unanswered PING counts as Redis gone,
   * from when it was sent (#giveUpIfUnreachable); on the subscriber, from when that connection
   * last received anything, since its answer comes after the replies before it (#subscriberRead). Sent by the sweep, so only while calls are in
   * flight, at most one a second; on the subscriber while it is ready, so that a PING never
   * waits behind job data queued on the connection that adds jobs (on a slow link, 1 MB/s with
   * a few MB of arguments in flight, PINGs sent there went unanswered for connectTimeout and
   * failed every call against a Redis that was up); else (it is reconnecting) on that one.
   */
  #probe(): void {
    if (!this.#connected || this.#pingSince !== undefined || this.#closed) return;
    this.#pingSince = Date.now();
    const answered = () => {
      this.#pingSince = undefined;
    };
    const subscriber = this.#subscriber;
    this.#pingOnSubscriber = subscriber !== undefined && subscriber.status === 'ready';
    if (this.#pingOnSubscriber) subscriber!.ping().then(answered, answered);
    else this.#queue.client.then((client) => (client as unknown as PubSubClient).ping()).then(answered, answered);
  }

  /**
   * Throws the codec's TypeError for arguments that cannot travel: the Pool calls it at the call.
   * The encoding is kept for the flush, so the job carries the arguments as they were at the call.
   */
  checkArgs(where: string, kernel: Dispatch['kernel'], args: readonly unknown[]): void {
    this.#encoded.set(args, encodeCall(where, kernel, args));
  }

  #encodedCall(method: string, kernel: Dispatch['kernel'], args: readonly unknown[]): Encoded[] {
    const encoded = this.#encoded.get(args);
    if (encoded === undefined) return encodeCall(method, kernel, args);
    this.#encoded.delete(args);
    return encoded;
  }

  dispatch(d: Dispatch): void {
    const slot: Slot = { jobId: `${this.#clientId}-${++this.#seq}`, progressSeen: 0, heard: Date.now(), attempts: d.attempts ?? this.#attempts, missing: -1 };
    d.backendSlot = slot;
    this.#live.set(slot.jobId, d);
    this.#toAdd.push(d);
    this.#armSweep(); // from now on: a Redis gone away must not hold its add for ever
    if (!this.#flushing) {
      this.#flushing = true;
      // With no add on its way, at once (after this turn's synchronous calls, which a map's
      // chunks are): a call awaited at a time waited for the loop's check phase, behind what
      // else ran there, 100 us a call in bench/scenarios/queue.mjs. Under load, once a turn,
      // so that the calls this turn's replies let in share one addBulk.
      if (this.#adding === 0) queueMicrotask(this.#flushNow);
      else setImmediate(this.#flushNow);
    }
  }

  /** Adds every dispatch made since the last flush as one addBulk. */
  async #flush(): Promise<void> {
    this.#adding++;
    try {
      await this.#add();
    } finally {
      this.#adding--;
    }
  }

  async #add(): Promise<void> {
    const batch = this.#toAdd;
    this.#toAdd = [];
    this.#flushing = false;
    const jobs: { name: string; data: JobData; opts: Record<string, unknown> }[] = [];
    const added: Dispatch[] = [];
    for (const d of batch) {
      const slot = d.backendSlot as Slot;
      if (this.#live.get(slot.jobId) !== d) continue; // cancelled before it was added
      let data: JobData;
      try {
        const method = d.batch ? 'map' : 'apply';
        data = { v: WIRE_VERSION, task: taskName(d.kernel), batch: d.batch, calls: d.calls.map((call) => this.#encodedCall(method, d.kernel, call)) };
      } catch (error) {
        this.#settle(slot.jobId, Outcome.Error, error);
        continue;
      }
      if (d.progress !== undefined) data.progress = true;
      jobs.push({
        name: data.task,
        data,
        opts: {
          jobId: slot.jobId,
          attempts: slot.attempts,
          // Outcomes reach the client as replies; what stays in Redis is for its lookups.
          removeOnComplete: { age: 3600, count: 10_000 },
          removeOnFail: { age: 3600, count: 10_000 },
        },
      });
      added.push(d);
    }
    if (jobs.length === 0) return;
    try {
      await this.#ready;
      // addBulk wraps its jobs in a MULTI; a lone job (a call awaited at a time) skips that.
      if (jobs.length === 1) await this.#queue.add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts);
      else await this.#queue.addBulk(jobs as never);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const message = reason.startsWith('cannot reach Redis') || reason.startsWith('cannot use Redis') ? reason : `could not add a job to ${this.#where}: ${reason}`;
      for (const d of added) this.#settle((d.backendSlot as Slot).jobId, Outcome.Error, new Error(message, { cause: error }));
      return;
    }
    const now = Date.now();
    for (const d of added) {
      const slot = d.backendSlot as Slot;
      slot.heard = now;
      slot.missing = 0; // in Redis from here on, until its outcome is read (or it is removed)
      // Cancelled while its add was on its way: the cancel's removal found no job then.
      if (this.#live.get(slot.jobId) !== d) this.#track(this.#stop(slot.jobId));
    }
    this.#armSweep();
  }

  #settle(jobId: string, outcome: Outcome, value: unknown): void {
    const d = this.#live.get(jobId);
    if (d === undefined) return;
    this.#live.delete(jobId);
    d.settle(outcome, value);
  }

  /** A message on the reply channel (replies.ts); one this client cannot read is dropped. */
  #replied(message: string): void {
    const reply = readReply(message);
    if (reply === undefined) return;
    const d = this.#live.get(reply.jobId);
    if (d === undefined) return; // settled already, or another client's id
    switch (reply.kind) {
      case 'completed':
        this.#completed(reply.jobId, reply.returnvalue, true);
        break;
      case 'failed':
        this.#failedForGood(d, reply.jobId, reply.reason, true);
        break;
      case 'progress':
        this.#progressed(d, reply.done);
        break;
      case 'completedLarge':
        void this.#readLarge(d, reply.jobId);
        break;
    }
  }

  /**
   * What Redis holds of a job's outcome: the fields the lookups need and no others (BullMQ's
   * getJob() read the whole job, its arguments included: megabytes for a sort, every 10 s while
   * a long job ran). undefined when there is no such job.
   */
  async #outcomeOf(jobId: string): Promise<StoredOutcome | undefined> {
    const client = (await this.#queue.client) as unknown as { hmget(key: string, ...fields: string[]): Promise<(string | null)[]> };
    const [timestamp, finishedOn, failedReason, returnvalue, progress] = await client.hmget(this.#queue.toKey(jobId), 'timestamp', 'finishedOn', 'failedReason', 'returnvalue', 'progress');
    if (timestamp === null || timestamp === undefined) return undefined; // every job has one
    let value: unknown = null;
    if (typeof returnvalue === 'string') {
      try {
        value = JSON.parse(returnvalue);
      } catch {
        value = undefined; // as BullMQ reads a corrupted one; readResult then fails the call
      }
    }
    // BullMQ keeps it as JSON; a server records the job's last count before its outcome.
    const done = typeof progress === 'string' && /^-?[0-9]+$/.test(progress) ? Number(progress) : undefined;
    return { finished: typeof finishedOn === 'string' && finishedOn !== '', failedReason: failedReason ?? '', returnvalue: value, progress: done !== undefined && Number.isSafeInteger(done) ? done : undefined };
  }

  /** A result too large to publish: read from the job in Redis. */
  async #readLarge(d: Dispatch, jobId: string): Promise<void> {
    const heardAt = performance.now();
    try {
      const stored = await this.#outcomeOf(jobId);
      if (this.#live.get(jobId) !== d) return;
      if (stored?.finished === true) {
        this.#progressed(d, stored.progress);
        this.#completed(jobId, stored.returnvalue, true, heardAt);
        return;
      }
    } catch {
      // Redis is away: the sweep looks it up.
    }
    (d.backendSlot as Slot).heard = 0; // the next sweep looks it up
  }

  /**
   * The job completed with `returnvalue`. `replied`: heard from its server (at `heardAt`), not
   * found by a lookup, so its timing is known (see #time).
   */
  #completed(jobId: string, returnvalue: unknown, replied = false, heardAt = performance.now()): void {
    const d = this.#live.get(jobId);
    if (d === undefined) return;
    let result: ReturnType<typeof readResult>;
    try {
      result = readResult(jobId, returnvalue);
    } catch (error) {
      this.#settle(jobId, Outcome.Error, error);
      return;
    }
    if (replied) this.#time(d, heardAt, result.runMs);
    // The server ran the kernel on its copy of the arguments (sort: the caller's array must
    // hold the sorted elements). Turning its result into the caller's may throw: that fails the call.
    let value: unknown;
    try {
      value = resultOfCopy(d, result.value);
    } catch (error) {
      this.#settle(jobId, Outcome.Error, error);
      return;
    }
    this.#settle(jobId, Outcome.Ok, value);
  }

  /**
   * Reports the job's timing when its server sent its run time: it ran for `runMs` (measured on
   * the server, a duration, so no two machines' clocks are compared) up to about when its reply
   * reached this client (`heardAt`), so it started about `runMs` before that. Its wait, on this
   * client's clock, thus includes the reply's transit. An outcome found by a lookup rather than
   * a reply is left out of the summaries.
   */
  #time(d: Dispatch, heardAt: number, runMs: number | undefined): void {
    if (runMs !== undefined) d.timed(heardAt - runMs, runMs);
  }

  /** The job failed for good. */
  #failedForGood(d: Dispatch, jobId: string, reason: unknown, replied = false): void {
    if (replied) this.#time(d, performance.now(), reasonRunMs(reason));
    this.#settle(jobId, Outcome.Error, errorFromReason(jobId, reason));
  }

  /** The job's server reports `done` units (undefined: Redis holds none, see #outcomeOf). */
  #progressed(d: Dispatch, done: number | undefined): void {
    if (d.progress === undefined || done === undefined) return;
    const slot = d.backendSlot as Slot;
    slot.heard = Date.now();
    // A re-run job reports from 0 again; the counter keeps the most reported, never counts twice.
    if (done > slot.progressSeen) {
      addProgress(d.progress, done - slot.progressSeen);
      slot.progressSeen = done;
    }
  }

  #armSweep(): void {
    if (this.#sweepTimer !== undefined || this.#closed) return;
    this.#sweepTimer = setInterval(() => void this.#sweep(), SWEEP_EVERY_MS);
    this.#sweepTimer.unref();
  }

  /** Probes Redis, and looks up jobs that have been quiet for QUIET_MS. */
  async #sweep(): Promise<void> {
    this.#probe();
    this.#giveUpIfUnreachable();
    if (this.#live.size === 0) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = undefined;
      return;
    }
    await this.#lookUpQuiet(SWEEP_BATCH);
  }

  /**
   * Looks up in Redis, at once, up to `limit` jobs not heard of for QUIET_MS (oldest first), and
   * settles those that finished unheard. Returns how many it looked up.
   */
  async #lookUpQuiet(limit: number): Promise<number> {
    const now = Date.now();
    const quiet: [string, Dispatch][] = [];
    for (const [jobId, d] of this.#live) {
      const slot = d.backendSlot as Slot;
      if (now - slot.heard >= QUIET_MS) {
        slot.heard = now;
        quiet.push([jobId, d]);
        if (quiet.length >= limit) break;
      }
    }
    await Promise.all(quiet.map(([jobId, d]) => this.#lookUp(jobId, d)));
    return quiet.length;
  }

  async #lookUp(jobId: string, d: Dispatch): Promise<void> {
    try {
      const job = await this.#outcomeOf(jobId);
      if (this.#live.get(jobId) !== d) return;
      const slot = d.backendSlot as Slot;
      if (job === undefined) {
        // Not added yet (missing < 0), or gone: removed by another client (a drain, an
        // obliterate), trimmed after it finished unheard, or lost with a Redis that restarted
        // without persistence. Its outcome will never come: found gone twice, QUIET_MS apart,
        // the call fails rather than wait for ever.
        if (slot.missing >= 0 && ++slot.missing >= MISSING_SWEEPS) {
          this.#settle(jobId, Outcome.Error, new Error(`queue job ${jobId} is no longer in Redis (${this.#where}): another client removed it, or Redis lost it, so its outcome will never come`));
        }
        return;
      }
      slot.missing = 0;
      // Its progress replies may have been lost with its outcome's: the call's counter must not
      // settle short of what the server reported.
      this.#progressed(d, job.progress);
      // finishedOn is set only once the job is done for good (BullMQ clears it when a job is
      // retried): a failed attempt that will be retried has a failedReason but no finishedOn.
      // So a failed job with finishedOn is final whatever attemptsMade says: a job failed
      // without using its retries (an UnrecoverableError: a task this server does not run, a
      // bad payload; stalled too many times) is settled as such.
      if (job.finished) {
        if (job.failedReason !== '' && job.returnvalue === null) {
          this.#failedForGood(d, jobId, job.failedReason);
        } else {
          this.#completed(jobId, job.returnvalue);
        }
      }
    } catch {
      // Redis is away; the next sweep tries again.
    }
  }

  cancel(d: Dispatch): void {
    const slot = d.backendSlot as Slot;
    if (this.#live.get(slot.jobId) !== d) return;
    this.#settle(slot.jobId, Outcome.Cancelled, undefined);
    this.#track(this.#stop(slot.jobId));
  }

  #track(stopping: Promise<void>): void {
    this.#stopping.add(stopping);
    void stopping.finally(() => this.#stopping.delete(stopping));
  }

  /**
   * Removes a waiting job, and asks the server running it, if one does, to stop it. The request
   * goes out even when the removal worked: the job's lock may have expired while its server
   * still runs it (a server or Redis that hung past lockDuration), and that server ran it to its
   * end, holding one of its slots, unasked. (A locked job cannot be removed.)
   */
  async #stop(jobId: string): Promise<void> {
    try {
      await this.#ready;
      await this.#queue.remove(jobId);
      const client = (await this.#queue.client) as unknown as PubSubClient;
      await client.publish(cancelChannel(this.#queueName), jobId);
    } catch {
      // Redis is away: the job runs to its end and its result is dropped (at-least-once execution).
    }
  }

  async terminate(): Promise<void> {
    const live = [...this.#live.keys()];
    for (const jobId of live) this.#settle(jobId, Outcome.Cancelled, undefined);
    // Tracked, not awaited here: close() waits for them at most STOP_WAIT_MS (a Redis that went
    // away held terminate() for as long as ioredis kept the removals queued, 30 s and more).
    for (const jobId of live) this.#track(this.#stop(jobId));
    await this.close();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // A pool's terminate() cancels each call (cancel()) before it closes its backend: their
    // cancel requests must leave before the connection closes, or jobs running on servers would
    // run on, unasked to stop. Bounded: a Redis that went away does not hold close() forever.
    if (this.#stopping.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.#stopping]), new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
      clearTimeout(timer);
    }
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    // It only listens (and pings): nothing on it needs a graceful end.
    this.#subscriber?.disconnect();
    if (this.#connected) {
      // Bounded too: with Redis gone, BullMQ's close() waits for a connection (retries stop now).
      let timer: NodeJS.Timeout | undefined;
      const closed = this.#queue.close().then(
        () => true,
        () => true,
      );
      const inTime = await Promise.race([closed, new Promise<boolean>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS, false)))]);
      clearTimeout(timer);
      if (!inTime) this.#queue.disconnect().catch(() => {});
    } else {
      // A connection that never reached Redis: BullMQ's Queue close() and disconnect() first
      // wait for a connection that never comes (a port that accepts TCP but never answers as
      // Redis held the process open for ever). Its RedisConnection's close(force) drops the
      // ioredis socket at once, before it waits for anything.
      forceClose(this.#queue);
    }
  }

  describe(): Record<string, unknown> {
    return { queue: this.#queueName, redis: this.#where, capacity: this.capacity, jobsInFlight: this.#live.size, attempts: this.#attempts };
  }
}
