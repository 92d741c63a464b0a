// Scenario 3: event-loop delay while every pool thread is busy with countPrimes.
//
// perf_hooks.monitorEventLoopDelay({ resolution: 1 }) samples how late a 1 ms timer fires. Cases,
// interleaved rep by rep:
//   idle        nothing running: the floor this VM gives (timer slack, steal);
//   native      a native pool of size = availableParallelism, kept busy for the target time by
//               enough countPrimes(0, 1e7) tasks submitted at once (completions come back during
//               the window, so the completion path is part of what is measured);
//   main        the JS twin run on the main thread, one countPrimes(0, 1e8) per macrotask: the
//               delay is the job time, by construction;
//   worker      spindle's worker backend (same size) flooded with countPrimes(0, 1e7) calls (too
//               small to be split: each is one task running the JS twin);
//   piscina, tinypool, workerpool   the same number of workers running bench/tasks/primes.mjs
//               (the same JS twin) over [0, 1e7).
// The pool floods use small tasks (a few ms each) so that the window ends close to the target and
// no thread idles at the end; the main-thread job is larger, as the delay it causes is the point.
// On 2 cores the busy threads compete with the main thread for CPU, which is the honest case.
// Invariant: every task's count is checked against pi(1e7) (pi(1e8) on the main thread).

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { summarize } from '../lib/stats.mjs';
import { statRow } from '../lib/report.mjs';
import { check, PI, sleep, settle } from '../lib/common.mjs';
import { availablePeers, missingPeerRows } from '../lib/peers.mjs';

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
  const { spindle, reps, quick, log } = ctx;
  const { Pool, kernels } = spindle;
  const size = ctx.cpus;
  const targetMs = quick ? 500 : 2000;
  const rows = [...missingPeerRows('eventloop', ctx.peers)];

  const pool = new Pool({ backend: 'native', size });
  const workerPool = new Pool({ backend: 'worker', size });
  const peerPools = availablePeers(ctx.peers).map((p) => ({ name: p.name, pool: p.open('primes', size) }));
  const twin = () => kernels.countPrimes.run([0, MAIN_UNIT], { cancelled: () => false, progress() {} });

  // The pool contenders: one task of [0, UNIT) each. Keys are the JSON's keys.
  const floods = [
    { key: 'native', label: (k) => `native pool, ${k} × countPrimes(0, 1e7)`, one: () => pool.apply(kernels.countPrimes, [0, UNIT]) },
    { key: 'worker', label: (k) => `worker backend, ${k} × countPrimes(0, 1e7) (JS twin)`, one: () => workerPool.apply(kernels.countPrimes, [0, UNIT]) },
    ...peerPools.map(({ name, pool: p }) => ({ key: name, label: (k) => `${name}, ${k} × JS twin(0, 1e7)`, one: () => p.run({ lo: 0, hi: UNIT }) })),
  ];

  const results = Object.fromEntries(['idle', 'main', ...floods.map((f) => f.key)].map((k) => [k, []]));
  const cal = { targetMs };
  try {
    // Warm-up: workers start and import their task module, the JIT warms, then calibration.
    for (const f of floods) await flood(f.one, 2 * size, `${f.key} warm-up`);
    for (const f of floods) cal[f.key] = await calibrate(f.one, size, targetMs, f.key);
    twin(); // JIT warm-up
    const t0 = performance.now();
    check(twin() === PI.get(MAIN_UNIT), 'JS twin warm-up count wrong');
    cal.twinMs = performance.now() - t0;
    cal.mainJobs = Math.max(2, Math.round(targetMs / cal.twinMs));
    log(`eventloop: ${floods.map((f) => `${f.key} ${cal[f.key].k} tasks`).join(', ')}, main ${cal.mainJobs} jobs of ${cal.twinMs.toFixed(0)} ms`);

    const cases = {
      idle: () => sleep(targetMs),
      main: async () => {
        // One blocking job per macrotask, back to back: the 1 ms timer fires between jobs.
        for (let j = 0; j < cal.mainJobs; j++) {
          await new Promise((r) => setImmediate(r));
          check(twin() === PI.get(MAIN_UNIT), 'main-thread JS twin count wrong');
        }
      },
      ...Object.fromEntries(floods.map((f) => [f.key, () => flood(f.one, cal[f.key].k, f.key)])),
    };
    for (let r = 0; r < reps; r++) {
      log(`eventloop: rep ${r + 1}/${reps}`);
      for (const [name, fn] of Object.entries(cases)) results[name].push(await withMonitor(fn));
    }
  } finally {
    pool.close();
    workerPool.close();
    await Promise.all([pool.join(), workerPool.join(), ...peerPools.map((p) => p.pool.close())]);
  }

  const labels = {
    idle: ['idle (reference; includes the 1 ms sampling interval)', ''],
    main: [`main thread, JS twin, ${cal.mainJobs} × countPrimes(0, 1e8)`, 1],
    ...Object.fromEntries(floods.map((f) => [f.key, [f.label(cal[f.key].k), size]])),
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
