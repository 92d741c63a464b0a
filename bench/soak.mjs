#!/usr/bin/env node
// The chaos soak of issue #12: the seeded chaos program of test/chaos.test.ts at 1M operations
// in total, spread over seeds and both backends (native only where the addon loads). Each seed
// runs in its own child process (test/fixtures/chaos-driver.mjs), so a crash or a hang is
// caught and reported with the seed that replays it.
//
//   node bench/soak.mjs [--ops 1000000] [--seed S] [--backend native|worker|both]
//                       [--per-seed 20000] [--jobs 2] [--keep-going]
//
// Prints one progress line per seed and a summary; exits 1 if any seed failed (by default it
// stops launching seeds after the first failure; --keep-going runs them all).
// Replay a failed seed: node test/fixtures/chaos-driver.mjs --seed N --ops M --backend B

import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DRIVER = fileURLToPath(new URL('../test/fixtures/chaos-driver.mjs', import.meta.url));

function parseArgs(argv) {
  const out = { ops: 1_000_000, seed: 1, backend: 'both', perSeed: 20_000, jobs: Math.min(2, availableParallelism()), keepGoing: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`soak: ${a} needs a value`);
      return v;
    };
    if (a === '--ops') out.ops = Number(value());
    else if (a === '--seed') out.seed = Number(value());
    else if (a === '--backend') out.backend = value();
    else if (a === '--per-seed') out.perSeed = Number(value());
    else if (a === '--jobs') out.jobs = Number(value());
    else if (a === '--keep-going') out.keepGoing = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node bench/soak.mjs [--ops 1000000] [--seed S] [--backend native|worker|both] [--per-seed 20000] [--jobs 2] [--keep-going]\n');
      process.exit(0);
    } else throw new Error(`soak: unknown argument ${a}`);
  }
  for (const k of ['ops', 'seed', 'perSeed', 'jobs']) {
    if (!Number.isInteger(out[k]) || out[k] < (k === 'seed' ? 0 : 1)) throw new Error(`soak: --${k} must be a positive integer`);
  }
  if (!['native', 'worker', 'both'].includes(out.backend)) throw new Error('soak: --backend must be native, worker or both');
  return out;
}

async function nativeLoads() {
  const dist = process.env.CHAOS_DIST ? pathToFileURL(process.env.CHAOS_DIST) : new URL('../dist/index.js', import.meta.url);
  // dist/ may be mid-rebuild (tsup cleans it first): retry for a while.
  for (let attempt = 0; ; attempt++) {
    try {
      const { backendInfo } = await import(`${dist.href}?attempt=${attempt}`);
      return backendInfo().native === true;
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function runSeed(backend, seed, ops) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [DRIVER, '--seed', String(seed), '--ops', String(ops), '--backend', backend], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c.length + stderr.length > 20_000 ? '' : c));
    // The driver has its own watchdog (30 ms per op, at least 60 s); this one catches a child
    // that cannot even report.
    const limit = Math.max(120_000, ops * 40);
    const timer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.split('\n');
      const last = lines.filter((l) => l.startsWith('CHAOS-SUMMARY ')).pop();
      let summary;
      try {
        summary = last === undefined ? undefined : JSON.parse(last.slice('CHAOS-SUMMARY '.length));
      } catch {
        summary = undefined;
      }
      resolve({
        backend,
        seed,
        ops,
        code,
        signal,
        ms: Date.now() - t0,
        summary,
        failures: lines.filter((l) => l.startsWith('CHAOS-FAIL ')),
        stderr: stderr.slice(-2000),
      });
    });
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let backends = args.backend === 'both' ? ['native', 'worker'] : [args.backend];
  if (backends.includes('native') && !(await nativeLoads())) {
    if (args.backend === 'native') throw new Error('soak: the native addon does not load here');
    process.stdout.write('soak: the native addon does not load here: worker backend only\n');
    backends = ['worker'];
  }
  // The plan: seeds of perSeed operations, backends in turn, until the total is reached.
  const plan = [];
  for (let total = 0, i = 0; total < args.ops; i++) {
    const ops = Math.min(args.perSeed, args.ops - total);
    plan.push({ backend: backends[i % backends.length], seed: args.seed + Math.floor(i / backends.length), ops });
    total += ops;
  }
  process.stdout.write(`soak: ${args.ops} operations in ${plan.length} seeds (${backends.join(' + ')}), ${args.jobs} at a time\n`);
  const t0 = Date.now();
  const results = [];
  let done = 0;
  let opsDone = 0;
  let stop = false;
  const next = [...plan];
  await Promise.all(
    Array.from({ length: args.jobs }, async () => {
      for (let job = next.shift(); job !== undefined && !stop; job = next.shift()) {
        const r = await runSeed(job.backend, job.seed, job.ops);
        results.push(r);
        done++;
        opsDone += r.summary?.opsDone ?? 0;
        const ok = r.code === 0 && r.summary?.ok === true;
        const calls = r.summary?.calls ?? '?';
        process.stdout.write(
          `soak: [${done}/${plan.length}] seed ${job.seed} ${job.backend}: ${ok ? 'ok' : 'FAILED'} ${job.ops} ops, ${calls} calls, ${(r.ms / 1000).toFixed(1)} s` +
            `${ok ? '' : ` exit ${r.code}${r.signal ? ` ${r.signal}` : ''} ${JSON.stringify(r.summary?.failureKinds ?? {})}`}; total ${opsDone} ops, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
        );
        if (!ok) {
          for (const line of r.failures.slice(0, 5)) process.stdout.write(`  ${line.slice(0, 2000)}\n`);
          if (r.summary === undefined && r.stderr) process.stdout.write(`  stderr: ${r.stderr}\n`);
          process.stdout.write(`  replay: node test/fixtures/chaos-driver.mjs --seed ${job.seed} --ops ${job.ops} --backend ${job.backend}\n`);
          if (!args.keepGoing) stop = true;
        }
      }
    }),
  );
  const failed = results.filter((r) => !(r.code === 0 && r.summary?.ok === true));
  const kinds = {};
  for (const r of failed) for (const [k, n] of Object.entries(r.summary?.failureKinds ?? { [`exit ${r.code}`]: 1 })) kinds[k] = (kinds[k] ?? 0) + n;
  const summary = {
    ok: failed.length === 0 && results.length === plan.length,
    seeds: results.length,
    planned: plan.length,
    ops: opsDone,
    calls: results.reduce((n, r) => n + (r.summary?.calls ?? 0), 0),
    failedSeeds: failed.map((r) => `${r.backend}:${r.seed}`),
    failureKinds: kinds,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  process.stdout.write(`SOAK-SUMMARY ${JSON.stringify(summary)}\n`);
  if (!summary.ok) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exitCode = 1;
});
