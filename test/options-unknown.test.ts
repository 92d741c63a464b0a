// An option a method does not know is a TypeError that names the method, the option and the
// option probably meant (issue #13): a typo such as `maxQueu` used to be ignored silently, and
// the default used instead. Also: the checks of the Pool options that configure its workers.

import { SHARE_ENV } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { backendInfo } from '../src-ts/backends/select.js';
import { kernels } from '../src-ts/kernels/index.js';
import { closestName, editDistance } from '../src-ts/internal/option-names.js';
import { Pool, type PoolOptions } from '../src-ts/pool.js';
import { serve, type ServeOptions } from '../src-ts/serve/serve.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { availableBackends } from './support/backends.js';

const { noop } = kernels;

/** What `fn` threw synchronously; fails if it returned. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw, and it returned');
}

/** The error a promise-returning method reports: it must return a rejected promise, never throw. */
async function rejection(fn: () => unknown): Promise<unknown> {
  let returned: unknown;
  try {
    returned = fn();
  } catch (error) {
    throw new Error(`expected a rejected promise, and it threw: ${String(error)}`);
  }
  expect(returned).toBeInstanceOf(Promise);
  return (returned as Promise<unknown>).then(
    () => {
      throw new Error('expected a rejection, and it resolved');
    },
    (error: unknown) => error,
  );
}

async function drain(iterator: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const x of iterator) out.push(x);
  return out;
}

describe('option-names', () => {
  it('editDistance counts a swap of neighbours as one edit', () => {
    expect(editDistance('maxQueue', 'maxQueue')).toBe(0);
    expect(editDistance('maxQueu', 'maxQueue')).toBe(1);
    expect(editDistance('tiemout', 'timeout')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('closestName ignores case, and guesses only when the name is close', () => {
    const known = ['signal', 'timeout', 'progress', 'chunkSize', 'window'];
    expect(closestName('chunksize', known)).toBe('chunkSize');
    expect(closestName('CHUNKSIZE', known)).toBe('chunkSize');
    expect(closestName('timout', known)).toBe('timeout');
    expect(closestName('timeoutMs', known)).toBe('timeout');
    expect(closestName('windw', known)).toBe('window');
    expect(closestName('abortSignal', known)).toBeUndefined();
    expect(closestName('x', known)).toBeUndefined();
    // Names not implemented yet must not be taken for a typo of a real one.
    expect(closestName('minSize', ['size', 'maxQueue'])).toBeUndefined();
  });
});

describe('the Pool constructor', () => {
  it('rejects a typo, naming it and the option meant', () => {
    const error = thrown(() => new Pool({ backend: 'worker', maxQueu: 8 } as PoolOptions));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe("Pool: unknown option 'maxQueu' (did you mean 'maxQueue'?)");
  });

  it.each([
    ['MaxQueue', 'maxQueue'],
    ['initargs', 'initArgs'],
    ['closeTimout', 'closeTimeout'],
    ['execArgs', 'execArgv'],
    ['workerdata', 'workerData'],
  ])('%s: did you mean %s?', (typo, meant) => {
    expect(() => new Pool({ [typo]: 1 } as PoolOptions)).toThrow(new TypeError(`Pool: unknown option '${typo}' (did you mean '${meant}'?)`));
  });

  it('lists the known options when no name is close', () => {
    expect(() => new Pool({ threads: 4 } as PoolOptions)).toThrow(
      new TypeError(
        "Pool: unknown option 'threads' (known options: backend, queue, connection, attempts, size, maxQueue, onQueueFull, initializer, initArgs, maxTasksPerWorker, cancelGrace, minSize, idleTimeout, concurrentTasksPerWorker, resourceLimits, env, argv, execArgv, workerData, name, closeTimeout)",
      ),
    );
  });

  it('says where a per-call option belongs', () => {
    expect(() => new Pool({ timeout: 1000 } as PoolOptions)).toThrow(/^Pool: unknown option 'timeout' \(known options: .*; 'timeout' is an option of every call\)$/);
    expect(() => new Pool({ chunkSize: 4 } as PoolOptions)).toThrow(
      /'chunkSize' is an option of map, starmap, mapAsync, starmapAsync, imap, imapUnordered, istarmap, istarmapUnordered\)$/,
    );
  });

  it('ignores unknown names set to undefined, symbol keys and inherited properties', async () => {
    const inherited = Object.create({ notAnOption: 1 }) as PoolOptions;
    inherited.backend = 'worker';
    inherited.size = 1;
    for (const options of [{ backend: 'worker', size: 1, maxQueu: undefined }, { backend: 'worker', size: 1, [Symbol('tag')]: 1 }, inherited]) {
      const pool = new Pool(options as PoolOptions);
      await pool.terminate();
    }
  });

  it('reports an unknown option before a bad value of a known one', () => {
    expect(() => new Pool({ size: -1, sise: 2 } as PoolOptions)).toThrow("Pool: unknown option 'sise' (did you mean 'size'?)");
  });
});

describe('serve()', () => {
  // A misspelt lockDuration or stalledInterval was ignored: serve() went on to connect and ran
  // with BullMQ's defaults. The check comes before any connection, so no Redis is needed here
  // (port 1 refuses; a check after connecting would fail differently).
  const base = { queue: 'q', connection: 'redis://127.0.0.1:1', connectTimeout: 300 };

  it.each([
    ['lockDuraton', 'lockDuration'],
    ['stalledIntervall', 'stalledInterval'],
    ['connecttimeout', 'connectTimeout'],
    ['onerror', 'onError'],
  ])('%s: did you mean %s?', async (typo, meant) => {
    const error = await rejection(() => serve({ ...base, [typo]: 5000 } as ServeOptions));
    expect(error).toEqual(new TypeError(`serve: unknown option '${typo}' (did you mean '${meant}'?)`));
    expect(error).toBeInstanceOf(TypeError);
  });

  it('lists the known options when no name is close, before a bad value of a known one', async () => {
    const error = await rejection(() => serve({ ...base, lockDuration: 0, threads: 4 } as ServeOptions));
    expect(error).toEqual(
      new TypeError("serve: unknown option 'threads' (known options: queue, connection, pool, tasks, lockDuration, stalledInterval, connectTimeout, onError)"),
    );
  });
});

/** One row per task-submitting method: how to call it, and whether it reports errors by rejecting. */
interface MethodCase {
  method: string;
  rejects: boolean;
  call(pool: Pool, options: object): unknown;
  /** Every option the method takes, valid, for a call of noop on [7]. */
  valid(): object;
  /** A typo of one of its own options, and that option. */
  typo: [string, string];
  /** An option of another method only. */
  foreign: string;
}

const callbacks = { callback: () => {}, errorCallback: () => {} };
const callOptions = () => ({ signal: new AbortController().signal, timeout: 60_000, progress: new SharedCounter(0) });

const methods: MethodCase[] = [
  { method: 'apply', rejects: true, call: (p, o) => p.apply(noop, [7], o), valid: () => ({ ...callOptions(), transfer: [] }), typo: ['transfr', 'transfer'], foreign: 'callback' },
  {
    method: 'applyAsync',
    rejects: false,
    call: (p, o) => p.applyAsync(noop, [7], o),
    valid: () => ({ ...callOptions(), transfer: [], ...callbacks }),
    typo: ['callbak', 'callback'],
    foreign: 'chunkSize',
  },
  {
    method: 'submit',
    rejects: true,
    call: (p, o) => p.submit(noop, [7], o),
    valid: () => ({ ...callOptions(), transfer: [], ...callbacks }),
    typo: ['errorcallback', 'errorCallback'],
    foreign: 'window',
  },
  { method: 'map', rejects: true, call: (p, o) => p.map(noop, [7], o), valid: () => ({ ...callOptions(), chunkSize: 1 }), typo: ['chunksize', 'chunkSize'], foreign: 'transfer' },
  { method: 'starmap', rejects: true, call: (p, o) => p.starmap(noop, [[7]], o), valid: () => ({ ...callOptions(), chunkSize: 1 }), typo: ['chunk_size', 'chunkSize'], foreign: 'window' },
  {
    method: 'mapAsync',
    rejects: false,
    call: (p, o) => p.mapAsync(noop, [7], o),
    valid: () => ({ ...callOptions(), chunkSize: 1, ...callbacks }),
    typo: ['timout', 'timeout'],
    foreign: 'transfer',
  },
  {
    method: 'starmapAsync',
    rejects: false,
    call: (p, o) => p.starmapAsync(noop, [[7]], o),
    valid: () => ({ ...callOptions(), chunkSize: 1, ...callbacks }),
    typo: ['signl', 'signal'],
    foreign: 'window',
  },
  { method: 'imap', rejects: false, call: (p, o) => p.imap(noop, [7], o), valid: () => ({ ...callOptions(), chunkSize: 1, window: 2 }), typo: ['windw', 'window'], foreign: 'callback' },
  {
    method: 'imapUnordered',
    rejects: false,
    call: (p, o) => p.imapUnordered(noop, [7], o),
    valid: () => ({ ...callOptions(), chunkSize: 1, window: 2 }),
    typo: ['progres', 'progress'],
    foreign: 'transfer',
  },
  { method: 'istarmap', rejects: false, call: (p, o) => p.istarmap(noop, [[7]], o), valid: () => ({ ...callOptions(), chunkSize: 1, window: 2 }), typo: ['Window', 'window'], foreign: 'errorCallback' },
  {
    method: 'istarmapUnordered',
    rejects: false,
    call: (p, o) => p.istarmapUnordered(noop, [[7]], o),
    valid: () => ({ ...callOptions(), chunkSize: 1, window: 2 }),
    typo: ['chunkSzie', 'chunkSize'],
    foreign: 'callback',
  },
];

/** The call's outcome, whatever shape the method returns: a result or an array of results. */
async function outcome(value: unknown): Promise<unknown> {
  const settled = await value;
  if (settled !== null && typeof settled === 'object' && Symbol.asyncIterator in settled) return drain(settled as AsyncIterable<unknown>);
  if (settled !== null && typeof settled === 'object' && 'get' in settled) return (settled as { get(): Promise<unknown> }).get();
  return settled;
}

describe.each(availableBackends())('call options on the $name backend', ({ make }) => {
  const pools: Pool[] = [];
  const open = (options?: PoolOptions): Pool => {
    const pool = make({ size: 1, ...options });
    pools.push(pool);
    return pool;
  };

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.terminate()));
  });

  /** The error the method reports for `options`, by its own contract (reject or throw). */
  const errorOf = (pool: Pool, c: MethodCase, options: object): Promise<unknown> =>
    c.rejects ? rejection(() => c.call(pool, options)) : Promise.resolve(thrown(() => c.call(pool, options)));

  it.each(methods)('$method: a typo is a TypeError naming the method, the option and the one meant', async (c) => {
    const pool = open();
    const [typo, meant] = c.typo;
    const error = await errorOf(pool, c, { [typo]: 1 });
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(`${c.method}: unknown option '${typo}' (did you mean '${meant}'?)`);
    expect(pool.stats().submitted).toBe(0);
  });

  it.each(methods)("$method: another method's option is named as such", async (c) => {
    const pool = open();
    const error = await errorOf(pool, c, { [c.foreign]: 1 });
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(new RegExp(`^${c.method}: unknown option '${c.foreign}' \\(known options: [a-zA-Z, ]+; '${c.foreign}' is an option of [a-zA-Z]+`));
    expect((error as Error).message).not.toMatch(new RegExp(`is an option of .*\\b${c.method}\\b`));
  });

  it.each(methods)('$method: a Pool option is named as one', async (c) => {
    const pool = open();
    const error = await errorOf(pool, c, { maxQueue: 4 });
    expect((error as Error).message).toMatch(new RegExp(`^${c.method}: unknown option 'maxQueue' \\(.*'maxQueue' is an option of Pool\\)$`));
  });

  it.each(methods)('$method: every option it knows still works, and unknown names set to undefined or under a symbol are ignored', async (c) => {
    const pool = open();
    const options = { ...c.valid(), notAnOption: undefined, [Symbol('tag')]: true };
    expect(await outcome(c.call(pool, options))).toEqual(c.method.startsWith('apply') || c.method === 'submit' ? 7 : [7]);
  });
});

describe('the worker controls', () => {
  const bad: [string, object, ErrorConstructor, string | RegExp][] = [
    ['resourceLimits: a number', { resourceLimits: 64 }, TypeError, 'Pool: options.resourceLimits must be an object such as { maxOldGenerationSizeMb: 512 }, got number 64'],
    ['resourceLimits: null', { resourceLimits: null }, TypeError, /^Pool: options\.resourceLimits must be an object/],
    ['resourceLimits: an array', { resourceLimits: [] }, TypeError, /^Pool: options\.resourceLimits must be an object/],
    [
      'resourceLimits: a typo',
      { resourceLimits: { maxOldGenerationSizeMB: 64 } },
      TypeError,
      "Pool: unknown option 'resourceLimits.maxOldGenerationSizeMB' (did you mean 'resourceLimits.maxOldGenerationSizeMb'?)",
    ],
    [
      'resourceLimits: an unknown name',
      { resourceLimits: { heapMb: 64 } },
      TypeError,
      "Pool: unknown option 'resourceLimits.heapMb' (known options of resourceLimits: maxOldGenerationSizeMb, maxYoungGenerationSizeMb, codeRangeSizeMb, stackSizeMb)",
    ],
    ['resourceLimits: a string', { resourceLimits: { stackSizeMb: '4' } }, TypeError, 'Pool: options.resourceLimits.stackSizeMb must be a number of MB, got string "4"'],
    ['resourceLimits: 0', { resourceLimits: { maxOldGenerationSizeMb: 0 } }, RangeError, 'Pool: options.resourceLimits.maxOldGenerationSizeMb must be a finite number of MB > 0, got 0'],
    ['resourceLimits: negative', { resourceLimits: { codeRangeSizeMb: -1 } }, RangeError, /codeRangeSizeMb must be a finite number of MB > 0, got -1$/],
    ['resourceLimits: Infinity', { resourceLimits: { maxYoungGenerationSizeMb: Infinity } }, RangeError, /got Infinity$/],
    ['resourceLimits: NaN', { resourceLimits: { stackSizeMb: NaN } }, RangeError, /got NaN$/],
    // Node 20 ends the whole process when a worker's stack is this small (exit code 6, no 'error').
    ['resourceLimits: a stack too small to start a worker', { resourceLimits: { stackSizeMb: 0.1 } }, RangeError, /^Pool: options\.resourceLimits\.stackSizeMb must be at least 1 \(MB\), got 0\.1: /],
    ['env: a string', { env: 'FOO=1' }, TypeError, `Pool: options.env must be an object of environment variables or worker_threads' SHARE_ENV, got string "FOO=1"`],
    ['env: another symbol', { env: Symbol('env') }, TypeError, /^Pool: options\.env must be an object .*, got symbol$/],
    ['env: an array', { env: ['FOO=1'] }, TypeError, /^Pool: options\.env must be an object .*, got an array$/],
    // Node converts each value with `${value}` as each worker starts: one that cannot be converted failed every start ('workers keep dying').
    ['env: a symbol value', { env: { FOO: Symbol('x') } }, TypeError, 'Pool: options.env.FOO must be a string (or a value Node makes one), got a symbol'],
    [
      'env: a value whose conversion throws',
      { env: { 'MY-VAR': { toString: () => { throw new Error('boom'); } } } },
      TypeError,
      'Pool: options.env["MY-VAR"] must be a string (or a value Node makes one), got an object (Object) whose conversion to a string threw: boom',
    ],
    // Spread into the initializer's call, as a call's arguments are: more overflowed the stack in every worker.
    ['initArgs: more than a call takes', { initArgs: new Array(65_537).fill(0) }, RangeError, 'Pool: options.initArgs has 65537 elements: a call takes at most 65536 arguments'],
    ['argv: a string', { argv: '--verbose' }, TypeError, 'Pool: options.argv must be an array, got string "--verbose"'],
    ['execArgv: a string', { execArgv: '--no-warnings' }, TypeError, 'Pool: options.execArgv must be an array of strings, got string "--no-warnings"'],
    ['execArgv: a number in it', { execArgv: ['--no-warnings', 4] }, TypeError, 'Pool: options.execArgv[1] must be a string, got number 4'],
    ['workerData: a function', { workerData: { f: () => {} } }, TypeError, /^Pool: options\.workerData cannot be sent to a worker: .+/],
    ['name: a number', { name: 7 }, TypeError, 'Pool: options.name must be a string, got number 7'],
    ['closeTimeout: a string', { closeTimeout: '5s' }, TypeError, 'Pool: options.closeTimeout must be a number of ms, got string "5s"'],
    ['closeTimeout: negative', { closeTimeout: -1 }, RangeError, 'Pool: options.closeTimeout must be a finite number of ms in [0, 2^31 - 1], got -1'],
    ['closeTimeout: too long', { closeTimeout: 2 ** 31 }, RangeError, /in \[0, 2\^31 - 1\], got 2147483648$/],
    ['closeTimeout: NaN', { closeTimeout: NaN }, RangeError, /got NaN$/],
  ];

  it.each(bad)('%s', (_, options, kind, message) => {
    const error = thrown(() => new Pool({ backend: 'worker', ...options } as PoolOptions));
    expect(error).toBeInstanceOf(kind);
    if (typeof message === 'string') expect((error as Error).message).toBe(message);
    else expect((error as Error).message).toMatch(message);
  });

  it('workerData that cannot be cloned keeps the reason as its cause', () => {
    const error = thrown(() => new Pool({ backend: 'worker', workerData: Symbol('x') }));
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(((error as Error).cause as Error).message);
  });

  const good: PoolOptions = {
    resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32, codeRangeSizeMb: 64, stackSizeMb: 4 },
    env: { SPINDLE_TEST: '1' },
    argv: ['--flag', 3],
    execArgv: [],
    workerData: { shared: new SharedArrayBuffer(8), list: [1, 2n, 'three'], when: new Date(0) },
    name: 'spindle-options-test',
    closeTimeout: 5000,
  };

  it('a worker pool takes them all, with SHARE_ENV too, and runs', async () => {
    const envs: PoolOptions['env'][] = [good.env, SHARE_ENV];
    for (const env of envs) {
      const pool = new Pool({ backend: 'worker', size: 1, ...good, env });
      try {
        expect(await pool.apply(noop, [7])).toBe(7);
      } finally {
        await pool.terminate();
      }
    }
  });

  it.runIf(backendInfo().native)('a native pool refuses each worker-only one, and takes closeTimeout', async () => {
    for (const name of ['resourceLimits', 'env', 'argv', 'execArgv', 'workerData', 'name'] as const) {
      expect(() => new Pool({ backend: 'native', [name]: good[name] })).toThrow(
        new TypeError(`Pool: options.${name} applies only to the worker backend, and this pool's backend is 'native'`),
      );
    }
    const pool = new Pool({ backend: 'native', size: 1, closeTimeout: 5000 });
    try {
      expect(await pool.apply(noop, [7])).toBe(7);
    } finally {
      await pool.terminate();
    }
  });
});

describe('a call\'s attempts option', () => {
  it.each(availableBackends())('is the queue backend\'s alone: the $name backend refuses it on every method, naming it', async ({ name, make }) => {
    const pool = make({ size: 1 });
    const message = `options.attempts applies only to the queue backend, and this pool's backend is '${name}'`;
    try {
      await expect(pool.apply(kernels.noop, [1], { attempts: 2 })).rejects.toThrow(new TypeError(`apply: ${message}`));
      expect(() => pool.applyAsync(kernels.noop, [1], { attempts: 2 })).toThrow(new TypeError(`applyAsync: ${message}`));
      await expect(pool.map(kernels.noop, [1], { attempts: 2 })).rejects.toThrow(new TypeError(`map: ${message}`));
      expect(() => pool.imap(kernels.noop, [1], { attempts: 2 })).toThrow(new TypeError(`imap: ${message}`));
      expect(pool.stats().submitted).toBe(0);
    } finally {
      await pool.terminate();
    }
  });
});
