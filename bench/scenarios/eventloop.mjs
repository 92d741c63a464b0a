// Scenario 3: event-loop delay while every pool thread is busy with countPrimes.
//
// perf_hooks.monitorEventLoopDelay({ resolution: 1 }) samples how late a 1 ms timer fires. Cases,
// interleaved rep by rep:
//   idle       — nothing running: the floor this VM gives (timer slack, steal);
//   native     — a native pool of size = availableParallelism, kept busy for the target time by
//                enough countPrimes(0, 1e7) tasks submitted at once (completions come back during
//                the window, so the completion path is part of what is measured);
//   main       — the JS twin run on the main thread, one countPrimes(0, 1e8) per macrotask:
//                the delay is the job time, by construction;
//   piscina    — piscina workers (same count) running bench/tasks/primes.mjs over [0, 1e7) ranges.
// The pool floods use small tasks (a few ms each) so that the window ends close to the target and
// no thread idles at the end; the main-thread job is larger, as the delay it causes is the point.
// On 2 cores the busy threads compete with the main thread for CPU, which is the honest case.

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { summarize } from '../lib/stats.mjs';
import { statRow } from '../lib/report.mjs';
import { check, PI, TASKS, sleep, settle } from '../lib/common.mjs';

const UNIT = 1e7; // one pool task's range; pi(1e7) is known, so every task is checked
const MAIN_UNIT = 1e8; // one blocking main-thread job

async function withMonitor(fn) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  await settle();
  h.enable();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  h.disable();
  return {
    p50: h.percentile(50) / 1e6,
    p99: h.percentile(99) / 1e6,
    max: h.max / 1e6,
    samples: h.count,
    ms,
    cores: (c.user + c.system) / 1e3 / ms,
  };
}

/** Runs k tasks of [0, UNIT) all at once through `runOne` and checks every count. */
async function flood(runOne, k, label) {
  const counts = await Promise.all(Array.from({ length: k }, () => runOne()));
  for (const c of counts) check(c === PI.get(UNIT), `${label}: count ${c}, expected ${PI.get(UNIT)}`);
}

/**
 * Task count that keeps `threads` busy for about targetMs: floods of growing size until one takes
 * at least a fifth of the target (a tiny batch overstates per-task cost: wake-ups, first touch).
 * Rounded to a multiple of the thread count so that no thread idles at the end.
 */
async function calibrate(runOne, threads, targetMs, label) {
  let n = 2 * threads;
  while (true) {
    const t0 = performance.now();
    await flood(runOne, n, `${label} calibration`);
    const ms = performance.now() - t0;
    if (ms >= targetMs / 5 || n >= 1e5) {
      const perTaskMs = ms / n; // throughput-wise, all threads busy
      return { k: Math.max(1, Math.round(targetMs / perTaskMs / threads)) * threads, perTaskMs };
    }
    n *= 2;
  }
}

export async function run(ctx) {
  const { spindle, piscina, reps, quick, log } = ctx;
  const { Pool, kernels } = spindle;
  const size = ctx.cpus;
  const targetMs = quick ? 500 : 2000;
  const rows = [];

  const pool = new Pool({ backend: 'native', size });
  const pis = new piscina.Piscina({ filename: join(TASKS, 'primes.mjs'), minThreads: size, maxThreads: size });
  const nativeOne = () => pool.apply(kernels.countPrimes, [0, UNIT]);
  const pisOne = () => pis.run({ lo: 0, hi: UNIT });
  const twin = () => kernels.countPrimes.run([0, MAIN_UNIT], { cancelled: () => false, progress() {} });

  const results = { idle: [], native: [], main: [], piscina: [] };
  let cal;
  try {
    await flood(pisOne, size, 'piscina warm-up'); // workers start, JIT warms
    const nat = await calibrate(nativeOne, size, targetMs, 'native');
    const pisc = await calibrate(pisOne, size, targetMs, 'piscina');
    twin(); // JIT warm-up
    const t0 = performance.now();
    check(twin() === PI.get(MAIN_UNIT), 'JS twin warm-up count wrong');
    const twinMs = performance.now() - t0;
    const mainJobs = Math.max(2, Math.round(targetMs / twinMs));
    cal = { native: nat, piscina: pisc, twinMs, mainJobs, targetMs };
    log(`eventloop: native ${nat.k} tasks, piscina ${pisc.k} tasks, main ${mainJobs} jobs of ${twinMs.toFixed(0)} ms`);

    const cases = {
      idle: () => sleep(targetMs),
      native: () => flood(nativeOne, nat.k, 'native'),
      main: async () => {
        // One blocking job per macrotask, back to back: the 1 ms timer fires between jobs.
        for (let j = 0; j < mainJobs; j++) {
          await new Promise((r) => setImmediate(r));
          check(twin() === PI.get(MAIN_UNIT), 'main-thread JS twin count wrong');
        }
      },
      piscina: () => flood(pisOne, pisc.k, 'piscina'),
    };
    for (let r = 0; r < reps; r++) {
      log(`eventloop: rep ${r + 1}/${reps}`);
      for (const [name, fn] of Object.entries(cases)) results[name].push(await withMonitor(fn));
    }
  } finally {
    pool.close();
    await Promise.all([pool.join(), pis.destroy()]);
  }

  const labels = {
    idle: ['idle (reference; includes the 1 ms sampling interval)', ''],
    native: [`native pool, ${cal.native.k} × countPrimes(0, 1e7)`, size],
    main: [`main thread, JS twin, ${cal.mainJobs} × countPrimes(0, 1e8)`, 1],
    piscina: [`piscina, ${cal.piscina.k} × JS sieve(0, 1e7)`, size],
  };
  for (const [name, rs] of Object.entries(results)) {
    const [label, threads] = labels[name];
    const base = { scenario: 'eventloop', case: label, threads, unit: 'ms' };
    const wall = summarize(rs.map((x) => x.ms)).median;
    const cores = summarize(rs.map((x) => x.cores)).median;
    rows.push(statRow({ ...base, metric: 'delay p50' }, summarize(rs.map((x) => x.p50))));
    rows.push(statRow({ ...base, metric: 'delay p99' }, summarize(rs.map((x) => x.p99)), name === 'native' ? { bar: { op: '<=', value: 5 } } : {}));
    rows.push(statRow({ ...base, metric: 'delay max' }, summarize(rs.map((x) => x.max)), {
      note: `window ${(wall / 1e3).toFixed(2)} s, cores used ${cores.toFixed(2)}`,
    }));
  }
  return { rows, data: { calibration: cal, results } };
}
