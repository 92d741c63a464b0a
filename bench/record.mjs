#!/usr/bin/env node
// Formats one results file as a section for bench/RESULTS.md, on stdout. Usage:
//   node bench/record.mjs [results.json] [--machine="what it ran on"] [--note="..."] [--commit=abc1234]
//     >> bench/RESULTS.md
// Defaults: bench/results/latest.json; the machine as the results file describes it; the commit the
// run recorded (none when it ran outside a git checkout, as on the device machine: pass --commit).
// The table is the run's own rows, unchanged, contention rows included.

import { readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownTable } from './lib/report.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { path: join(BENCH, 'results', 'latest.json') };
  for (const a of argv) {
    const m = /^--(machine|note|commit)=(.*)$/s.exec(a);
    if (m) opts[m[1]] = m[2];
    else if (!a.startsWith('--')) opts.path = resolve(a);
    else {
      console.error('usage: node bench/record.mjs [results.json] [--machine=...] [--note=...] [--commit=...]');
      process.exit(2);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const results = JSON.parse(readFileSync(opts.path, 'utf8'));
const m = results.meta;
const machine = opts.machine ?? `${m.cpuModel}, ${m.availableParallelism} CPUs, ${Math.round(m.totalMemGB)} GB RAM`;
const peers = ['piscina', 'tinypool', 'workerpool'].map((n) => `${n} ${m[n] ?? 'missing'}`).join(', ');
const load = Object.entries(results.contention ?? {})
  .map(([name, c]) => `${name} ${c?.load ? `${Number(c.load.foreignPct).toFixed(1)}%` : 'n/a'}`)
  .join(', ');
const mode = `${m.quick ? 'quick' : 'full'}, ${m.reps} reps${m.only?.length < 4 ? `, --only=${m.only.join(',')}` : ''}`;

const lines = [
  `## ${machine} — ${m.startedAt.slice(0, 10)} (${m.quick ? 'quick' : 'full'})`,
  '',
  ...(opts.note ? [opts.note, ''] : []),
  '| | |',
  '|---|---|',
  `| machine | ${machine}; ${m.platform} |`,
  `| date | ${m.startedAt} |`,
  `| node | ${m.node} |`,
  `| commit | ${opts.commit ?? m.commit ?? 'not recorded'} |`,
  `| addon | ${m.backendInfo?.native ? `native, CPU features: ${m.backendInfo.cpuFeatures ?? '?'}` : 'NOT LOADED'} |`,
  `| peers | ${peers}; primesieve ${m.primesieve ? m.primesieve.split(',')[0].replace(/^primesieve /, '') : 'absent'} |`,
  `| run | \`node bench/run.mjs\` (${mode}), ${Number(m.totalSeconds).toFixed(0)} s |`,
  `| foreign CPU load | ${load} (share of all cores taken by other processes; > 10% makes a scenario's times unreliable) |`,
  '',
  markdownTable(results.rows ?? []),
  '',
];
console.log(lines.join('\n'));
