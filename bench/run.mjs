#!/usr/bin/env node
// spindle benchmark harness. Usage:
//   node bench/run.mjs [--quick] [--only=dispatch,latency,scaling,eventloop,memory,hashing,queue,sort] [--reps=N] [--no-gate]
//
// Each scenario runs every contender that applies: the main thread (plain JS, blocking), spindle's
// native and worker backends, the peers piscina, tinypool and workerpool (lib/peers.mjs, each
// running the same JS task from tasks/), and primesieve as the external anchor where installed.
// A missing peer or anchor is a "skipped" row, never a failure, so the harness runs unchanged
// wherever Node, dist/ and the addon were copied (DEVELOPERS.md: the 16-core machine).
//
// Prints one markdown table and writes bench/results/<timestamp>.json and bench/results/latest.json
// (`npm run bench:chart` draws the latter). Exit code 1 only for a crash or a wrong result; times
// never fail the run (DESIGN.md: bars are measured here, never as timed tests).
//
// Method (../shared/research/pools.md §c, kernels.md §0): the VM has 2 shared, noisy vCPUs, so
// every scenario waits (bounded) for the machine to go quiet, warms up before timing, repeats
// (5, quick 3) and reports median and min–max, interleaves the compared variants rep by rep, takes
// ratios from the same run, checks every result before its time counts, and reports the foreign
// CPU load seen during the scenario.

import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { snapshot, compare, waitForQuiet } from './lib/cpu.mjs';
import { markdownTable, writeResults } from './lib/report.mjs';
import { loadSpindle, WrongResultError, ROOT } from './lib/common.mjs';
import { loadPeers, PEER_NAMES } from './lib/peers.mjs';

const SCENARIOS = ['dispatch', 'latency', 'scaling', 'eventloop', 'memory', 'hashing', 'queue', 'sort'];
const FOREIGN_WARN_PCT = 10;

function parseArgs(argv) {
  const opts = { quick: false, only: SCENARIOS, reps: undefined, gate: true };
  for (const a of argv) {
    if (a === '--quick') opts.quick = true;
    else if (a === '--no-gate') opts.gate = false;
    else if (a.startsWith('--only=')) {
      opts.only = a.slice(7).split(',').map((s) => s.trim()).filter(Boolean);
      const bad = opts.only.filter((s) => !SCENARIOS.includes(s));
      if (bad.length) usage(`unknown scenario(s): ${bad.join(', ')}`);
    } else if (a.startsWith('--reps=')) {
      opts.reps = Number(a.slice(7));
      if (!Number.isInteger(opts.reps) || opts.reps < 1) usage('--reps must be a positive integer');
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument: ${a}`);
  }
  opts.reps ??= opts.quick ? 3 : 5;
  return opts;
}

function usage(error) {
  const text = `usage: node bench/run.mjs [--quick] [--only=${SCENARIOS.join(',')}] [--reps=N] [--no-gate]`;
  if (error) {
    console.error(`${error}\n${text}`);
    process.exit(1);
  }
  console.log(text);
  process.exit(0);
}

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

/** The checkout's commit, "+dirty" when tracked files differ from it; null outside a git checkout. */
function gitCommit() {
  try {
    const opts = { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] };
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).trim() !== '';
    return `${head}${dirty ? '+dirty' : ''}`;
  } catch {
    return null; // no git, or a copied tree without .git (the device machine)
  }
}

function primesieveVersion() {
  if (!existsSync('/usr/bin/primesieve')) return null;
  try {
    return execFileSync('/usr/bin/primesieve', ['--version'], { encoding: 'utf8' }).split('\n')[0].trim();
  } catch {
    return 'unknown';
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const startedAt = new Date().toISOString();
  const cpus = os.availableParallelism();
  const spindle = await loadSpindle();
  const peers = await loadPeers();
  const meta = {
    startedAt,
    quick: opts.quick,
    reps: opts.reps,
    only: opts.only,
    node: process.version,
    commit: gitCommit(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpuModel: os.cpus()[0]?.model,
    availableParallelism: cpus,
    totalMemGB: os.totalmem() / 2 ** 30,
    backendInfo: spindle.backendInfo(),
    // One key per peer: its version, or null where it could not be imported (see peersMissing).
    ...Object.fromEntries(PEER_NAMES.map((n) => [n, peers[n].version ?? null])),
    peersMissing: Object.fromEntries(PEER_NAMES.filter((n) => peers[n].missing).map((n) => [n, peers[n].missing])),
    primesieve: primesieveVersion(),
  };
  log(`node ${meta.node}, ${cpus} CPUs (${meta.cpuModel}), ${opts.quick ? 'quick' : 'full'} mode, ${opts.reps} reps`);
  for (const n of PEER_NAMES) if (peers[n].missing) log(`${n} is missing, its cases are skipped: ${peers[n].missing}`);

  const results = { meta, scenarios: {}, contention: {}, errors: [] };
  const allRows = [];
  const t0 = performance.now();
  let failed = false;

  for (const name of opts.only) {
    // A hung pool would hang the harness; treat running far past the expected time as a crash.
    // The limits are several times a scenario's time on a busy 2-vCPU VM (quick: ~70 s at most,
    // full: ~4 min), so that slowness alone never fails CI: only a hang does.
    const limitMs = (opts.quick ? 300 : 1200) * 1000;
    let watchdog;
    try {
      const gate = opts.gate ? await waitForQuiet({ maxWaitMs: opts.quick ? 5_000 : 30_000 }) : null;
      if (gate && !gate.quiet) log(`${name}: machine not quiet after ${(gate.waitedMs / 1e3).toFixed(1)} s (foreign ${gate.lastPct.toFixed(0)}%), measuring anyway`);
      const { run } = await import(`./scenarios/${name}.mjs`);
      const before = snapshot();
      const started = performance.now();
      const out = await Promise.race([
        run({ spindle, peers, cpus, quick: opts.quick, reps: opts.reps, log }),
        new Promise((_, reject) => {
          watchdog = setTimeout(() => reject(new Error(`${name}: no result after ${limitMs / 1e3} s (hang?)`)), limitMs);
        }),
      ]);
      const load = compare(before, snapshot());
      results.scenarios[name] = { ...out.data, seconds: (performance.now() - started) / 1e3 };
      results.contention[name] = { gate, load };
      allRows.push(...out.rows);
      const warn = load && load.foreignPct > FOREIGN_WARN_PCT;
      allRows.push({
        scenario: name,
        case: 'contention during scenario',
        metric: 'foreign load',
        median: load ? load.foreignPct : NaN,
        unit: '% of cores',
        note: load
          ? `${warn ? 'WARNING: above 10%, figures are unreliable; ' : ''}steal ${load.stealPct.toFixed(1)}%, this process ${load.selfPct.toFixed(0)}%, ${(load.wallMs / 1e3).toFixed(1)} s` +
            (gate && !gate.quiet ? `; started busy (foreign ${gate.lastPct.toFixed(0)}% after waiting ${(gate.waitedMs / 1e3).toFixed(0)} s)` : '')
          : '/proc/stat unavailable',
      });
      if (warn) log(`WARNING: ${name}: foreign load ${load.foreignPct.toFixed(1)}% (> ${FOREIGN_WARN_PCT}%) — other processes competed for the CPU`);
      log(`${name}: done in ${((performance.now() - started) / 1e3).toFixed(1)} s`);
    } catch (error) {
      failed = true;
      const wrong = error instanceof WrongResultError;
      log(`${name}: ${wrong ? 'WRONG RESULT' : 'CRASH'}: ${error?.stack ?? error}`);
      results.errors.push({ scenario: name, wrongResult: wrong, message: String(error?.message ?? error) });
      allRows.push({ scenario: name, case: wrong ? 'WRONG RESULT' : 'CRASH', metric: '', note: String(error?.message ?? error) });
    } finally {
      clearTimeout(watchdog);
    }
  }

  meta.totalSeconds = (performance.now() - t0) / 1e3;
  results.rows = allRows;
  const path = writeResults(results);
  console.log(`\n## spindle bench — ${opts.quick ? 'quick' : 'full'}, node ${meta.node}, ${cpus} CPUs, ${opts.reps} reps, ${startedAt}\n`);
  console.log(markdownTable(allRows));
  console.log(`\nTotal ${meta.totalSeconds.toFixed(1)} s. Results: ${path} (and bench/results/latest.json).`);
  if (failed) {
    console.log(`\nFAILED: ${results.errors.map((e) => `${e.scenario}: ${e.message}`).join('; ')}`);
    process.exitCode = 1;
    // A hung pool (the watchdog case) may keep the event loop alive forever; give stdout time
    // to drain, then leave. unref(): a clean failure exits on its own before this fires.
    setTimeout(() => process.exit(1), 3000).unref();
  }
}

main().catch((error) => {
  console.error(`[bench] fatal: ${error?.stack ?? error}`);
  process.exitCode = 1;
});
