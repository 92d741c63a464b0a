// Scenario 2: countPrimes(0, N) scaling over pool sizes, against primesieve and the JS twin.
//
// One apply() of the whole range per run: the kernel splits itself into chunks, so one call must
// use every thread of the pool. Each run also records CPU time / wall time ("cores used"), which
// shows whether a size-1 pool really ran on one thread and a size-2 pool on two, independently of
// how noisy the wall times are.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { summarize, pairedRatio } from '../lib/stats.mjs';
import { statRow } from '../lib/report.mjs';
import { check, PI, settle, sizesUpTo } from '../lib/common.mjs';

const PRIMESIEVE = '/usr/bin/primesieve';

async function timeApply(pool, countPrimes, lo, hi, label) {
  await settle();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const count = await pool.apply(countPrimes, [lo, hi]);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const expected = PI.get(hi);
  check(count === expected, `${label}: countPrimes(${lo}, ${hi}) = ${count}, expected ${expected}`);
  return { s: ms / 1e3, cores: (c.user + c.system) / 1e3 / ms };
}

/** primesieve's own timer (sieving only) and the process wall time; checks its count too. */
function runPrimesieve(n, threads) {
  const t0 = performance.now();
  // primesieve's bounds are inclusive: [0, n-1] is [0, n).
  const r = spawnSync(PRIMESIEVE, [String(n - 1), '-c1', `--threads=${threads}`, '--time', '-q'], { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1e3;
  if (r.status !== 0) throw new Error(`primesieve exited with ${r.status}: ${r.stderr}`);
  const secs = /Seconds:\s*([\d.]+)/.exec(r.stdout);
  const count = /^\s*(?:Primes:\s*)?(\d+)\s*$/m.exec(r.stdout.replace(/Seconds:.*$/m, ''));
  if (!secs || !count) throw new Error(`cannot parse primesieve output: ${JSON.stringify(r.stdout)}`);
  check(Number(count[1]) === PI.get(n), `primesieve counted ${count[1]} primes below ${n}, expected ${PI.get(n)}`);
  return { s: Number(secs[1]), wall };
}

export async function run(ctx) {
  const { spindle, quick, log } = ctx;
  // Quick mode's 1e9 range takes only ~0.05-0.1 s, where one preemption is a large share of a
  // sample; three times the reps cost about a second and steady the medians.
  const reps = quick ? ctx.reps * 3 : ctx.reps;
  const { Pool, kernels } = spindle;
  const N = quick ? 1e9 : 1e10;
  const JS_N = quick ? 1e8 : 1e9; // the JS twin is ~3x slower than C++; keep its runs short
  const sizes = sizesUpTo([1, 2, 4, 8, 16, 32, 64], ctx.cpus);
  const rows = [];
  const data = { N, jsN: JS_N, reps, sizes, spindle: {}, primesieve: null, jsTwin: null };

  const pools = new Map(sizes.map((s) => [s, new Pool({ backend: 'native', size: s })]));
  const anchor = existsSync(PRIMESIEVE);
  try {
    // Warm-up on the timed range itself: the first call builds sieving primes and scratch.
    for (const [s, pool] of pools) await timeApply(pool, kernels.countPrimes, 0, N, `warm-up size ${s}`);
    if (anchor) runPrimesieve(N, ctx.cpus);

    const t = Object.fromEntries(sizes.map((s) => [s, []]));
    const cores = Object.fromEntries(sizes.map((s) => [s, []]));
    const ps = Object.fromEntries(sizes.map((s) => [s, []]));
    const psWall = Object.fromEntries(sizes.map((s) => [s, []]));
    for (let r = 0; r < reps; r++) {
      log(`scaling: rep ${r + 1}/${reps}`);
      for (const [s, pool] of pools) {
        const x = await timeApply(pool, kernels.countPrimes, 0, N, `size ${s}`);
        t[s].push(x.s);
        cores[s].push(x.cores);
      }
      if (anchor) {
        for (const s of sizes) {
          const x = runPrimesieve(N, s);
          ps[s].push(x.s);
          psWall[s].push(x.wall);
        }
      }
    }

    // JS twin on the main thread against the C++ kernel on a size-1 pool, same range, paired.
    const js = [];
    const cpp = [];
    const ctxNone = { cancelled: () => false, progress() {} };
    kernels.countPrimes.run([0, 1e7], ctxNone); // warm-up: JIT the twin
    for (let r = 0; r < reps; r++) {
      await settle();
      const t0 = performance.now();
      const c = kernels.countPrimes.run([0, JS_N], ctxNone);
      js.push((performance.now() - t0) / 1e3);
      check(c === PI.get(JS_N), `JS twin: countPrimes(0, ${JS_N}) = ${c}, expected ${PI.get(JS_N)}`);
      cpp.push((await timeApply(pools.get(1), kernels.countPrimes, 0, JS_N, 'size 1 (JS range)')).s);
    }

    const label = `countPrimes(0, ${N.toExponential().replace('+', '')})`;
    for (const s of sizes) {
      const base = { scenario: 'scaling', case: `spindle ${label}`, threads: s };
      rows.push(statRow({ ...base, metric: 'time', unit: 's' }, summarize(t[s]), {
        note: `cores used ${summarize(cores[s]).median.toFixed(2)}; count ${PI.get(N)} ok`,
      }));
      if (s > 1) {
        rows.push(statRow({ ...base, metric: `speed-up t1/t${s}`, unit: '×' }, pairedRatio(t[1], t[s]),
          s === 2 ? { bar: { op: '>=', value: 1.9 } } : s === 16 ? { bar: { op: '>=', value: 14 } } : {}));
      }
    }
    if (anchor) {
      for (const s of sizes) {
        const base = { scenario: 'scaling', case: `primesieve ${N - 1} -c1`, threads: s };
        rows.push(statRow({ ...base, metric: 'time (its timer)', unit: 's' }, summarize(ps[s]), {
          note: `process wall ${summarize(psWall[s]).median.toFixed(3)} s`,
        }));
        rows.push(statRow({ ...base, case: 'spindle / primesieve', metric: 'time ratio', unit: '×' }, pairedRatio(t[s], ps[s]),
          s === 1 ? { bar: { op: '<=', value: 1.5 } } : {}));
      }
      if (sizes.includes(2)) {
        rows.push(statRow({ scenario: 'scaling', case: 'primesieve', threads: 2, metric: 'speed-up t1/t2', unit: '×' }, pairedRatio(ps[1], ps[2])));
      }
      data.primesieve = { seconds: ps, wall: psWall };
    } else {
      rows.push({ scenario: 'scaling', case: 'primesieve anchor', metric: 'skipped', note: `${PRIMESIEVE} not found (apt-get install primesieve-bin)` });
    }
    const jsLabel = `countPrimes(0, ${JS_N.toExponential().replace('+', '')})`;
    rows.push(statRow({ scenario: 'scaling', case: `JS twin ${jsLabel}, main thread`, threads: 1, metric: 'time', unit: 's' }, summarize(js)));
    rows.push(statRow({ scenario: 'scaling', case: `C++ ${jsLabel}, size-1 pool`, threads: 1, metric: 'time', unit: 's' }, summarize(cpp)));
    rows.push(statRow({ scenario: 'scaling', case: 'JS twin / C++', threads: 1, metric: 'time ratio', unit: '×' }, pairedRatio(js, cpp), { bar: { op: '<=', value: 3 } }));
    Object.assign(data, { spindle: { seconds: t, coresUsed: cores }, jsTwin: { js, cpp } });
  } finally {
    for (const pool of pools.values()) pool.close();
    await Promise.all([...pools.values()].map((p) => p.join()));
  }
  return { rows, data };
}
