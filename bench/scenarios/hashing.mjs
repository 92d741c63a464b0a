// Scenario 5: SHA-256 against its anchors, issue #7's three bars side by side in one run.
//
// (a) one large buffer on one thread: spindle native (pool size 1) against crypto.createHash on
//     the main thread (OpenSSL, SHA-NI where the CPU has it);
// (b) 200k messages of 64 bytes on one thread: pool.map(sha256) on a size-1 native pool (small
//     messages are hashed several at once) against a createHash loop on the main thread;
// (c) a directory of files on every thread: `spindle sha256sum` against coreutils `sha256sum`,
//     both as child processes (start-up included for both), outputs compared line for line.
// The worker backend runs (a) and (b) too: node:crypto inside a worker, plus the copy in.
// Every digest is checked against node:crypto before its time counts.

import { spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { summarize, pairedRatio } from '../lib/stats.mjs';
import { statRow } from '../lib/report.mjs';
import { check, ROOT, settle } from '../lib/common.mjs';

const COREUTILS = '/usr/bin/sha256sum';

const hex = (bytes) => createHash('sha256').update(bytes).digest('hex');

async function time(fn) {
  await settle();
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

function runCli(command, args, cwd) {
  const t0 = performance.now();
  const out = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (out.status !== 0) throw new Error(`${command} ${args.slice(0, 2).join(' ')} ... exited with ${out.status}: ${out.stderr}`);
  return { ms, stdout: out.stdout };
}

export async function run(ctx) {
  const { spindle, quick, reps, log } = ctx;
  const { Pool, kernels } = spindle;
  const bufferBytes = (quick ? 64 : 256) << 20;
  const messages = quick ? 50_000 : 200_000;
  const files = quick ? 100 : 400;
  const rows = [];
  const data = { bufferBytes, messages, files, sha256Path: spindle.backendInfo().sha256Path };

  const native = new Pool({ backend: 'native', size: 1 });
  const worker = new Pool({ backend: 'worker', size: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'spindle-bench-hash-'));
  try {
    // (a) one large buffer.
    const big = randomFillSync(Buffer.allocUnsafe(bufferBytes));
    const bigDigest = hex(big);
    const a = { native: [], worker: [], createHash: [] };
    for (let r = -1; r < reps; r++) {
      log(`hashing: buffer rep ${r + 2}/${reps + 1}`);
      const n = await time(() => native.apply(kernels.sha256, [big]));
      const w = await time(() => worker.apply(kernels.sha256, [big]));
      const c = await time(() => hex(big));
      check(n.value === bigDigest && w.value === bigDigest && c.value === bigDigest, 'hashing: a digest of the large buffer is wrong');
      if (r < 0) continue; // warm-up
      a.native.push(n.ms);
      a.worker.push(w.ms);
      a.createHash.push(c.ms);
    }
    const mib = bufferBytes / 2 ** 20;
    const gibps = (msList) => msList.map((ms) => mib / 1024 / (ms / 1e3));
    const base = { scenario: 'hashing', unit: 'GiB/s' };
    rows.push(statRow({ ...base, case: `sha256 of one ${mib} MiB buffer, native`, threads: 1, metric: 'throughput' }, summarize(gibps(a.native)), { note: `path ${data.sha256Path}` }));
    rows.push(statRow({ ...base, case: `sha256 of one ${mib} MiB buffer, worker backend`, threads: 1, metric: 'throughput' }, summarize(gibps(a.worker))));
    rows.push(statRow({ ...base, case: `createHash on the main thread (blocked)`, threads: 1, metric: 'throughput' }, summarize(gibps(a.createHash))));
    rows.push(statRow({ scenario: 'hashing', case: 'large buffer: native / createHash speed', threads: 1, metric: 'ratio', unit: '×' }, pairedRatio(a.createHash, a.native), { bar: { op: '>=', value: 1 } }));

    // (b) many small messages on one thread.
    const small = Array.from({ length: messages }, () => randomFillSync(Buffer.allocUnsafe(64)));
    const expected = small.map(hex);
    const b = { native: [], worker: [], loop: [] };
    const same = (list) => list.length === expected.length && list.every((d, i) => d === expected[i]);
    for (let r = -1; r < reps; r++) {
      log(`hashing: messages rep ${r + 2}/${reps + 1}`);
      const n = await time(() => native.map(kernels.sha256, small));
      const w = await time(() => worker.map(kernels.sha256, small));
      const l = await time(() => small.map(hex));
      check(same(n.value) && same(w.value) && same(l.value), 'hashing: a digest of the small messages is wrong');
      if (r < 0) continue;
      b.native.push(n.ms);
      b.worker.push(w.ms);
      b.loop.push(l.ms);
    }
    const perSec = (msList) => msList.map((ms) => messages / (ms / 1e3) / 1e6);
    const mBase = { scenario: 'hashing', unit: 'M msgs/s', threads: 1, metric: 'throughput' };
    rows.push(statRow({ ...mBase, case: `sha256 of ${messages / 1e3}k × 64 B via map, native` }, summarize(perSec(b.native))));
    rows.push(statRow({ ...mBase, case: `sha256 of ${messages / 1e3}k × 64 B via map, worker backend` }, summarize(perSec(b.worker))));
    rows.push(statRow({ ...mBase, case: 'createHash loop on the main thread' }, summarize(perSec(b.loop))));
    rows.push(statRow({ scenario: 'hashing', case: 'small messages: native map / createHash loop speed', threads: 1, metric: 'ratio', unit: '×' }, pairedRatio(b.loop, b.native), { bar: { op: '>=', value: 2 } }));

    // (c) a directory of files, every thread.
    const names = [];
    for (let i = 0; i < files; i++) {
      const name = `file-${String(i).padStart(4, '0')}.bin`;
      writeFileSync(join(dir, name), randomFillSync(Buffer.allocUnsafe(1 << 20)));
      names.push(name);
    }
    const cli = join(ROOT, 'dist', 'cli.js');
    const c = { spindle: [], coreutils: [] };
    const haveCoreutils = spawnSync(COREUTILS, ['--version']).status === 0;
    for (let r = -1; r < reps; r++) {
      log(`hashing: files rep ${r + 2}/${reps + 1}`);
      const s = runCli(process.execPath, [cli, 'sha256sum', ...names], dir);
      if (haveCoreutils) {
        const k = runCli(COREUTILS, names, dir);
        check(s.stdout === k.stdout, 'hashing: spindle sha256sum and coreutils disagree');
        if (r >= 0) c.coreutils.push(k.ms);
      }
      if (r >= 0) c.spindle.push(s.ms);
    }
    const fBase = { scenario: 'hashing', unit: 'ms', threads: ctx.cpus, metric: 'wall time' };
    rows.push(statRow({ ...fBase, case: `spindle sha256sum, ${files} files × 1 MiB` }, summarize(c.spindle), { note: 'process start-up included' }));
    if (haveCoreutils) {
      rows.push(statRow({ ...fBase, case: `coreutils sha256sum, ${files} files × 1 MiB`, threads: 1 }, summarize(c.coreutils)));
      rows.push(statRow({ scenario: 'hashing', case: 'files: coreutils / spindle time', threads: ctx.cpus, metric: 'ratio', unit: '×' }, pairedRatio(c.coreutils, c.spindle), { bar: { op: '>=', value: 3 } }));
    } else {
      rows.push({ scenario: 'hashing', case: 'coreutils sha256sum', metric: 'skipped', note: `${COREUTILS} not found` });
    }
    Object.assign(data, { buffer: a, messagesMs: b, filesMs: c });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([native.terminate(), worker.terminate()]);
  }
  return { rows, data };
}
