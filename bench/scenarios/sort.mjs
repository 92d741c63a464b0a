// Scenario: kernels.sort and kernels.argsort (#15) against V8's own TypedArray.prototype.sort()
// on the main thread, one run, variants interleaved rep by rep:
//   native      sort on a native pool of every CPU (a SharedArrayBuffer array, sorted in place);
//   main        V8's .sort() of the same values on the main thread (blocking: the baseline);
//   twin        the JS twin on a worker pool of size 1 (the array on a SharedArrayBuffer, so
//               nothing is copied: the radix sort alone);
//   twin2       the JS twin on a worker pool of size 2, the same SharedArrayBuffer array: the
//               sort shared out over both workers (src-ts/kernels/sort-parallel.ts);
//   argsort     native argsort of the same Float64 values (bar: at most 2x sort's time);
//   argsort2    the JS twin's argsort of them shared out over 2 workers (SharedArrayBuffer);
//   staged2     the JS twin on 2 workers, sorting an ordinary (not shared) Float64Array: staged
//               in a SharedArrayBuffer by the pool's thread and copied back (sort-parallel.ts);
//               with the longest event-loop gap (1 ms timers) over its calls, the first one
//               (the warm-up: a fresh staging buffer) included.
// For 1e7 Float64 (Math.random()) and Int32 (random 32-bit) values. Then the event loop's p99
// delay while a native sort of 1e8 doubles (1e7 --quick) runs on every thread.
// Every result is checked before its time counts: each sorted array equals V8's sort of the
// input element by element under Object.is, argsort's indices sort the input.
// The anchors (std::sort, ips4o, vqsort in C++) are bench/cpp/sort_bench.cpp's, run apart.

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { summarize, pairedRatio } from '../lib/stats.mjs';
import { statRow } from '../lib/report.mjs';
import { check, settle } from '../lib/common.mjs';

async function time(fn) {
  await settle();
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** time(fn), and the longest gap between 1 ms timer ticks while it ran: how long the event loop stalled. */
async function timeWithLoopGap(fn) {
  let last = performance.now();
  let gap = 0;
  let ticking = true;
  const tick = () => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
    if (ticking) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  await new Promise((resolve) => setTimeout(resolve, 5));
  gap = 0;
  const result = await time(fn);
  await new Promise((resolve) => setTimeout(resolve, 5)); // a stall at the very end shows in the next tick
  ticking = false;
  return { ...result, gap };
}

function sameValues(got, want, label) {
  check(got.length === want.length, `${label}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) check(false, `${label}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

function checkArgsort(input, idx, want, label) {
  check(idx.length === input.length, `${label}: ${idx.length} indices for ${input.length} elements`);
  for (let i = 0; i < idx.length; i++) {
    if (!Object.is(input[idx[i]], want[i])) check(false, `${label}: index ${i} picks ${input[idx[i]]}, expected ${want[i]}`);
  }
}

function shared(ctor, n) {
  return new ctor(new SharedArrayBuffer(n * ctor.BYTES_PER_ELEMENT));
}

export async function run(ctx) {
  const { spindle, quick, reps, log, cpus } = ctx;
  const { Pool, kernels } = spindle;
  const n = quick ? 2e6 : 1e7;
  const bigN = quick ? 1e7 : 1e8;
  const rows = [];
  const data = { n, bigN, cpus };
  const native = new Pool({ backend: 'native', size: cpus });
  const worker = new Pool({ backend: 'worker', size: 1 });
  const worker2 = new Pool({ backend: 'worker', size: 2 });
  try {
    const inputs = {
      Float64: Float64Array.from({ length: n }, Math.random),
      Int32: Int32Array.from({ length: n }, () => (Math.random() * 2 ** 32) | 0),
    };
    for (const [type, input] of Object.entries(inputs)) {
      const want = input.slice().sort();
      const array = shared(input.constructor, n);
      // V8's sort works on this one copy, refilled each rep: a fresh 80 MB copy per rep left
      // garbage that the main thread's GC swept while the next variant (the twin) ran, which
      // on two cores added up to 40% to the twin's time.
      const copy = new input.constructor(n);
      const t = { native: [], main: [], twin: [], twin2: [], argsort: [], argsort2: [], staged2: [], stagedGap: [] };
      for (let r = -1; r < reps; r++) {
        log(`sort: ${type} rep ${r + 2}/${reps + 1}`);
        array.set(input);
        const a = await time(() => native.apply(kernels.sort, [array]));
        sameValues(array, want, `sort: native ${type}`);
        copy.set(input);
        const m = await time(() => copy.sort());
        array.set(input);
        const w = await time(() => worker.apply(kernels.sort, [array]));
        sameValues(array, want, `sort: twin ${type}`);
        array.set(input);
        const w2 = await time(() => worker2.apply(kernels.sort, [array]));
        sameValues(array, want, `sort: twin on 2 workers ${type}`);
        let g, g2, s2;
        if (type === 'Float64') {
          g = await time(() => native.apply(kernels.argsort, [input]));
          checkArgsort(input, g.value, want, `argsort: native ${type}`);
          array.set(input);
          g2 = await time(() => worker2.apply(kernels.argsort, [array]));
          checkArgsort(input, g2.value, want, `argsort: twin on 2 workers ${type}`);
          copy.set(input);
          s2 = await timeWithLoopGap(() => worker2.apply(kernels.sort, [copy]));
          t.stagedGap.push(s2.gap); // the warm-up's too: its staging buffer is fresh
          sameValues(copy, want, `sort: twin on 2 workers, staged ${type}`);
        }
        if (r < 0) continue; // warm-up: threads started, scratch faulted in
        t.native.push(a.ms);
        t.main.push(m.ms);
        t.twin.push(w.ms);
        t.twin2.push(w2.ms);
        if (g) t.argsort.push(g.ms);
        if (g2) t.argsort2.push(g2.ms);
        if (s2) t.staged2.push(s2.ms);
      }
      data[type] = t;
      const base = { scenario: 'sort', unit: 'ms', metric: 'wall time' };
      const label = `${n / 1e6}M ${type}`;
      rows.push(statRow({ ...base, case: `sort ${label}, native`, threads: cpus }, summarize(t.native)));
      rows.push(statRow({ ...base, case: `${type}Array.prototype.sort() on the main thread (blocked)`, threads: 1 }, summarize(t.main)));
      rows.push(statRow({ ...base, case: `sort ${label}, JS twin on one worker`, threads: 1 }, summarize(t.twin)));
      const ratio = { scenario: 'sort', metric: 'ratio', unit: '×' };
      rows.push(statRow({ ...ratio, case: `${label}: V8 sort / native sort time`, threads: cpus }, pairedRatio(t.main, t.native), { bar: { op: '>=', value: type === 'Float64' ? 20 : 25 } }));
      rows.push(statRow({ ...ratio, case: `${label}: V8 sort / JS twin time`, threads: 1 }, pairedRatio(t.main, t.twin), { bar: { op: '>=', value: 2.5 } }));
      rows.push(statRow({ ...base, case: `sort ${label}, JS twin shared out over 2 workers (SharedArrayBuffer)`, threads: 2 }, summarize(t.twin2)));
      rows.push(statRow({ ...ratio, case: `${label}: V8 sort / JS twin on 2 workers time`, threads: 2 }, pairedRatio(t.main, t.twin2)));
      rows.push(statRow({ ...ratio, case: `${label}: JS twin 1 worker / 2 workers time`, threads: 2 }, pairedRatio(t.twin, t.twin2)));
      if (type === 'Float64') {
        rows.push(statRow({ ...base, case: `argsort ${label}, native`, threads: cpus }, summarize(t.argsort)));
        rows.push(statRow({ ...ratio, case: `${label}: native argsort / sort time`, threads: cpus }, pairedRatio(t.argsort, t.native), { bar: { op: '<=', value: 2 } }));
        rows.push(statRow({ ...base, case: `argsort ${label}, JS twin shared out over 2 workers (SharedArrayBuffer)`, threads: 2 }, summarize(t.argsort2)));
        rows.push(statRow({ ...base, case: `sort ${label} in an ordinary ArrayBuffer, JS twin on 2 workers (staged)`, threads: 2 }, summarize(t.staged2)));
        rows.push(statRow({ ...ratio, case: `${label}: staged / SharedArrayBuffer sort time, JS twin on 2 workers`, threads: 2 }, pairedRatio(t.staged2, t.twin2)));
        const gaps = t.stagedGap;
        rows.push({ scenario: 'sort', case: `longest event-loop stall while the worker backend sorts an ordinary ${label} array (staged)`, threads: 2, metric: 'max gap', unit: 'ms',
          median: Math.max(...gaps), min: Math.min(...gaps), max: Math.max(...gaps), n: gaps.length, note: `first call (fresh staging buffer) ${gaps[0].toFixed(1)} ms` });
      }
    }

    // The event loop while a big sort runs on every native thread.
    log(`sort: event loop during a ${bigN / 1e6}M Float64 sort`);
    const big = shared(Float64Array, bigN);
    for (let i = 0; i < bigN; i++) big[i] = Math.random();
    const h = monitorEventLoopDelay({ resolution: 1 });
    await settle();
    h.enable();
    const started = performance.now();
    const sorted = native.apply(kernels.sort, [big]);
    // Keep the loop turning with timers, as a server's would.
    let ticking = true;
    const tick = () => ticking && setTimeout(tick, 1);
    tick();
    await sorted;
    const ms = performance.now() - started;
    ticking = false;
    h.disable();
    for (let i = 1; i < bigN; i++) if (!(big[i - 1] <= big[i])) check(false, `sort: the ${bigN} array is not sorted at ${i}`);
    data.eventLoop = { ms, p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
    rows.push({ scenario: 'sort', case: `event-loop p99 while native sorts ${bigN / 1e6}M Float64`, threads: cpus, metric: 'p99 delay', unit: 'ms',
      median: data.eventLoop.p99, min: data.eventLoop.p50, max: data.eventLoop.max, n: h.count, bar: { op: '<=', value: 5 },
      note: `sort took ${ms.toFixed(0)} ms; min = p50, max = max` });
  } finally {
    await Promise.all([native.terminate(), worker.terminate(), worker2.terminate()]);
  }
  return { rows, data };
}
