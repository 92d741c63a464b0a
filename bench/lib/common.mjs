// Shared helpers for scenarios: result checks, loading the libraries under test, small timers.

import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TASKS = join(ROOT, 'bench', 'tasks');

/** A wrong result: the harness exits non-zero, and the time measured with it never counts. */
export class WrongResultError extends Error {
  constructor(message) {
    super(message);
    this.name = 'WrongResultError';
  }
}

export function check(cond, message) {
  if (!cond) throw new WrongResultError(message);
}

/** Sum of 0..n-1, the expected sum of noop(i) over i < n (exact below 2^53 for n < 1.3e8). */
export const triangular = (n) => (n * (n - 1)) / 2;

/** pi(x) for the ranges the harness times: [0, x) counts (every x here is even, so [0, x] agrees). */
export const PI = new Map([
  [1e7, 664579],
  [1e8, 5761455],
  [1e9, 50847534],
  [1e10, 455052511],
  [1e11, 4118054813],
]);

/** Imports dist/index.js, the built public API, with a message that says how to build it. */
export async function loadSpindle() {
  const entry = join(ROOT, 'dist', 'index.js');
  if (!existsSync(entry)) {
    throw new Error(`spindle is not built: ${entry} is missing (run \`npm run build:ts\`)`);
  }
  const m = await import(pathToFileURL(entry).href);
  if (typeof m.Pool !== 'function') throw new Error('dist/index.js does not export Pool (build in progress?)');
  const info = m.backendInfo();
  if (!info.native) {
    // Every scenario here measures the native backend; on the worker fallback the figures
    // would be about a different thing, so say so instead of printing them under its name.
    throw new Error(`the native addon did not load (${info.reason ?? 'no reason given'}); run \`npm run build:native\``);
  }
  return m;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Lets pending macrotasks (completions, timers) run before the next timed section. */
export const settle = () => new Promise((r) => setImmediate(r));

/** Sizes to measure: the given ones plus availableParallelism, deduplicated, ascending. */
export function sizesUpTo(base, max) {
  return [...new Set([...base.filter((s) => s <= max), max])].sort((a, b) => a - b);
}

/** [lo, hi) cut into `parts` consecutive ranges of (nearly) equal width, in order. */
export function splitRange(lo, hi, parts) {
  const step = Math.floor((hi - lo) / parts);
  return Array.from({ length: parts }, (_, i) => ({ lo: lo + i * step, hi: i === parts - 1 ? hi : lo + (i + 1) * step }));
}

/** 1e9 → "1e9": how the tables name a range bound. */
export const exp = (x) => x.toExponential().replace('+', '');
