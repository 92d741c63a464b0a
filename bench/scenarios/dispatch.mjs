// Scenario 1: dispatch overhead of noop tasks: spindle's native backend, spindle's worker backend
// (kernels.noop's JS twin, and a user identity task, the same file piscina runs), and piscina.
//
// burst:      100k tasks issued in a loop, then Promise.all → amortized µs per task. spindle's
//             default queue (maxQueue 1024, onQueueFull 'wait') admits the burst gradually, so it is
//             measured both ways (default and maxQueue: Infinity), plus map() with chunkSize 1000.
// round trip: one task awaited at a time, 2k warm-ups then 20k timed individually → median, p99.
//
// Variants are interleaved rep by rep (A B C A B C ...) so that a burst of foreign load hits every
// variant alike and the spindle/piscina ratios are taken from neighbouring runs.

import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { summarize, pairedRatio } from '../lib/stats.mjs';
import { statRow } from '../lib/report.mjs';
import { check, triangular, TASKS, settle, sizesUpTo } from '../lib/common.mjs';

const BURST = 100_000;
const RT_WARM = 2_000;
const RT_N = 20_000;

async function burst(run, n, label) {
  const ps = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) ps[i] = run(i);
  const rs = await Promise.all(ps);
  const ms = performance.now() - t0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += rs[i];
  check(sum === triangular(n), `${label}: sum of ${n} noop results is ${sum}, expected ${triangular(n)}`);
  check(rs[n - 1] === n - 1, `${label}: results out of order`);
  return (ms * 1e3) / n; // µs per task
}

async function mapBurst(pool, noop, items, label) {
  const t0 = performance.now();
  const rs = await pool.map(noop, items, { chunkSize: 1000 });
  const ms = performance.now() - t0;
  check(rs.length === items.length, `${label}: ${rs.length} results for ${items.length} items`);
  for (let i = 0; i < rs.length; i++) check(rs[i] === i, `${label}: result ${i} is ${rs[i]}`);
  return (ms * 1e3) / items.length;
}

/** Awaits one task at a time; returns every per-task time in µs. */
async function roundTrip(run, warm, n, label) {
  for (let i = 0; i < warm; i++) check((await run(i)) === i, `${label}: warm-up result ${i} wrong`);
  const us = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await run(i);
    us[i] = (performance.now() - t0) * 1e3;
    sum += r;
  }
  check(sum === triangular(n), `${label}: round-trip sum ${sum}, expected ${triangular(n)}`);
  return us;
}

export async function run(ctx) {
  const { spindle, piscina, reps, log } = ctx;
  const { Pool, kernels } = spindle;
  const rows = [];
  const data = { burstTasks: BURST, roundTrip: { warm: RT_WARM, n: RT_N }, sizes: {} };
  const items = Array.from({ length: BURST }, (_, i) => i);

  for (const size of sizesUpTo([2], ctx.cpus)) {
    log(`dispatch: size ${size}`);
    const pool = new Pool({ backend: 'native', size });
    const poolInf = new Pool({ backend: 'native', size, maxQueue: Infinity });
    const pis = new piscina.Piscina({ filename: join(TASKS, 'identity.mjs'), minThreads: size, maxThreads: size });

    const workerPool = new Pool({ backend: 'worker', size });
    const identity = spindle.task(join(TASKS, 'identity.mjs'));

    const apply = (i) => pool.apply(kernels.noop, [i]);
    const applyInf = (i) => poolInf.apply(kernels.noop, [i]);
    const pisRun = (i) => pis.run(i);
    const workerNoop = (i) => workerPool.apply(kernels.noop, [i]);
    const workerJs = (i) => workerPool.apply(identity, [i]);

    const bursts = [
      { key: 'spindle.apply', name: 'burst apply (maxQueue 1024, wait)', once: () => burst(apply, BURST, 'spindle burst') },
      { key: 'spindle.applyInf', name: 'burst apply (maxQueue ∞)', once: () => burst(applyInf, BURST, 'spindle burst ∞') },
      { key: 'spindle.map', name: 'map(chunkSize 1000)', once: () => mapBurst(pool, kernels.noop, items, 'spindle map') },
      { key: 'worker.noop', name: 'worker backend: burst apply(noop)', once: () => burst(workerNoop, BURST, 'worker burst noop'), run: workerNoop },
      { key: 'worker.js', name: 'worker backend: burst apply(identity task)', once: () => burst(workerJs, BURST, 'worker burst js'), run: workerJs },
      { key: 'piscina.run', name: 'piscina burst run()', once: () => burst(pisRun, BURST, 'piscina burst') },
    ];
    // Warm-up: JIT, thread start-up, piscina's workers coming online. A tenth of a burst each.
    for (const b of bursts) {
      if (b.key === 'spindle.map') await mapBurst(pool, kernels.noop, items.slice(0, BURST / 10), 'spindle map warm-up');
      else await burst(b.run ?? (b.key === 'piscina.run' ? pisRun : b.key === 'spindle.applyInf' ? applyInf : apply), BURST / 10, `${b.name} warm-up`);
    }
    const burstUs = Object.fromEntries(bursts.map((b) => [b.key, []]));
    for (let r = 0; r < reps; r++) {
      for (const b of bursts) {
        await settle();
        burstUs[b.key].push(await b.once());
      }
    }

    // Round trips, interleaved the same way: each rep warms up again (cheap) so that a rep never
    // starts on threads that went to sleep while the other library was measured.
    const rt = { spindle: { med: [], p99: [] }, workerJs: { med: [], p99: [] }, piscina: { med: [], p99: [] } };
    for (let r = 0; r < reps; r++) {
      for (const [key, fn] of [['spindle', apply], ['workerJs', workerJs], ['piscina', pisRun]]) {
        await settle();
        const s = summarize(await roundTrip(fn, RT_WARM, RT_N, `${key} round trip`));
        rt[key].med.push(s.median);
        rt[key].p99.push(s.p99);
      }
    }

    pool.close();
    poolInf.close();
    workerPool.close();
    await Promise.all([pool.join(), poolInf.join(), workerPool.join(), pis.destroy()]);

    const base = { scenario: 'dispatch', threads: size, unit: 'µs/task' };
    const reqBar = { op: '<=', value: 1 };
    for (const b of bursts) {
      const s = summarize(burstUs[b.key]);
      rows.push(statRow({ ...base, case: b.name, metric: 'amortized' }, s, b.key.startsWith('spindle') ? { bar: reqBar } : {}));
    }
    const ratio = pairedRatio(burstUs['piscina.run'], burstUs['spindle.apply']);
    rows.push(statRow({ ...base, case: 'piscina / spindle burst (default queue)', metric: 'ratio', unit: '×' }, ratio));
    // Issue #3's bar: the worker backend's burst costs at most half of piscina's per task.
    rows.push(
      statRow({ ...base, case: 'worker backend identity / piscina burst', metric: 'ratio', unit: '×' }, pairedRatio(burstUs['worker.js'], burstUs['piscina.run']), {
        bar: { op: '<=', value: 0.5 },
      }),
    );
    const rtBar = { op: '<=', value: 10 };
    rows.push(statRow({ ...base, case: 'round trip apply', metric: 'median' }, summarize(rt.spindle.med), { bar: rtBar, note: `${RT_N} awaited after ${RT_WARM} warm-up, per rep` }));
    rows.push(statRow({ ...base, case: 'round trip apply', metric: 'p99' }, summarize(rt.spindle.p99)));
    rows.push(statRow({ ...base, case: 'piscina round trip run()', metric: 'median' }, summarize(rt.piscina.med)));
    rows.push(statRow({ ...base, case: 'piscina round trip run()', metric: 'p99' }, summarize(rt.piscina.p99)));
    rows.push(statRow({ ...base, case: 'piscina / spindle round trip', metric: 'ratio of medians', unit: '×' }, pairedRatio(rt.piscina.med, rt.spindle.med)));
    rows.push(statRow({ ...base, case: 'worker backend round trip (identity task)', metric: 'median' }, summarize(rt.workerJs.med)));
    rows.push(statRow({ ...base, case: 'worker backend round trip (identity task)', metric: 'p99' }, summarize(rt.workerJs.p99)));
    rows.push(
      statRow({ ...base, case: 'worker backend / piscina round trip', metric: 'ratio of medians', unit: '×' }, pairedRatio(rt.workerJs.med, rt.piscina.med), {
        bar: { op: '<=', value: 1 },
      }),
    );

    data.sizes[size] = { burstUs, roundTrip: rt };
  }
  return { rows, data };
}
