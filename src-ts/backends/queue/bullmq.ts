// BullMQ, loaded only when a queue pool or `spindle serve` starts.
//
// BullMQ is an optional peer dependency: users of the native and worker backends never install
// it (nor ioredis, which it brings). It is required lazily, synchronously, so that `new Pool({
// backend: 'queue' })` without it throws at once with the one thing to do.

import { createRequire } from 'node:module';
import type * as BullMQ from 'bullmq';

export type Bull = typeof BullMQ;

let loaded: Bull | undefined;

/** The bullmq module, from the application's node_modules. Throws an Error saying `npm install bullmq` when it is not there. */
export function loadBullmq(where: string): Bull {
  if (loaded !== undefined) return loaded;
  // Resolved from spindle's own location: an application that installed spindle and bullmq has
  // them side by side, which is where a peer dependency lives.
  const require = createRequire(import.meta.url);
  try {
    loaded = require('bullmq') as Bull;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(`${where}: the queue backend runs on BullMQ, which is not installed: npm install bullmq`, { cause: error });
    }
    throw error;
  }
  return loaded;
}

/** What `connection` may be: a redis:// or rediss:// URL, or ioredis options. */
export type QueueConnection = string | Record<string, unknown>;

/** The most a timeout in ms may be: Node's timers (and ioredis's socket timeout) take no more. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * `value` checked as a timeout in ms: a finite number in [1, 2^31 - 1]. `name` names it in the
 * TypeError or RangeError ("serve: options.connectTimeout"). ioredis takes connectTimeout
 * unchecked: a negative or infinite one crashed the process (ERR_OUT_OF_RANGE from its socket
 * timer), and any bad one made calls fail at once against a Redis that was up.
 */
export function checkTimeoutMs(name: string, value: unknown): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of ms, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`);
  if (!Number.isFinite(value) || value < 1 || value > MAX_TIMEOUT_MS) throw new RangeError(`${name} must be a finite number of ms in [1, ${MAX_TIMEOUT_MS}], got ${value}`);
  return value;
}

function decoded(where: string, part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new TypeError(`${where}: options.connection: the ${what} in the redis:// URL is not valid percent-encoding (%XX)`);
  }
}

/** Redis options for BullMQ from a URL or an options object (copied: BullMQ and ioredis add to it). */
export function redisOptions(where: string, connection: QueueConnection): Record<string, unknown> {
  if (typeof connection !== 'string') {
    const options = { ...connection };
    if (options.connectTimeout !== undefined) checkTimeoutMs(`${where}: options.connection.connectTimeout`, options.connectTimeout);
    return options;
  }
  let url: URL;
  try {
    url = new URL(connection);
  } catch {
    throw new TypeError(`${where}: connection must be a redis:// URL or ioredis options, got ${JSON.stringify(connection)}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new TypeError(`${where}: connection must be a redis:// or rediss:// URL, got ${JSON.stringify(connection)}`);
  }
  // An IPv6 literal's hostname keeps its brackets ('[::1]'), which the resolver does not take.
  const host = url.hostname.startsWith('[') && url.hostname.endsWith(']') ? url.hostname.slice(1, -1) : url.hostname;
  const options: Record<string, unknown> = { host: host || '127.0.0.1', port: url.port === '' ? 6379 : Number(url.port) };
  if (url.username !== '') options.username = decoded(where, url.username, 'user name');
  if (url.password !== '') options.password = decoded(where, url.password, 'password');
  const db = url.pathname.replace(/^\//, '');
  if (db !== '') {
    if (!/^\d+$/.test(db)) throw new TypeError(`${where}: the database in connection ${JSON.stringify(connection)} must be a number`);
    options.db = Number(db);
  }
  if (url.protocol === 'rediss:') options.tls = {};
  return options;
}

/** host:port for messages, never the password. */
export function describeConnection(options: Record<string, unknown>): string {
  if (typeof options.path === 'string') return options.path;
  const host = typeof options.host === 'string' ? options.host : '127.0.0.1';
  return `${host.includes(':') ? `[${host}]` : host}:${typeof options.port === 'number' ? options.port : 6379}`;
}

/**
 * Drops the Redis connection of a BullMQ Queue, QueueEvents or Worker at once, whatever state it
 * is in: RedisConnection.close(true) disconnects its ioredis client before it awaits anything,
 * where the public close() and disconnect() first await a connection that may never come.
 * `connection` is BullMQ's own (protected) field; a Worker's blocking connection too.
 */
export function forceClose(base: object): void {
  for (const field of ['connection', 'blockingConnection']) {
    const connection = (base as Record<string, { close?: (force: boolean) => Promise<void>; emit?: (event: string | symbol, ...args: unknown[]) => boolean; listenerCount?: (event: string) => number } | undefined>)[field];
    if (typeof connection?.close !== 'function') continue;
    // A connection closed while it was still starting reports its start's failure as an 'error'
    // event after close() has removed every listener (RedisConnection's `initializing.catch`),
    // which ended the process: a server that Redis refused at once (a wrong password) crashed
    // instead of saying so. Nobody listens to a connection dropped here: such an event is dropped.
    const emit = connection.emit;
    if (typeof emit === 'function' && typeof connection.listenerCount === 'function') {
      const listenerCount = connection.listenerCount;
      connection.emit = function (this: typeof connection, event: string | symbol, ...args: unknown[]): boolean {
        if (event === 'error' && listenerCount.call(this, 'error') === 0) return false;
        return emit.call(this, event, ...args);
      };
    }
    connection.close(true).catch(() => {});
    // A close already under way (a graceful one, stuck in ioredis's QUIT) is not forced by the
    // call above: its ioredis client, once it had connected, is dropped directly.
    const client = (connection as { client?: Promise<{ disconnect(): void }> }).client;
    client?.then((c) => c.disconnect(), () => {}).catch(() => {});
  }
}

/**
 * Selects the database the connection options name on a client that is ready, rejecting with
 * Redis's refusal. ioredis answers a SELECT refused at connect (an index the server does not
 * have: `redis://host/99` where Redis keeps 16) with an 'error' event only, and stays on
 * database 0: the queue then ran in a database other than the one named, silently.
 */
export async function selectDatabase(client: Promise<unknown>, options: Record<string, unknown>): Promise<void> {
  // Database 0 (or none) is where a connection starts, and ioredis sends no SELECT for it: nor
  // does this, since a Redis or proxy that refuses SELECT (twemproxy, Envoy, a renamed command)
  // serves database 0 and must keep working when a URL ends in /0.
  if (!options.db || Number(options.db) === 0) return;
  const redis = (await client) as { select(db: unknown): Promise<unknown> };
  try {
    await redis.select(options.db);
  } catch (error) {
    throw new Error(`Redis refuses database ${String(options.db)} (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

/**
 * A refusal by Redis that no reconnect cures, said in full (what was refused and what to do):
 * readyWithin passes it on as it is, rather than as a Redis out of reach.
 */
export class RedisRefusedError extends Error {}

/**
 * Redis's refusal of a pub/sub channel (NOPERM: an ACL user without it; since Redis 7 a new
 * user has no channels unless given them), said with what spindle needs; any other error as it is.
 */
export function channelRefusal(who: string, channel: string, queue: string, error: unknown): Error {
  const reason = error instanceof Error ? error.message : String(error);
  if (!reason.startsWith('NOPERM')) return error instanceof Error ? error : new Error(reason);
  return new RedisRefusedError(`Redis refuses ${who} the channel ${channel} (${reason}): spindle's clients and servers need the channels spindle:${queue}:* (for an ACL user: &spindle:${queue}:*)`, { cause: error });
}

/**
 * Notes the connection errors no reconnect cures: Redis refusing the credentials (WRONGPASS, a
 * wrong password or user; NOAUTH, none given where one is needed). ioredis retries them for ever,
 * so a client or server waited out its whole connectTimeout (10 s by default) before it said
 * what was wrong; readyWithin gives up at the first one instead.
 */
export class CredentialsCheck {
  /** Rejects, with a RedisRefusedError saying `describe(error)`, at the first such error. */
  readonly refused: Promise<never>;
  #reject!: (error: Error) => void;

  constructor(private readonly describe: (error: Error) => string) {
    this.refused = new Promise<never>((_resolve, reject) => {
      this.#reject = reject;
    });
    this.refused.catch(() => {}); // read by readyWithin, or by nobody
  }

  /** Called with each error the connection reports. */
  note(error: Error): void {
    if (/^(WRONGPASS|NOAUTH)\b/.test(error.message)) this.#reject(new RedisRefusedError(this.describe(error), { cause: error }));
  }
}

/**
 * Resolves when `ready` does; rejects with `message` and the last connection error once `ms` pass
 * first, or with `message` and `ready`'s error. A RedisRefusedError (from `ready`, or from
 * `refused` as soon as it rejects) is passed on as it is.
 */
export function readyWithin(ready: Promise<unknown>, ms: number, message: () => string, refused?: Promise<never>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message())), ms);
    timer.unref?.();
    refused?.catch((error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
    ready.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof RedisRefusedError ? error : new Error(`${message()}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      },
    );
  });
}
