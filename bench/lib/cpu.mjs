// Contention accounting for a shared, noisy VM (see ../shared/research/kernels.md §0).
//
// /proc/stat gives the whole machine's busy time; process.cpuUsage() gives this process's (all of
// its threads: native pool threads and worker_threads included); /proc/self/stat's cutime/cstime
// add the children we waited for (primesieve, memory scenario children). What is left is CPU
// somebody else used while we measured: "foreign load". Steal time (the hypervisor running other
// guests on our vCPUs) is foreign too and is counted in it, and also reported on its own.
// Foreign load is given as a share of the machine's capacity (cores x wall time), so 50% on two
// cores means one whole core was taken from us.

import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

let HZ = 100;
try {
  HZ = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // getconf missing: USER_HZ is 100 on every mainstream Linux build.
}

function readProcStat() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    // guest/guest_nice are already included in user/nice, so they are not added again.
    return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
  } catch {
    return null;
  }
}

/** Children's CPU ticks (cutime + cstime, fields 16 and 17 of /proc/self/stat). */
function childTicks() {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields start after the last ')'.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state), so field k is rest[k - 3].
    return Number(rest[13]) + Number(rest[14]);
  } catch {
    return 0;
  }
}

export function snapshot() {
  return { stat: readProcStat(), self: process.cpuUsage(), children: childTicks(), t: performance.now() };
}

/**
 * Compares two snapshots. Returns null where /proc/stat is unavailable (not Linux).
 * { wallMs, selfPct, foreignPct, stealPct } — percentages of cores x wall.
 */
export function compare(a, b) {
  if (!a.stat || !b.stat) return null;
  const busy = b.stat.busy - a.stat.busy;
  const steal = b.stat.steal - a.stat.steal;
  const total = busy + steal + (b.stat.idle - a.stat.idle);
  if (total <= 0) return null;
  const selfUs = b.self.user - a.self.user + (b.self.system - a.self.system);
  const self = (selfUs / 1e6) * HZ + (b.children - a.children);
  // Jiffy accounting has 10 ms granularity, so over a short window "self" can exceed "busy"
  // by a tick or two; clamp instead of reporting negative foreign load.
  const foreign = Math.max(0, busy - self) + steal;
  return {
    wallMs: b.t - a.t,
    selfPct: (100 * Math.min(self, busy)) / total,
    foreignPct: (100 * foreign) / total,
    stealPct: (100 * steal) / total,
  };
}

/** Measures foreign load over one window of `ms` milliseconds, without using CPU ourselves. */
export async function sampleForeign(ms) {
  const a = snapshot();
  await new Promise((r) => setTimeout(r, ms));
  return compare(a, snapshot());
}

/**
 * Waits until foreign load stays under `thresholdPct` for `needed` consecutive windows, or
 * until `maxWaitMs` passed. The research notes found 2-thread scaling collapsing to 1.0-1.3x
 * under foreign load, so starting a scenario on a busy machine would report noise as results.
 * Never fails: returns what it saw, and the caller reports it.
 */
export async function waitForQuiet({ maxWaitMs = 10_000, windowMs = 500, thresholdPct = 5, needed = 2 } = {}) {
  const t0 = performance.now();
  let quiet = 0;
  let last = null;
  while (true) {
    last = await sampleForeign(windowMs);
    if (last === null) return { quiet: true, waitedMs: performance.now() - t0, lastPct: null };
    quiet = last.foreignPct < thresholdPct ? quiet + 1 : 0;
    if (quiet >= needed) return { quiet: true, waitedMs: performance.now() - t0, lastPct: last.foreignPct };
    if (performance.now() - t0 >= maxWaitMs) return { quiet: false, waitedMs: performance.now() - t0, lastPct: last.foreignPct };
  }
}
