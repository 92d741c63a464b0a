// Scenario 2: countPrimes(0, N) over pool sizes 1, 2, 4, … availableParallelism: speed-up and
// efficiency of each contender, and the kernel against its anchor.
//
// Contenders, all counting the same range:
//   spindle native   one apply(countPrimes, [0, N]); the C++ kernel splits itself over the threads;
//   spindle worker   one apply(countPrimes, [0, N]) on the worker backend, which shares one big call
//                    out in parts over its workers (the JS twin in each);
//   piscina, tinypool, workerpool   the JS twin (bench/tasks/primes.mjs) on the range pre-split into
//                    `size` equal parts, one run()/exec() each, counts summed: a peer cannot split one
//                    call itself, so this is what its user would write;
//   main thread      the JS twin called directly, blocking (threads = 1 only);
//   primesieve       the external C++ anchor with its own --threads, where it is installed.
// The JS contenders run the same twin code, so among them the differences are the pools'.
//
// Each run also records CPU time / wall time of this process ("cores used", worker threads and
// native threads included), which shows whether a size-k pool really ran on k threads, whatever the
// wall times' noise. Sizes and contenders are interleaved within each rep, and speed-ups pair rep i
// of size 1 with rep i of size k. Every count is checked against pi(N) before its time counts.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { summarize, pairedRatio } from '../lib/stats.mjs';
import { statRow } from '../lib/report.mjs';
import { check, PI, settle, sizesUpTo, splitRange, exp } from '../lib/common.mjs';
import { availablePeers, missingPeerRows } from '../lib/peers.mjs';

const PRIMESIEVE = '/usr/bin/primesieve';

/** Times one call (sync or async) and checks its count; returns { s, cores }. */
async function timeCall(call, expected, label) {
  await settle();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const count = await call();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  check(count === expected, `${label}: counted ${count} primes, expected ${expected}`);
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

/**
 * The pool contenders. open(size) → pool; count(pool, size) → Promise<count of [0, N)>;
 * close(pool) → Promise. Keys are the JSON's keys: keep them stable (bench/chart.mjs reads them).
 */
function poolContenders(spindle, peers, N) {
  const { Pool, kernels } = spindle;
  const closeSpindle = async (pool) => {
    pool.close();
    await pool.join();
  };
  const list = [
    { key: 'native', name: 'spindle', open: (size) => new Pool({ backend: 'native', size }), count: (pool) => pool.apply(kernels.countPrimes, [0, N]), close: closeSpindle },
    { key: 'worker', name: 'spindle worker', open: (size) => new Pool({ backend: 'worker', size }), count: (pool) => pool.apply(kernels.countPrimes, [0, N]), close: closeSpindle },
  ];
  for (const peer of peers) {
    list.push({
      key: peer.name,
      name: `${peer.name} (JS twin, range in size parts)`,
      peer: true,
      open: (size) => peer.open('primes', size),
      count: async (pool, size) => {
        const counts = await Promise.all(splitRange(0, N, size).map((r) => pool.run(r)));
        return counts.reduce((a, b) => a + b, 0);
      },
      close: (pool) => pool.close(),
    });
  }
  return list;
}

export async function run(ctx) {
  const { spindle, quick, log } = ctx;
  // Quick mode's 1e9 range takes only ~0.05-0.1 s natively, where one preemption is a large share
  // of a sample; three times the reps cost seconds and steady the medians.
  const reps = quick ? ctx.reps * 3 : ctx.reps;
  const { kernels } = spindle;
  const N = quick ? 1e9 : 1e10;
  const expected = PI.get(N);
  const sizes = sizesUpTo([1, 2, 4, 8, 16, 32, 64], ctx.cpus);
  const maxSize = sizes[sizes.length - 1];
  const rows = [...missingPeerRows('scaling', ctx.peers)];
  const contenders = poolContenders(spindle, availablePeers(ctx.peers), N);
  const ctxNone = { cancelled: () => false, progress() {} };
  const twin = () => kernels.countPrimes.run([0, N], ctxNone);

  // seconds[key][size] and cores[key][size]: one sample per rep.
  const perSize = () => Object.fromEntries(sizes.map((s) => [s, []]));
  const seconds = Object.fromEntries(contenders.map((c) => [c.key, perSize()]));
  const cores = Object.fromEntries(contenders.map((c) => [c.key, perSize()]));
  const main = [];
  const ps = perSize();
  const psWall = perSize();

  const pools = new Map(contenders.map((c) => [c.key, new Map(sizes.map((s) => [s, c.open(s)]))]));
  const anchor = existsSync(PRIMESIEVE);
  try {
    // Warm-up on the timed range itself: the first call starts threads, imports task modules in
    // workers, JITs the twin and builds sieving primes and scratch.
    log(`scaling: warm-up, N = ${exp(N)}`);
    for (const c of contenders) {
      for (const [s, pool] of pools.get(c.key)) await timeCall(() => c.count(pool, s), expected, `${c.name} warm-up size ${s}`);
    }
    await timeCall(twin, expected, 'main-thread JS twin warm-up');
    if (anchor) runPrimesieve(N, ctx.cpus);

    for (let r = 0; r < reps; r++) {
      log(`scaling: rep ${r + 1}/${reps}`);
      for (const c of contenders) {
        for (const [s, pool] of pools.get(c.key)) {
          const x = await timeCall(() => c.count(pool, s), expected, `${c.name} size ${s}`);
          seconds[c.key][s].push(x.s);
          cores[c.key][s].push(x.cores);
        }
      }
      main.push((await timeCall(twin, expected, 'main-thread JS twin')).s);
      if (anchor) {
        for (const s of sizes) {
          const x = runPrimesieve(N, s);
          ps[s].push(x.s);
          psWall[s].push(x.wall);
        }
      }
    }
  } finally {
    await Promise.all(contenders.flatMap((c) => [...pools.get(c.key).values()].map((p) => c.close(p))));
  }

  const label = `countPrimes(0, ${exp(N)})`;
  for (const c of contenders) {
    const t = seconds[c.key];
    for (const s of sizes) {
      const base = { scenario: 'scaling', case: `${c.name} ${label}`, threads: s };
      rows.push(statRow({ ...base, metric: 'time', unit: 's' }, summarize(t[s]), {
        note: `cores used ${summarize(cores[c.key][s]).median.toFixed(2)}; count ${expected} ok`,
      }));
      if (s > 1) {
        const up = pairedRatio(t[1], t[s]);
        const bar = c.key !== 'native' ? {} : s === 2 ? { bar: { op: '>=', value: 1.9 } } : s === 16 ? { bar: { op: '>=', value: 14 } } : {};
        rows.push(statRow({ ...base, metric: `speed-up t1/t${s}`, unit: '×' }, up, { ...bar, note: `efficiency ${((100 * up.median) / s).toFixed(0)}%` }));
      }
    }
  }
  // Ratios taken in the same run, at the largest size: what the worker backend costs against the
  // native one, and what each peer costs against the worker backend running the same twin.
  const at = (key) => seconds[key][maxSize];
  const ratioBase = { scenario: 'scaling', threads: maxSize, metric: 'time ratio', unit: '×' };
  rows.push(statRow({ ...ratioBase, case: 'spindle worker / spindle native' }, pairedRatio(at('worker'), at('native'))));
  for (const c of contenders.filter((x) => x.peer)) {
    rows.push(statRow({ ...ratioBase, case: `${c.key} / spindle worker` }, pairedRatio(at(c.key), at('worker'))));
  }

  if (anchor) {
    for (const s of sizes) {
      const base = { scenario: 'scaling', case: `primesieve ${N - 1} -c1`, threads: s };
      rows.push(statRow({ ...base, metric: 'time (its timer)', unit: 's' }, summarize(ps[s]), {
        note: `process wall ${summarize(psWall[s]).median.toFixed(3)} s`,
      }));
      rows.push(statRow({ ...base, case: 'spindle / primesieve', metric: 'time ratio', unit: '×' }, pairedRatio(seconds.native[s], ps[s]),
        s === 1 ? { bar: { op: '<=', value: 1.5 } } : {}));
    }
    for (const s of sizes.filter((x) => x > 1)) {
      const up = pairedRatio(ps[1], ps[s]);
      rows.push(statRow({ scenario: 'scaling', case: 'primesieve', threads: s, metric: `speed-up t1/t${s}`, unit: '×' }, up, { note: `efficiency ${((100 * up.median) / s).toFixed(0)}%` }));
    }
  } else {
    rows.push({ scenario: 'scaling', case: 'primesieve anchor', metric: 'skipped', note: `${PRIMESIEVE} not found (apt-get install primesieve-bin)` });
  }
  // The twin against the C++ kernel, both on one thread, paired rep by rep.
  rows.push(statRow({ scenario: 'scaling', case: `JS twin ${label}, main thread`, threads: 1, metric: 'time', unit: 's' }, summarize(main)));
  rows.push(statRow({ scenario: 'scaling', case: 'JS twin / C++', threads: 1, metric: 'time ratio', unit: '×' }, pairedRatio(main, seconds.native[1]), { bar: { op: '<=', value: 3 } }));

  const data = {
    N,
    jsN: N,
    reps,
    sizes,
    // spindle native under its historical key; every pool contender again under `pools`.
    spindle: { seconds: seconds.native, coresUsed: cores.native },
    pools: Object.fromEntries(contenders.map((c) => [c.key, { name: c.name, seconds: seconds[c.key], coresUsed: cores[c.key] }])),
    main: { seconds: main },
    primesieve: anchor ? { seconds: ps, wall: psWall } : null,
    jsTwin: { js: main, cpp: seconds.native[1] },
  };
  return { rows, data };
}
