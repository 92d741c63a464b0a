#!/usr/bin/env node
// Renders one benchmark results file as an SVG for the README. Usage:
//   node bench/chart.mjs [results.json]        (default bench/results/latest.json)
// Writes bench/results/chart.svg and bench/chart.svg (the copy the README shows; committed).
//
// Two panels, both from the same run:
//   (a) scaling: speed-up t1/tk of countPrimes against threads, for spindle native, spindle worker,
//       the peers and primesieve, with the ideal line. Each point is the median of the paired
//       per-rep ratios (what the table prints); whiskers span their min–max.
//   (b) per-task cost: a 100k burst (amortized µs per task) and an awaited round trip (median µs)
//       for the main thread, spindle native, spindle worker and the peers, on a log scale.
// A panel whose scenario saw more than 10% foreign CPU load carries a red warning, as the table does.
// Plain SVG written by hand (bench/lib/svg.mjs): no plotting dependency to keep up to date.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { el, text, line, rect, circle, polyline, linearScale, logScale, niceStep, decades } from './lib/svg.mjs';
import { summarize, pairedRatio } from './lib/stats.mjs';
import { fmt } from './lib/report.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const OUTPUTS = [join(BENCH, 'results', 'chart.svg'), join(BENCH, 'chart.svg')];

const W = 1100;
const H = 580;
const TOP = 116; // top of both plot areas: below the title, subtitle and panel titles
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const INK = '#222';
const GRID = '#e4e4e4';
const MUTED = '#666';
const WARN = '#c0392b';
/** Foreign load (% of cores) above which the table warns that a scenario's times are unreliable. */
const FOREIGN_WARN_PCT = 10;

/** One colour per contender, the same in both panels. */
const STYLE = {
  native: { label: 'spindle native', color: '#1f6fb4', width: 3 },
  worker: { label: 'spindle worker', color: '#e8710a', width: 3 },
  primesieve: { label: 'primesieve', color: '#2a9d3a', width: 2.5 },
  piscina: { label: 'piscina', color: '#8e5cc4', width: 1.5, dash: '5 3' },
  tinypool: { label: 'tinypool', color: '#a0522d', width: 1.5, dash: '5 3' },
  workerpool: { label: 'workerpool', color: '#d0479a', width: 1.5, dash: '5 3' },
  main: { label: 'main thread', color: '#7a7a7a', width: 2 },
};

/** Tick labels: shortest exact decimal (0.001, 0.5, 2.5, 1000), no trailing zeros. */
const tick = (v) => String(Number(v.toPrecision(6)));

// ---------------------------------------------------------------------------------------- data

/** Numbers come back from JSON as numbers, except non-finite ones (written as strings). */
const nums = (xs) => (xs ?? []).map(Number).filter(Number.isFinite);

/** { key → [[threads, {median, min, max}], ...] } of speed-ups, from the scaling scenario. */
function scalingSeries(sc) {
  const series = {};
  const sizes = sc.sizes ?? [];
  // Files written before the worker backend and the peers joined hold only `spindle` (native).
  const pools = sc.pools ?? (sc.spindle ? { native: sc.spindle } : {});
  const add = (key, seconds) => {
    const t1 = nums(seconds?.[1]);
    if (!t1.length) return;
    series[key] = sizes.filter((s) => nums(seconds[s]).length).map((s) => [s, s === 1 ? { median: 1, min: 1, max: 1 } : pairedRatio(t1, nums(seconds[s]))]);
  };
  for (const key of ['native', 'worker', 'piscina', 'tinypool', 'workerpool']) if (pools[key]) add(key, pools[key].seconds);
  if (sc.primesieve) add('primesieve', sc.primesieve.seconds);
  return { sizes, series };
}

/** Per-task costs at the largest pool size measured: [{ key, burst, rt }] with summaries. */
function dispatchBars(dp) {
  const sizes = Object.keys(dp.sizes ?? {}).map(Number).sort((a, b) => a - b);
  if (!sizes.length) return null;
  const size = sizes[sizes.length - 1];
  const { burstUs = {}, roundTrip = {} } = dp.sizes[size];
  // contender → [burst key, round-trip key] in the JSON (see bench/scenarios/dispatch.mjs).
  const keys = {
    main: ['main', 'main'],
    native: ['spindle.apply', 'spindle'],
    worker: ['worker.js', 'workerJs'],
    piscina: ['piscina.run', 'piscina'],
    tinypool: ['tinypool.run', 'tinypool'],
    workerpool: ['workerpool.exec', 'workerpool'],
  };
  const bars = [];
  for (const [key, [b, t]] of Object.entries(keys)) {
    const burst = nums(burstUs[b]);
    const rt = nums(roundTrip[t]?.med);
    if (burst.length || rt.length) bars.push({ key, burst: burst.length ? summarize(burst) : null, rt: rt.length ? summarize(rt) : null });
  }
  return { size, bars };
}

// -------------------------------------------------------------------------------------- panels

function frame(x0, y0, x1, y1, title) {
  return [text(x0, y0 - 14, title, { 'font-size': 15, 'font-weight': 600, fill: INK }), rect(x0, y0, x1 - x0, y1 - y0, { fill: 'none', stroke: '#bbb' })].join('');
}

/** A red line under a panel's title when other processes took CPU during its scenario. */
function contentionWarning(contention, x0, y0) {
  const pct = Number(contention?.load?.foreignPct);
  if (!(pct > FOREIGN_WARN_PCT)) return '';
  return text(x0, y0 - 32, `⚠ foreign CPU load ${pct.toFixed(0)}% in this scenario: figures unreliable`, { 'font-size': 12, 'font-weight': 600, fill: WARN });
}

function noData(x0, y0, x1, y1, message) {
  return text((x0 + x1) / 2, (y0 + y1) / 2, message, { 'text-anchor': 'middle', fill: MUTED, 'font-size': 13 });
}

function scalingPanel(sc, box) {
  const { x0, y0, x1, y1 } = box;
  const out = [frame(x0, y0, x1, y1, '(a) countPrimes scaling: speed-up t1/tk')];
  if (!sc) return out.join('') + noData(x0, y0, x1, y1, 'no scaling scenario in this run');
  const { sizes, series } = scalingSeries(sc);
  if (sizes.length < 2) return out.join('') + noData(x0, y0, x1, y1, 'only one pool size measured');
  const maxT = sizes[sizes.length - 1];
  // Threads on a log2 axis: 1, 2, 4, … are evenly spaced and the ideal line stays readable.
  const x = logScale(1, maxT, x0 + 30, x1 - 30);
  const yMax = Math.max(maxT, ...Object.values(series).flatMap((pts) => pts.map(([, s]) => s.max))) * 1.08;
  const step = niceStep(yMax, 6);
  const yTop = Math.ceil(yMax / step) * step;
  const y = linearScale(0, yTop, y1, y0);

  for (let v = 0; v <= yTop + 1e-9; v += step) {
    out.push(line(x0, y(v), x1, y(v), { stroke: GRID }));
    out.push(text(x0 - 8, y(v) + 4, tick(v), { 'text-anchor': 'end', 'font-size': 11, fill: MUTED }));
  }
  for (const s of sizes) {
    out.push(line(x(s), y0, x(s), y1, { stroke: GRID }));
    out.push(text(x(s), y1 + 18, String(s), { 'text-anchor': 'middle', 'font-size': 11, fill: MUTED }));
  }
  out.push(text((x0 + x1) / 2, y1 + 38, 'threads (pool size)', { 'text-anchor': 'middle', 'font-size': 12, fill: INK }));
  out.push(text(x0 - 42, (y0 + y1) / 2, 'speed-up (×)', { 'text-anchor': 'middle', 'font-size': 12, fill: INK, transform: `rotate(-90 ${x0 - 42} ${(y0 + y1) / 2})` }));

  // Ideal: k threads, k times faster.
  out.push(polyline(sizes.map((s) => [x(s), y(s)]), { stroke: '#999', 'stroke-width': 1.5, 'stroke-dasharray': '2 4' }));
  // Peers first, so that spindle's lines are drawn on top.
  const order = ['piscina', 'tinypool', 'workerpool', 'primesieve', 'worker', 'native'].filter((k) => series[k]);
  for (const key of order) {
    const st = STYLE[key];
    const pts = series[key];
    out.push(polyline(pts.map(([s, v]) => [x(s), y(v.median)]), { stroke: st.color, 'stroke-width': st.width, 'stroke-dasharray': st.dash, 'stroke-linejoin': 'round' }));
    for (const [s, v] of pts) {
      if (v.max > v.min) out.push(line(x(s), y(v.min), x(s), y(v.max), { stroke: st.color, 'stroke-width': 1.2, opacity: 0.7 }));
      out.push(circle(x(s), y(v.median), st.dash ? 2.5 : 3.5, { fill: st.color }));
    }
  }

  // Legend, top left (the curves rise to the right, so that corner stays empty), with each
  // contender's speed-up at the largest size.
  const legend = [...order].reverse();
  const lx = x0 + 14;
  let ly = y0 + 20;
  out.push(rect(lx - 8, ly - 14, 250, 18 * (legend.length + 1) + 8, { fill: 'white', opacity: 0.9, stroke: '#ddd' }));
  for (const key of legend) {
    const st = STYLE[key];
    const last = series[key][series[key].length - 1];
    out.push(line(lx, ly - 4, lx + 24, ly - 4, { stroke: st.color, 'stroke-width': st.width, 'stroke-dasharray': st.dash }));
    out.push(text(lx + 32, ly, `${st.label}: ${fmt(last[1].median)}× at ${last[0]}`, { 'font-size': 12, fill: INK }));
    ly += 18;
  }
  out.push(line(lx, ly - 4, lx + 24, ly - 4, { stroke: '#999', 'stroke-width': 1.5, 'stroke-dasharray': '2 4' }));
  out.push(text(lx + 32, ly, 'ideal', { 'font-size': 12, fill: INK }));
  const range = sc.N ? `countPrimes(0, ${Number(sc.N).toExponential().replace('+', '')})` : 'countPrimes';
  out.push(text(x1 - 8, y1 - 10, `${range}, median of ${sc.reps ?? '?'} reps, whiskers min–max`, { 'text-anchor': 'end', 'font-size': 11, fill: MUTED }));
  return out.join('');
}

function dispatchPanel(dp, box) {
  const { x0, y0, x1, y1 } = box;
  const d = dp ? dispatchBars(dp) : null;
  const out = [frame(x0, y0, x1, y1, `(b) per-task cost of a no-op task${d ? `, ${d.size} threads` : ''} (log scale)`)];
  if (!d) return out.join('') + noData(x0, y0, x1, y1, 'no dispatch scenario in this run');
  const values = d.bars.flatMap((b) => [b.burst, b.rt].filter(Boolean).flatMap((s) => [s.min, s.max])).filter((v) => v > 0);
  const ticks = decades(Math.min(...values) / 1.5, Math.max(...values) * 2);
  const y = logScale(ticks[0], ticks[ticks.length - 1], y1, y0 + 24);
  for (const v of ticks) {
    out.push(line(x0, y(v), x1, y(v), { stroke: GRID }));
    out.push(text(x0 - 8, y(v) + 4, tick(v), { 'text-anchor': 'end', 'font-size': 11, fill: MUTED }));
  }
  out.push(text(x0 - 48, (y0 + y1) / 2, 'µs per task', { 'text-anchor': 'middle', 'font-size': 12, fill: INK, transform: `rotate(-90 ${x0 - 48} ${(y0 + y1) / 2})` }));

  const slot = (x1 - x0) / d.bars.length;
  const bw = Math.min(26, slot * 0.32);
  d.bars.forEach((b, i) => {
    const cx = x0 + slot * (i + 0.5);
    const st = STYLE[b.key];
    for (const [s, dx, fill, opacity] of [[b.burst, -bw / 2 - 2, st.color, 1], [b.rt, bw / 2 + 2, st.color, 0.45]]) {
      if (!s || !(s.median > 0)) continue;
      const bx = cx + dx - bw / 2;
      out.push(rect(bx, y(s.median), bw, y1 - y(s.median), { fill, opacity }));
      if (s.max > s.min) out.push(line(cx + dx, y(Math.max(s.min, ticks[0])), cx + dx, y(s.max), { stroke: INK, 'stroke-width': 1 }));
      out.push(text(cx + dx, Math.min(y(s.median), y(s.max)) - 5, fmt(s.median), { 'text-anchor': 'middle', 'font-size': 10, fill: INK }));
    }
    const [first, ...rest] = st.label.split(' ');
    out.push(text(cx, y1 + 18, first, { 'text-anchor': 'middle', 'font-size': 12, fill: INK }));
    if (rest.length) out.push(text(cx, y1 + 33, rest.join(' '), { 'text-anchor': 'middle', 'font-size': 12, fill: INK }));
  });

  // Legend, top right: what the two bars of each group are.
  const lx = x1 - 236;
  const ly = y0 + 8;
  out.push(rect(lx - 8, ly - 2, 240, 40, { fill: 'white', opacity: 0.9, stroke: '#ddd' }));
  out.push(rect(lx, ly + 4, 12, 10, { fill: INK }));
  out.push(text(lx + 18, ly + 13, `burst of ${Number(dp.burstTasks ?? 1e5).toLocaleString('en-US')}, amortized`, { 'font-size': 11, fill: INK }));
  out.push(rect(lx, ly + 21, 12, 10, { fill: INK, opacity: 0.45 }));
  out.push(text(lx + 18, ly + 30, 'awaited round trip, median', { 'font-size': 11, fill: INK }));
  return out.join('');
}

// ---------------------------------------------------------------------------------------- page

export function renderChart(results) {
  const m = results.meta ?? {};
  const date = (m.startedAt ?? '').slice(0, 10) || 'undated';
  const machine = `${m.cpuModel ?? 'unknown CPU'}, ${m.availableParallelism ?? '?'} CPUs`;
  const versions = ['piscina', 'tinypool', 'workerpool'].filter((n) => m[n]).map((n) => `${n} ${m[n]}`).join(', ');
  const load = Object.entries(results.contention ?? {})
    .filter(([, c]) => c?.load)
    .map(([name, c]) => `${name} ${Number(c.load.foreignPct).toFixed(1)}%`)
    .join(', ');
  const body = [
    rect(0, 0, W, H, { fill: 'white' }),
    text(24, 30, `spindle benchmarks — ${machine}, node ${m.node ?? '?'}, ${date}${m.quick ? ' (quick mode)' : ''}`, { 'font-size': 18, 'font-weight': 700, fill: INK }),
    text(24, 50, `${versions}${m.primesieve ? `, ${m.primesieve.split(',')[0]}` : ''}. Foreign CPU load during each scenario: ${load || 'not recorded'}.`, { 'font-size': 12, fill: MUTED }),
    scalingPanel(results.scenarios?.scaling, { x0: 80, y0: TOP, x1: 520, y1: H - 80 }),
    contentionWarning(results.contention?.scaling, 80, TOP),
    dispatchPanel(results.scenarios?.dispatch, { x0: 630, y0: TOP, x1: W - 24, y1: H - 80 }),
    contentionWarning(results.contention?.dispatch, 630, TOP),
  ].join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT}>\n${el('title', {}, 'spindle benchmarks')}\n${body}\n</svg>\n`;
}

function main() {
  const input = resolve(process.argv[2] ?? join(BENCH, 'results', 'latest.json'));
  let results;
  try {
    results = JSON.parse(readFileSync(input, 'utf8'));
  } catch (error) {
    console.error(`bench:chart: cannot read ${input}: ${error.message}\nRun \`npm run bench\` (or bench:quick) first.`);
    process.exit(1);
  }
  const svg = renderChart(results);
  for (const path of OUTPUTS) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, svg);
  }
  console.log(`bench:chart: ${input} → ${OUTPUTS.join(', ')}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
