// `spindle serve --queue NAME --redis URL [--backend native|worker] [--size N] [--tasks FILE]...`
//
// Serves a BullMQ queue until SIGINT or SIGTERM, then closes gracefully: running jobs finish,
// no new ones are taken. With Redis unreachable the close gives up after serve's CLOSE_WAIT_MS
// and exits 1 saying how many jobs it abandoned (a second signal kills it at once). Start-up
// failures (Redis unreachable, a task module that does not import) print one line and exit 1.
// Errors while serving (Redis connection errors, a job BullMQ cannot parse) print one line
// each, at most one a second.

import { redisOptions } from '../backends/queue/bullmq.js';
import { MAX_POOL_SIZE } from '../internal/options.js';
import { Pool } from '../pool.js';
import { serve } from '../serve/serve.js';
import { writeStdout } from './stdout.js';

export const SERVE_USAGE = `Usage: spindle serve --queue NAME --redis URL [OPTION]...
Runs the jobs of a spindle queue pool (new Pool({ backend: 'queue', queue, connection })).
  --queue NAME            the BullMQ queue to serve
  --redis URL             redis://[user:password@]host[:port][/db]
  --backend B             auto (default), native or worker; worker when --tasks is given
  --size N                jobs run at once: the local pool's threads or workers
  --tasks FILE            a task module whose exported functions clients may run (repeatable);
                          clients name them by file name and export: task('./tasks.js', 'resize')
  --lock-duration MS      BullMQ lock duration (default 30000); MS options take at most 2^31-1
  --stalled-interval MS   how often stalled jobs are looked for (default 30000)
  --connect-timeout MS    give up (exit 1) if Redis cannot be reached by then (default 10000)`;

class UsageError extends Error {}

/** At most one error line this often: a job that fails to load again and again must not flood stderr. */
const ERROR_LINE_EVERY_MS = 1_000;

/** Prints each error as one line on stderr, at most one a second; the next line counts those left out. */
function errorPrinter(): (error: Error) => void {
  let last = -Infinity;
  let skipped = 0;
  return (error) => {
    const now = Date.now();
    if (now - last < ERROR_LINE_EVERY_MS) {
      skipped++;
      return;
    }
    last = now;
    const more = skipped === 0 ? '' : ` (and ${skipped} more not shown)`;
    skipped = 0;
    const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').slice(0, 500);
    process.stderr.write(`spindle serve: error: ${message}${more}\n`);
  };
}

interface ServeArgs {
  queue: string;
  redis: string;
  backend?: 'auto' | 'native' | 'worker';
  size?: number;
  tasks: string[];
  lockDuration?: number;
  stalledInterval?: number;
  connectTimeout?: number;
}

function positiveInteger(flag: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got '${text ?? ''}'`);
  return n;
}

/** The longest delay Node's timers take (2^31-1 ms, about 24.8 days); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A millisecond option: a positive integer that a timer can wait for, at most 2^31-1. */
function milliseconds(flag: string, text: string | undefined): number {
  const n = positiveInteger(flag, text);
  if (n > MAX_TIMER_MS) throw new UsageError(`${flag} must be at most 2147483647 (ms, 2^31-1), got '${text ?? ''}'`);
  return n;
}

/**
 * A --redis value serve() takes. A malformed one is a usage error (exit 2) here, where serve()
 * would refuse it as a start-up failure (exit 1, which says Redis could not be reached).
 */
function redisUrl(text: string): string {
  let protocol: string | undefined;
  try {
    protocol = new URL(text).protocol;
  } catch {
    // not a URL at all
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') throw new UsageError(`--redis must be a redis:// or rediss:// URL, got '${text}'`);
  try {
    redisOptions('--redis', text); // bad percent-encoding, a database that is not a number
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message.replace('--redis: options.connection: ', '--redis: '));
    throw error;
  }
  return text;
}

function parse(argv: string[]): ServeArgs {
  const out: Partial<ServeArgs> & { tasks: string[] } = { tasks: [] };
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i]!;
    let value: string | undefined;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    } else {
      value = argv[i + 1];
      if (flag.startsWith('--')) i++;
    }
    switch (flag) {
      case '--queue':
        if (!value) throw new UsageError('--queue needs a name');
        // BullMQ keys are <prefix>:<queue>:...: serve() refuses a ':' too, but as exit 1 without usage.
        if (value.includes(':')) throw new UsageError(`--queue must be a queue name without ':', got '${value}'`);
        out.queue = value;
        break;
      case '--redis':
        if (!value) throw new UsageError('--redis needs a URL');
        out.redis = redisUrl(value);
        break;
      case '--backend':
        if (value !== 'auto' && value !== 'native' && value !== 'worker') throw new UsageError(`--backend must be auto, native or worker, got '${value ?? ''}'`);
        out.backend = value;
        break;
      case '--size':
        out.size = positiveInteger('--size', value);
        // The Pool refuses more, but as exit 1 without usage: a bad value is a usage error.
        if (out.size > MAX_POOL_SIZE) throw new UsageError(`--size must be at most ${MAX_POOL_SIZE}, got '${value}'`);
        break;
      case '--tasks':
        if (!value) throw new UsageError('--tasks needs a file');
        out.tasks.push(value);
        break;
      case '--lock-duration':
        out.lockDuration = milliseconds('--lock-duration', value);
        break;
      case '--stalled-interval':
        out.stalledInterval = milliseconds('--stalled-interval', value);
        break;
      case '--connect-timeout':
        out.connectTimeout = milliseconds('--connect-timeout', value);
        break;
      default:
        throw new UsageError(`unknown argument '${flag}'`);
    }
  }
  if (out.queue === undefined) throw new UsageError('--queue is required');
  if (out.redis === undefined) throw new UsageError('--redis is required');
  return out as ServeArgs;
}

/** Runs the server; resolves with the exit code once it has closed. */
export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    writeStdout(SERVE_USAGE + '\n');
    return 0;
  }
  let args: ServeArgs;
  try {
    args = parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`spindle serve: ${error.message}\n${SERVE_USAGE}\n`);
    return 2;
  }
  let handle: Awaited<ReturnType<typeof serve>>;
  try {
    const backend = args.backend ?? (args.tasks.length > 0 ? 'worker' : 'auto');
    const pool = new Pool({ backend, ...(args.size === undefined ? {} : { size: args.size }) });
    handle = await serve({
      queue: args.queue,
      connection: args.redis,
      pool,
      tasks: args.tasks,
      lockDuration: args.lockDuration,
      stalledInterval: args.stalledInterval,
      connectTimeout: args.connectTimeout,
      onError: errorPrinter(),
    }).catch(async (error: unknown) => {
      await pool.terminate();
      throw error;
    });
  } catch (error) {
    process.stderr.write(`spindle serve: ${error instanceof Error ? error.message.replace(/^serve: /, '') : String(error)}\n`);
    return 1;
  }
  process.stderr.write(`spindle serve: serving queue '${args.queue}' (pid ${process.pid}, ${handle.pool.backend} backend, ${handle.pool.size} at once, ${handle.tasks.length} tasks)\n`);
  await new Promise<void>((resolve) => {
    // The first signal of either kind starts a graceful close and takes both listeners away,
    // so that a second signal of either kind kills the process (as Node's default does).
    // Two once-listeners left the other kind's in place: SIGINT then SIGTERM did nothing.
    const first = (): void => {
      process.off('SIGINT', first);
      process.off('SIGTERM', first);
      resolve();
    };
    process.on('SIGINT', first);
    process.on('SIGTERM', first);
  });
  const { abandoned, forced } = await handle.close();
  if (forced) {
    // Whatever BullMQ still holds must not keep a server that was told to stop running.
    setTimeout(() => process.exit(), 2_000).unref();
  }
  if (abandoned > 0) {
    await handle.pool.terminate();
    process.stderr.write(`spindle serve: Redis unreachable: closed without finishing ${abandoned} job${abandoned === 1 ? '' : 's'} (another server runs ${abandoned === 1 ? 'it' : 'them'} again once ${abandoned === 1 ? 'its lock expires' : 'their locks expire'})\n`);
    return 1;
  }
  handle.pool.close();
  await handle.pool.join();
  return 0;
}
