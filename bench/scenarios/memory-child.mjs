// One memory case in its own process (started by memory.mjs as `node memory-child.mjs <case> <n>`),
// so that each case starts from a clean heap and its peak RSS is its own.
// Prints one JSON line; exit code 2 means a wrong result, 1 a crash.
//
// Cases: main (the floor: no pool); imap, submit, applyAsync on the native backend, and the same
// with a "-worker" suffix on the worker backend (kernels.noop's JS twin); piscina, tinypool and
// workerpool: a naive flood of run()/exec() calls, every promise created up front and collected
// (none of them offers back-pressure on submission; their users write this).
//
// Peak RSS: sampled every 10 ms by a setInterval and, in case a loop keeps the event loop from
// reaching timers (promise chains that settle in microtasks), also every 1024 items inline and once
// at the end. Growth = peak - baseline, where the baseline is taken after the pool exists, a warm-up
// ran the same code path and gc() ran.

import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { check, triangular, loadSpindle, settle, WrongResultError } from '../lib/common.mjs';
import { loadPeers, PEER_NAMES } from '../lib/peers.mjs';
import identity from '../tasks/identity.mjs';

// gc() without `node --expose-gc`: spindle's worker backend passes process.execArgv on to its
// workers, and Worker rejects V8 flags such as --expose-gc there (ERR_WORKER_INVALID_EXEC_ARGV).
// Setting the flag at run time and taking gc from a fresh context gives the same function while
// the process's execArgv stays empty, the same for every case.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

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

/** A peer's naive flood: every run() promise created up front and collected. */
async function peerFlood({ peer }, n) {
  const ps = new Array(n);
  for (let i = 0; i < n; i++) {
    ps[i] = peer.run(i);
    if ((i & 1023) === 0) sample();
  }
  sample();
  const rs = await Promise.all(ps);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += rs[i];
  check(sum === triangular(n), `${caseName} flood: sum ${sum}, expected ${triangular(n)}`);
}

const poolCases = {
  // Lazy imap over a lazy generator: only a bounded window should ever be in memory.
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
  // Awaited submit loop: back-pressure; results consumed through get(), nothing kept.
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
  // applyAsync flood without awaiting (the DESIGN.md bar): the tasks, not the caller, wait.
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
};

const cases = {
  // The floor: the same lazy generator consumed on the main thread, no pool.
  async main(_env, n) {
    let sum = 0;
    let i = 0;
    for (const x of gen(n)) {
      sum += identity(x);
      if ((++i & 1023) === 0) sample();
    }
    check(sum === triangular(n), `main: sum ${sum}, expected ${triangular(n)}`);
  },
  ...poolCases,
  ...Object.fromEntries(Object.entries(poolCases).map(([k, fn]) => [`${k}-worker`, fn])),
  ...Object.fromEntries(PEER_NAMES.map((k) => [k, peerFlood])),
};

async function main() {
  const fn = cases[caseName];
  if (!fn || !(N > 0)) throw new Error(`usage: memory-child.mjs <${Object.keys(cases).join('|')}> <n>`);
  const env = {};
  if (PEER_NAMES.includes(caseName)) {
    const peer = (await loadPeers([caseName]))[caseName]; // only this one: a clean baseline
    if (peer.missing) throw new Error(`cannot import ${caseName}: ${peer.missing}`);
    // Sized like spindle's default pool, so that thread counts match across cases.
    env.peer = peer.open('identity', os.availableParallelism());
  } else if (caseName !== 'main') {
    const spindle = await loadSpindle();
    env.kernels = spindle.kernels;
    env.pool = new spindle.Pool({ backend: caseName.endsWith('-worker') ? 'worker' : 'native' });
  }
  await fn(env, Math.min(N, 10_000)); // warm-up on the same path
  await settle();
  gc();
  gc();
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
  gc();
  gc();
  const retainedRss = process.memoryUsage.rss() - baseline;
  const retainedHeap = process.memoryUsage().heapUsed - heap0;
  if (env.pool) {
    env.pool.close();
    await env.pool.join();
  }
  if (env.peer) await env.peer.close();
  process.stdout.write(
    JSON.stringify({
      case: caseName,
      n: N,
      gc: typeof gc === 'function',
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
