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

/** Redis options for BullMQ from a URL or an options object (copied: BullMQ and ioredis add to it). */
export function redisOptions(where: string, connection: QueueConnection): Record<string, unknown> {
  if (typeof connection !== 'string') return { ...connection };
  let url: URL;
  try {
    url = new URL(connection);
  } catch {
    throw new TypeError(`${where}: connection must be a redis:// URL or ioredis options, got ${JSON.stringify(connection)}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new TypeError(`${where}: connection must be a redis:// or rediss:// URL, got ${JSON.stringify(connection)}`);
  }
  const options: Record<string, unknown> = { host: url.hostname || '127.0.0.1', port: url.port === '' ? 6379 : Number(url.port) };
  if (url.username !== '') options.username = decodeURIComponent(url.username);
  if (url.password !== '') options.password = decodeURIComponent(url.password);
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
  return `${typeof options.host === 'string' ? options.host : '127.0.0.1'}:${typeof options.port === 'number' ? options.port : 6379}`;
}

/** Resolves when `ready` does; rejects with `message` and the last connection error once `ms` pass first. */
export function readyWithin(ready: Promise<unknown>, ms: number, message: () => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message())), ms);
    timer.unref?.();
    ready.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(new Error(`${message()}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      },
    );
  });
}
