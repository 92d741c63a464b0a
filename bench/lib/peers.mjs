// The worker_threads pools spindle is compared with: piscina, tinypool and workerpool (the project's
// devDependencies), behind one small interface so that every scenario drives them alike:
//
//   const p = peers.piscina;                 // { name, version, open } or { name, missing }
//   const pool = p.open('identity', size);   // size threads, all started up front
//   await pool.run(arg);                      // one task, one structured-clone round trip
//   await pool.close();
//
// Tasks are named, not passed as paths, because workerpool addresses a method inside one worker
// script while piscina and tinypool take one module per task. Every name here has a module
// bench/tasks/<name>.mjs whose default export takes one argument, and an entry in
// bench/tasks/workerpool-worker.mjs: the peers all run the same function on the same argument.
//
// Each peer gets its natural, documented way of running one task per call, with its pool fixed at
// `size` threads (min = max, so that no thread starts or retires during a timed section) and its
// queue left at its default (unbounded for all three). Nothing here tunes a peer against its
// defaults, and nothing tunes spindle either.
//
// A peer that cannot be imported is reported as missing rather than failing the run: the harness
// must run unchanged where only some of them were copied (see DEVELOPERS.md, the 16-core machine).

import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ROOT, TASKS } from './common.mjs';

export const PEER_NAMES = ['piscina', 'tinypool', 'workerpool'];

const require = createRequire(join(ROOT, 'package.json'));

/** A module's package.json version, where its exports map lets us read it. */
function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

const taskFile = (task) => join(TASKS, `${task}.mjs`);

const loaders = {
  async piscina() {
    const m = await import('piscina');
    const Piscina = m.Piscina ?? m.default;
    return {
      version: m.version ?? packageVersion('piscina'),
      open(task, size) {
        const pool = new Piscina({ filename: taskFile(task), minThreads: size, maxThreads: size });
        return { run: (arg) => pool.run(arg), close: () => pool.destroy() };
      },
    };
  },
  async tinypool() {
    const m = await import('tinypool');
    const Tinypool = m.Tinypool ?? m.default;
    return {
      version: Tinypool.version ?? packageVersion('tinypool'),
      open(task, size) {
        const pool = new Tinypool({ filename: taskFile(task), minThreads: size, maxThreads: size });
        return { run: (arg) => pool.run(arg), close: () => pool.destroy() };
      },
    };
  },
  async workerpool() {
    // CommonJS package; require() keeps its own Promise class and option handling as shipped.
    const workerpool = require('workerpool');
    const script = join(TASKS, 'workerpool-worker.mjs');
    return {
      version: packageVersion('workerpool'),
      open(task, size) {
        // workerType 'thread': worker_threads like the others (its Node default is child processes).
        const pool = workerpool.pool(script, { minWorkers: size, maxWorkers: size, workerType: 'thread' });
        return { run: (arg) => pool.exec(task, [arg]), close: () => pool.terminate() };
      },
    };
  },
};

/**
 * Imports the named peers (default: all). Returns { [name]: { name, version, open } | { name,
 * missing: reason } }. Never throws: a missing peer becomes a "skipped" row in each scenario.
 */
export async function loadPeers(names = PEER_NAMES) {
  const out = {};
  for (const name of names) {
    try {
      out[name] = { name, ...(await loaders[name]()) };
    } catch (error) {
      out[name] = { name, missing: String(error?.message ?? error).split('\n')[0] };
    }
  }
  return out;
}

/** The peers that loaded, in PEER_NAMES order. */
export const availablePeers = (peers) => PEER_NAMES.map((n) => peers[n]).filter((p) => p && !p.missing);

/** One "skipped" row per missing peer, for a scenario's table. */
export function missingPeerRows(scenario, peers) {
  return PEER_NAMES.filter((n) => peers[n]?.missing).map((n) => ({
    scenario,
    case: `${n}`,
    metric: 'skipped',
    note: `cannot import ${n}: ${peers[n].missing}`,
  }));
}
