// Scenario: the queue backend (#16) against plain BullMQ, on a private redis-server.
//
// (a) per-task overhead: one noop call awaited at a time, spindle's Pool({ backend: 'queue' })
//     with an in-process serve() against a plain BullMQ Queue + Worker + QueueEvents doing the
//     same (the processor returns its argument; the caller awaits job.waitUntilFinished); bar:
//     spindle / plain ≤ 1.10. Two more plain variants split the difference: the design's floor
//     (the processor awaits a native pool's apply(noop) instead of returning at once: the hop
//     that keeps a server's event loop free), and plain with the queue backend's job retention
//     (a bounded completed set costs a few Redis commands per job). All in this process, in
//     blocks of 25 calls rotating over the variants.
// (b) throughput: map of 1e6 noop items with chunkSize 50 000 through two `spindle serve`
//     processes (bar ≥ 100k items/s), and BullMQ's own per-job rate: 5000 one-item jobs added
//     in bulk and drained by the same two servers (one job per item).
// (c) CPU-heavy jobs with a short lock (lockDuration 1000 ms, stalledInterval 500 ms): countPrimes
//     chunks calibrated to ~2 s each in this process (the servers' own per-job time is reported)
//     on two plain in-process BullMQ worker processes (the processor runs
//     the kernel's JS twin on its event loop) and on two `spindle serve --backend worker --size 1`
//     processes (the same JS twin, on a worker thread). Counted in the same run, from one
//     QueueEvents reader per queue: 'stalled' events, and jobs that went active more than once.
//
// A missing redis-server is a "skipped" row. Invariant: a time counts only after its results
// were checked.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { check, ROOT } from '../lib/common.mjs';
import { statRow } from '../lib/report.mjs';
import { pairedRatio, summarize } from '../lib/stats.mjs';

const require = createRequire(import.meta.url);
const CLI = join(ROOT, 'dist', 'cli.js');

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'spindle-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((resolve, reject) => {
    const on = (c) => {
      out += c;
      if (out.includes('Ready to accept connections')) resolve();
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async close() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A child process that prints `ready` on stderr (or stdout) once it serves. */
async function startChild(args, readyText) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise((resolve, reject) => {
    const on = (c) => {
      out += c;
      if (out.includes(readyText)) resolve();
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    void exited.then((code) => reject(new Error(`child exited (${code}) before ready: ${out}`)));
  });
  return {
    output: () => out,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A plain BullMQ worker process whose processor runs countPrimes' JS twin on its own event loop. */
function plainWorkerSource(queue, port) {
  return `
    const { Worker } = require(${JSON.stringify(require.resolve('bullmq'))});
    const { kernels } = require(${JSON.stringify(join(ROOT, 'dist', 'index.cjs'))});
    const noContext = { cancelled: () => false, progress: () => {} };
    const w = new Worker(${JSON.stringify(queue)}, async (job) => {
      const [lo, hi] = job.data.args;
      return kernels.countPrimes.run([lo, hi], noContext);
    }, { connection: { host: '127.0.0.1', port: ${port} }, concurrency: 1, lockDuration: 1000, stalledInterval: 500 });
    w.on('error', () => {});
    w.on('failed', () => {});
    w.waitUntilReady().then(() => console.error('plain worker ready'));
    process.on('SIGTERM', () => w.close().then(() => process.exit(0)));
  `;
}

/** Counts 'stalled' events and how many times each job went active, on one queue. */
function watchQueue(bull, queue, port) {
  const events = new bull.QueueEvents(queue, { connection: { host: '127.0.0.1', port } });
  const active = new Map();
  const counts = { stalled: 0 };
  events.on('stalled', () => counts.stalled++);
  events.on('active', ({ jobId }) => active.set(jobId, (active.get(jobId) ?? 0) + 1));
  return {
    ready: events.waitUntilReady(),
    counts,
    processedTwice: () => [...active.values()].filter((n) => n > 1).length,
    close: () => events.close(),
  };
}

export async function run({ spindle, quick, reps, log }) {
  const rows = [];
  const data = {};
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    rows.push({ scenario: 'queue', case: 'queue backend vs BullMQ', metric: 'skipped', note: 'redis-server not installed' });
    return { rows, data };
  }
  let bull;
  try {
    bull = require('bullmq');
  } catch {
    rows.push({ scenario: 'queue', case: 'queue backend vs BullMQ', metric: 'skipped', note: 'bullmq not installed' });
    return { rows, data };
  }
  const { Pool, kernels, serve } = spindle;
  const redis = await startRedis();
  const connection = { host: '127.0.0.1', port: redis.port };
  const stops = [];
  try {
    // (a) per-task overhead, one call at a time.
    const server = await serve({ queue: 'rt', connection: redis.url, pool: new Pool({ backend: 'native', size: 1 }) });
    stops.push(async () => {
      await server.close();
      await server.pool.terminate();
    });
    const pool = new Pool({ backend: 'queue', queue: 'rt', connection: redis.url, size: 1 });
    stops.push(() => pool.terminate());
    const hopPool = new Pool({ backend: 'native', size: 1 });
    stops.push(() => hopPool.terminate());
    /** A plain BullMQ Queue + QueueEvents + Worker (concurrency 1) on `name`; call(i) adds one job and awaits its result. */
    const plainPair = async (name, processor, jobOptions) => {
      const queue = new bull.Queue(name, { connection });
      const events = new bull.QueueEvents(name, { connection });
      const worker = new bull.Worker(name, processor, { connection, concurrency: 1 });
      stops.push(() => Promise.all([worker.close(), events.close(), queue.close()]));
      await Promise.all([events.waitUntilReady(), worker.waitUntilReady()]);
      return async (i) => (await queue.add('noop', { i }, jobOptions)).waitUntilFinished(events);
    };
    // The queue backend's job retention (src-ts/backends/queue/client.ts): results stay an hour,
    // at most 10k, for its sweep to find; plain BullMQ keeps every job unless told otherwise.
    const retention = { removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 3600, count: 10_000 } };
    const variants = {
      spindle: (i) => pool.apply(kernels.noop, [i]),
      plain: await plainPair('plain-rt', async (job) => job.data.i),
      hop: await plainPair('hop-rt', (job) => hopPool.apply(kernels.noop, [job.data.i])),
      retention: await plainPair('kept-rt', async (job) => job.data.i, retention),
    };
    // Blocks of BLOCK calls, every variant once per round in an order that rotates from round to
    // round, so that a shared VM's drift falls on all of them alike; ratios are taken within a
    // round, their median over the rounds. (Long runs of one variant, as before, swung the
    // ratio by ±20% from run to run.)
    const BLOCK = 25;
    const rounds = quick ? 24 : 80;
    const names = Object.keys(variants);
    const a = Object.fromEntries(names.map((k) => [k, []]));
    for (let r = -1; r < rounds; r++) {
      if (r % 20 === 0) log(`queue: round trips, round ${r + 1}/${rounds}`);
      for (let v = 0; v < names.length; v++) {
        const name = names[(v + Math.max(r, 0)) % names.length];
        const call = variants[name];
        const t0 = performance.now();
        for (let i = 0; i < BLOCK; i++) check((await call(i)) === i, `queue: ${name} returned a wrong value`);
        if (r >= 0) a[name].push(((performance.now() - t0) * 1e3) / BLOCK);
      }
    }
    const rtBase = { scenario: 'queue', unit: 'µs', threads: 1, metric: 'per task, awaited one at a time' };
    const ratioBase = { scenario: 'queue', threads: 1, metric: 'ratio', unit: '×' };
    rows.push(statRow({ ...rtBase, case: 'apply(noop) through the queue backend' }, summarize(a.spindle)));
    rows.push(statRow({ ...rtBase, case: 'plain BullMQ add + waitUntilFinished' }, summarize(a.plain)));
    rows.push(statRow({ ...rtBase, case: 'plain BullMQ, processor awaiting a native apply(noop)' }, summarize(a.hop)));
    rows.push(statRow({ ...rtBase, case: "plain BullMQ with the queue backend's job retention" }, summarize(a.retention)));
    rows.push(statRow({ ...ratioBase, case: 'per-task time: spindle / plain BullMQ' }, pairedRatio(a.spindle, a.plain), { bar: { op: '<=', value: 1.1 } }));
    rows.push(statRow({ ...ratioBase, case: 'per-task time: plain BullMQ with the pool hop / plain BullMQ (the design\'s floor)' }, pairedRatio(a.hop, a.plain)));
    rows.push(statRow({ ...ratioBase, case: 'per-task time: plain BullMQ with the retention / plain BullMQ' }, pairedRatio(a.retention, a.plain)));
    rows.push(statRow({ ...ratioBase, case: 'per-task time: spindle / plain BullMQ with the pool hop (spindle beyond the floor)' }, pairedRatio(a.spindle, a.hop)));
    data.roundTripUs = a;

    // (b) throughput through two server processes.
    for (let i = 0; i < 2; i++) {
      const s = await startChild([CLI, 'serve', '--queue', 'tp', '--redis', redis.url, '--backend', 'native', '--size', '2'], 'serving queue');
      stops.push(() => s.stop());
    }
    const tp = new Pool({ backend: 'queue', queue: 'tp', connection: redis.url, size: 8 });
    stops.push(() => tp.terminate());
    const items = Array.from({ length: quick ? 200_000 : 1_000_000 }, (_, i) => i);
    const b = { mapItemsPerSec: [], jobsPerSec: [] };
    for (let r = 0; r < Math.min(reps, 3); r++) {
      log(`queue: throughput rep ${r + 1}`);
      let t0 = performance.now();
      const out = await tp.map(kernels.noop, items, { chunkSize: 50_000 });
      b.mapItemsPerSec.push(items.length / ((performance.now() - t0) / 1e3));
      check(out.length === items.length && out[items.length - 1] === items.length - 1, 'queue: map returned wrong results');
      const jobs = quick ? 2000 : 5000;
      t0 = performance.now();
      const one = await Promise.all(Array.from({ length: jobs }, (_, i) => tp.apply(kernels.noop, [i])));
      b.jobsPerSec.push(jobs / ((performance.now() - t0) / 1e3));
      check(one[jobs - 1] === jobs - 1, 'queue: one-job-per-item results wrong');
    }
    rows.push(statRow({ scenario: 'queue', case: `map of ${items.length / 1e3}k noop, chunkSize 50k, 2 servers`, threads: 4, metric: 'throughput', unit: 'items/s' }, summarize(b.mapItemsPerSec), { bar: { op: '>=', value: 100_000 } }));
    rows.push(statRow({ scenario: 'queue', case: 'apply(noop) flood, one job per item, 2 servers', threads: 4, metric: 'throughput', unit: 'jobs/s' }, summarize(b.jobsPerSec)));
    data.throughput = b;

    // (c) CPU-heavy jobs with a short lock: stalls and double processing, counted for both.
    const noContext = { cancelled: () => false, progress: () => {} };
    // Calibrated on a warm kernel (the first call also builds its base primes and compiles), and
    // again at the size found: the twin's time per number falls as the range grows (fixed costs
    // per segment), so a span scaled up from a 20 ms measurement ran 0.2-0.5 s, not 2 s.
    let span = 2e7;
    kernels.countPrimes.run([1e9, 1e9 + 1e6], noContext);
    let t0;
    for (let tries = 0; tries < 3; tries++) {
      t0 = performance.now();
      kernels.countPrimes.run([1e9, 1e9 + span], noContext);
      const ms = performance.now() - t0;
      span = Math.round((span * 2000) / ms);
      if (ms >= 1000) break;
    }
    const chunks = Array.from({ length: quick ? 4 : 6 }, (_, i) => [1e9 + i * span, 1e9 + (i + 1) * span]);
    log(`queue: CPU-heavy chunks of ${span} numbers (~2 s each), ${chunks.length} per contender`);
    const expected = chunks.map((c) => kernels.countPrimes.run(c, noContext));

    const plainWatch = watchQueue(bull, 'plain-cpu', redis.port);
    const spindleWatch = watchQueue(bull, 'spindle-cpu', redis.port);
    stops.push(() => Promise.all([plainWatch.close(), spindleWatch.close()]));
    await Promise.all([plainWatch.ready, spindleWatch.ready]);

    const plainWorkers = [];
    for (let i = 0; i < 2; i++) plainWorkers.push(await startChild(['-e', plainWorkerSource('plain-cpu', redis.port)], 'plain worker ready'));
    const cpuQueue = new bull.Queue('plain-cpu', { connection });
    const cpuEvents = new bull.QueueEvents('plain-cpu', { connection });
    await cpuEvents.waitUntilReady();
    t0 = performance.now();
    const jobs = await cpuQueue.addBulk(chunks.map((args, i) => ({ name: 'countPrimes', data: { args }, opts: { jobId: `c${i}` } })));
    const plainResults = await Promise.all(jobs.map((job) => job.waitUntilFinished(cpuEvents).catch((e) => e)));
    const plainMs = performance.now() - t0;
    await Promise.all(plainWorkers.map((w) => w.stop()));
    await Promise.all([cpuEvents.close(), cpuQueue.close()]);
    const plainWrong = plainResults.filter((v, i) => v !== expected[i]).length;

    const servers = [];
    for (let i = 0; i < 2; i++) {
      servers.push(await startChild([CLI, 'serve', '--queue', 'spindle-cpu', '--redis', redis.url, '--backend', 'worker', '--size', '1', '--lock-duration', '1000', '--stalled-interval', '500'], 'serving queue'));
    }
    const cpuPool = new Pool({ backend: 'queue', queue: 'spindle-cpu', connection: redis.url, size: chunks.length });
    t0 = performance.now();
    const spindleResults = await cpuPool.starmap(kernels.countPrimes, chunks, { chunkSize: 1 }).catch((e) => e);
    const spindleMs = performance.now() - t0;
    await cpuPool.terminate();
    await Promise.all(servers.map((s) => s.stop()));
    check(Array.isArray(spindleResults) && spindleResults.every((v, i) => v === expected[i]), `queue: spindle serve gave wrong countPrimes results: ${spindleResults}`);
    // Give the readers a moment for the last events.
    await new Promise((r) => setTimeout(r, 500));

    const cBase = { scenario: 'queue', threads: 2, unit: 'jobs', metric: 'count' };
    rows.push({ ...cBase, case: `plain BullMQ worker, ${chunks.length} CPU-heavy jobs: stalled events`, median: plainWatch.counts.stalled, note: `lock 1 s; ${plainWrong} of ${chunks.length} calls failed or wrong; ${(plainMs / 1e3).toFixed(1)} s` });
    rows.push({ ...cBase, case: `plain BullMQ worker, ${chunks.length} CPU-heavy jobs: processed more than once`, median: plainWatch.processedTwice() });
    rows.push({ ...cBase, case: `spindle serve, ${chunks.length} CPU-heavy jobs: stalled events`, median: spindleWatch.counts.stalled, note: `lock 1 s; ${(spindleMs / 1e3).toFixed(1)} s in all, ≈ ${((2 * spindleMs) / chunks.length / 1e3).toFixed(2)} s a job`, bar: { op: '<=', value: 0 } });
    rows.push({ ...cBase, case: `spindle serve, ${chunks.length} CPU-heavy jobs: processed more than once`, median: spindleWatch.processedTwice(), bar: { op: '<=', value: 0 } });
    data.cpuHeavy = {
      span,
      plain: { stalled: plainWatch.counts.stalled, processedTwice: plainWatch.processedTwice(), wrongOrFailed: plainWrong, ms: plainMs },
      spindle: { stalled: spindleWatch.counts.stalled, processedTwice: spindleWatch.processedTwice(), ms: spindleMs },
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await redis.close();
  }
  return { rows, data };
}

// Run alone: node bench/scenarios/queue.mjs [--quick]
if (import.meta.url === `file://${process.argv[1]}`) {
  const { loadSpindle } = await import('../lib/common.mjs');
  const { markdownTable } = await import('../lib/report.mjs');
  const spindle = await loadSpindle();
  const quick = process.argv.includes('--quick');
  const out = await run({ spindle, quick, reps: quick ? 2 : 3, log: (m) => console.error(m) });
  console.log(markdownTable(out.rows));
  console.log(JSON.stringify(out.data.cpuHeavy ?? {}));
  process.exit(0);
}
