// Scenario: latency of tiny tasks mixed with slow ones (issue #13's mixed-latency bench).
//
// A service's pool rarely sees one kind of task. Here 1 call in SLOW_EVERY holds its thread for
// SLOW_MS of busy work and the rest are tiny; calls arrive open-loop, a few per millisecond, at a
// rate the pool can sustain (about half its capacity), so that what the tiny calls' tail measures
// is how the pool places work, not a queue that grows without bound. The question a user asks:
// does a tiny call wait behind a slow one while a thread could have run it?
//
// Contenders, each running bench/tasks/mixed.mjs on `size` = the machine's cores:
//   spindle worker backend   task(mixed.mjs), default options;
//   piscina, tinypool, workerpool   their run()/exec(), one call per task (lib/peers.mjs).
// (The native backend runs kernels only; there is no native twin of a user's slow JS task.)
//
// Per rep and contender: the p50, p99 and max latency (call to settle) of the tiny calls, in ms,
// and of the slow ones for reference. Contenders are interleaved rep by rep; ratios pair rep i
// with rep i. Invariant: a time counts only after every result was checked.

import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { summarize, pairedRatio, quantile } from '../lib/stats.mjs';
import { statRow } from '../lib/report.mjs';
import { check, settle, sleep, TASKS } from '../lib/common.mjs';
import { availablePeers, missingPeerRows } from '../lib/peers.mjs';

const SLOW_EVERY = 20;
const SLOW_MS = 8;

/** The calls of one run: [i, slowMs] in arrival order, the same for every contender. */
function workload(n) {
  return Array.from({ length: n }, (_, i) => ({ i, slowMs: i % SLOW_EVERY === SLOW_EVERY - 1 ? SLOW_MS : 0 }));
}

/**
 * Issues the calls open-loop, `perTick` every millisecond (a timer per tick, so arrivals do not
 * wait for results), and returns the latencies of tiny and slow calls in ms.
 */
async function runOpenLoop(run, jobs, perTick, label) {
  const tiny = [];
  const slow = [];
  const pending = [];
  for (let at = 0; at < jobs.length; at += perTick) {
    for (const job of jobs.slice(at, at + perTick)) {
      const t0 = performance.now();
      pending.push(
        run(job).then((r) => {
          check(r === job.i, `${label}: call ${job.i} returned ${r}`);
          (job.slowMs > 0 ? slow : tiny).push(performance.now() - t0);
        }),
      );
    }
    await sleep(1);
  }
  await Promise.all(pending);
  check(tiny.length + slow.length === jobs.length, `${label}: ${tiny.length + slow.length} results for ${jobs.length} calls`);
  return { tiny, slow };
}

export async function run(ctx) {
  const { spindle, cpus, quick, reps, log } = ctx;
  const size = cpus;
  const n = quick ? 1000 : 4000;
  // Half the pool's capacity: SLOW_MS per SLOW_EVERY calls dominates the work.
  const perTick = Math.max(1, Math.round((0.5 * size * SLOW_EVERY) / SLOW_MS));
  const jobs = workload(n);
  const peers = availablePeers(ctx.peers);
  const rows = [...missingPeerRows('latency', ctx.peers)];

  const worker = new spindle.Pool({ backend: 'worker', size });
  const mixedTask = spindle.task(pathToFileURL(join(TASKS, 'mixed.mjs')), 'default');
  const contenders = [{ key: 'spindle.worker', name: 'spindle worker backend', run: (job) => worker.apply(mixedTask, [job]) }];
  const opened = [];
  for (const p of peers) {
    const pool = p.open('mixed', size);
    opened.push(pool);
    contenders.push({ key: p.name, name: p.name, peer: true, run: pool.run });
  }
  // Warm-up: every thread started and the task module loaded everywhere.
  for (const c of contenders) await runOpenLoop(c.run, workload(Math.min(200, n)), perTick, `${c.name} warm-up`);

  const p50 = {};
  const p99 = {};
  const max = {};
  const slowP50 = {};
  for (const c of contenders) {
    p50[c.key] = [];
    p99[c.key] = [];
    max[c.key] = [];
    slowP50[c.key] = [];
  }
  for (let rep = 0; rep < reps; rep++) {
    for (const c of contenders) {
      await settle();
      const { tiny, slow } = await runOpenLoop(c.run, jobs, perTick, c.name);
      p50[c.key].push(quantile(tiny, 0.5));
      p99[c.key].push(quantile(tiny, 0.99));
      max[c.key].push(quantile(tiny, 1));
      slowP50[c.key].push(quantile(slow, 0.5));
    }
    log(`latency: rep ${rep + 1}/${reps} done`);
  }
  await worker.terminate();
  for (const pool of opened) await pool.close();

  const base = { scenario: 'latency', threads: size, unit: 'ms' };
  const note = `${n} calls, 1 in ${SLOW_EVERY} busy for ${SLOW_MS} ms, ${perTick} per ms`;
  for (const c of contenders) {
    rows.push(statRow({ ...base, case: `${c.name}: tiny calls`, metric: 'p50' }, summarize(p50[c.key]), { note }));
    rows.push(statRow({ ...base, case: `${c.name}: tiny calls`, metric: 'p99' }, summarize(p99[c.key])));
    rows.push(statRow({ ...base, case: `${c.name}: tiny calls`, metric: 'max' }, summarize(max[c.key])));
    rows.push(statRow({ ...base, case: `${c.name}: slow calls`, metric: 'p50' }, summarize(slowP50[c.key])));
  }
  for (const c of contenders.filter((x) => x.peer)) {
    rows.push(statRow({ ...base, case: `${c.name} / spindle worker: tiny calls`, metric: 'ratio of p99', unit: '×' }, pairedRatio(p99[c.key], p99['spindle.worker'])));
  }
  return { rows, data: { size, n, perTick, slowEvery: SLOW_EVERY, slowMs: SLOW_MS, p50, p99, max, slowP50 } };
}
