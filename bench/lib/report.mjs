// Markdown tables on stdout and JSON files in bench/results/.
//
// A row is { scenario, case, threads, metric, median, min, max, unit, bar, note }.
// `bar` is a quality bar from ../shared/DESIGN.md, e.g. { op: '<=', value: 1 }: the row shows
// whether the median meets it. Bars are informational only — the harness never fails on a time.

import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** Three significant digits, no exponent notation for the ranges we print. */
export function fmt(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(3);
}

export function verdict(row) {
  if (!row.bar || row.median === undefined || Number.isNaN(row.median)) return '';
  const { op, value } = row.bar;
  const ok = op === '<=' ? row.median <= value : row.median >= value;
  return `${ok ? 'meets' : 'MISSES'} ${op} ${value}`;
}

const COLUMNS = ['scenario', 'case', 'threads', 'metric', 'median', 'min – max', 'unit', 'bar', 'note'];

export function markdownTable(rows) {
  const lines = [`| ${COLUMNS.join(' | ')} |`, `|${COLUMNS.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const range = r.min === undefined ? '' : `${fmt(r.min)} – ${fmt(r.max)}`;
    const cells = [r.scenario, r.case, r.threads ?? '', r.metric, fmt(r.median), range, r.unit ?? '', verdict(r), r.note ?? ''];
    lines.push(`| ${cells.map((c) => String(c).replaceAll('|', '\\|')).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Row from a summarize() result. */
export function statRow(base, s, extra = {}) {
  return { ...base, median: s.median, min: s.min, max: s.max, n: s.n, ...extra };
}

/** Writes bench/results/<timestamp>.json and bench/results/latest.json; returns the first path. */
export function writeResults(results) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = results.meta.startedAt.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z');
  const text = JSON.stringify(results, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n';
  const path = join(RESULTS_DIR, `${stamp}.json`);
  writeFileSync(path, text);
  writeFileSync(join(RESULTS_DIR, 'latest.json'), text);
  return path;
}
