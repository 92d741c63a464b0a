// One memory case in its own process (started by memory.mjs as `node --expose-gc memory-child.mjs
// <case> <n>`), so that each case starts from a clean heap and its peak RSS is its own.
// Prints one JSON line; exit code 2 means a wrong result, 1 a crash.
//
// Peak RSS: sampled every 10 ms by a setInterval and, in case a loop keeps the event loop from
// reaching timers (promise chains that settle in microtasks), also every 1024 items inline and once
// at the end. Growth = peak - baseline, where the baseline is taken after the pool exists, a warm-up
// ran the same code path and gc() ran.

import { join } from 'node:path';
import { check, triangular, TASKS, loadSpindle, loadPiscina, settle, WrongResultError } from '../lib/common.mjs';

const [caseName, nArg] = process.argv.slice(2);
const N = Number(nArg);
const MB = 1024 * 1024;

let peak = 0;
const sample = () => {
  const r = process.memoryUsage.rss();
  if (r > peak) peak = r;
};

function* gen(n) {
  for (let i = 0; i < n; i++) yield i;
}

const cases = {
  // (a) lazy imap over a lazy generator: only a bounded window should ever be in memory.
  async imap({ pool, kernels }, n) {
    let i = 0;
    let sum = 0;
    for await (const x of pool.imap(kernels.noop, gen(n))) {
      check(x === i, `imap: item ${i} came back as ${x} (order or value wrong)`);
      sum += x;
      if ((++i & 1023) === 0) sample();
    }
    check(i === n && sum === triangular(n), `imap: ${i} items, sum ${sum}; expected ${n}, ${triangular(n)}`);
  },
  // (b) awaited submit loop: back-pressure; results consumed through get(), nothing kept.
  async submit({ pool, kernels }, n) {
    let sum = 0;
    let done = 0;
    let resolveAll;
    const all = new Promise((r) => (resolveAll = r));
    const onValue = (v) => {
      sum += v;
      if (++done === n) resolveAll();
    };
    for (let i = 0; i < n; i++) {
      const r = await pool.submit(kernels.noop, [i]);
      r.get().then(onValue);
      if ((i & 1023) === 0) sample();
    }
    await all;
    check(sum === triangular(n), `submit: sum ${sum}, expected ${triangular(n)}`);
  },
  // (d) applyAsync flood without awaiting (the DESIGN.md bar): the tasks, not the caller, wait.
  async applyAsync({ pool, kernels }, n) {
    let sum = 0;
    let done = 0;
    let resolveAll;
    const all = new Promise((r) => (resolveAll = r));
    const callback = (v) => {
      sum += v;
      if (++done === n) resolveAll();
    };
    for (let i = 0; i < n; i++) {
      pool.applyAsync(kernels.noop, [i], { callback });
      if ((i & 1023) === 0) sample();
    }
    sample();
    await all;
    check(sum === triangular(n), `applyAsync: sum ${sum}, expected ${triangular(n)}`);
  },
  // (c) piscina's naive flood: every run() promise created up front and collected.
  async piscina({ pis }, n) {
    const ps = new Array(n);
    for (let i = 0; i < n; i++) {
      ps[i] = pis.run(i);
      if ((i & 1023) === 0) sample();
    }
    sample();
    const rs = await Promise.all(ps);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += rs[i];
    check(sum === triangular(n), `piscina flood: sum ${sum}, expected ${triangular(n)}`);
  },
};

async function main() {
  const fn = cases[caseName];
  if (!fn || !(N > 0)) throw new Error(`usage: memory-child.mjs <${Object.keys(cases).join('|')}> <n>`);
  const env = {};
  if (caseName === 'piscina') {
    const { Piscina } = await loadPiscina();
    env.pis = new Piscina({ filename: join(TASKS, 'identity.mjs') });
  } else {
    const spindle = await loadSpindle();
    env.kernels = spindle.kernels;
    env.pool = new spindle.Pool({ backend: 'native' });
  }
  await fn(env, Math.min(N, 10_000)); // warm-up on the same path
  await settle();
  globalThis.gc?.();
  globalThis.gc?.();
  await settle();
  const baseline = process.memoryUsage.rss();
  const heap0 = process.memoryUsage().heapUsed;
  peak = baseline;
  const timer = setInterval(sample, 10);
  const t0 = performance.now();
  await fn(env, N);
  const ms = performance.now() - t0;
  clearInterval(timer);
  sample();
  const heap1 = process.memoryUsage().heapUsed;
  // What is still held once garbage is collected, pools alive: tells a leak (retained grows
  // with n) from V8 simply letting garbage accumulate before collecting it (peak only).
  await settle();
  globalThis.gc?.();
  globalThis.gc?.();
  const retainedRss = process.memoryUsage.rss() - baseline;
  const retainedHeap = process.memoryUsage().heapUsed - heap0;
  if (env.pool) {
    env.pool.close();
    await env.pool.join();
  }
  if (env.pis) await env.pis.destroy();
  process.stdout.write(
    JSON.stringify({
      case: caseName,
      n: N,
      gc: typeof globalThis.gc === 'function',
      baselineMB: baseline / MB,
      peakMB: peak / MB,
      growthMB: (peak - baseline) / MB,
      heapDeltaMB: (heap1 - heap0) / MB,
      retainedRssMB: retainedRss / MB,
      retainedHeapMB: retainedHeap / MB,
      ms,
      usPerItem: (ms * 1e3) / N,
    }) + '\n',
  );
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ case: caseName, error: String(error?.stack ?? error), wrong: error instanceof WrongResultError }) + '\n');
  process.exitCode = error instanceof WrongResultError ? 2 : 1;
});
