// Scenario 4: peak RSS growth of floods, each case in a fresh child process
// (memory-child.mjs):
//   main thread      the same lazy generator consumed with no pool: the floor;
//   spindle native   for await over pool.imap(noop, lazy generator); an awaited submit() loop with
//                    results consumed via get(); an applyAsync() flood that awaits nothing (the
//                    DESIGN.md bar names this one);
//   spindle worker   the imap and submit cases on the worker backend;
//   piscina, tinypool, workerpool   for contrast, their naive flood of run()/exec() calls, results
//                    collected (none of them bounds what a caller may submit).
// One run per case: RSS growth of a deterministic program varies far less than its timing, and
// each child costs seconds. The DESIGN.md bar is stated for 10 million items; the harness uses
// 3 million (quick: 300k), so a growth that scales with n shows up as well above zero. The peers'
// floods hold every promise and cost 30-100 µs an item, so they run smaller (3e5, quick 5e4): their
// growth is per item held.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { statRow } from '../lib/report.mjs';
import { WrongResultError, exp } from '../lib/common.mjs';
import { availablePeers, missingPeerRows } from '../lib/peers.mjs';

const MB = 1024 * 1024;
const signed = (x, digits) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

const CHILD = fileURLToPath(new URL('./memory-child.mjs', import.meta.url));

function runChild(caseName, n) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, caseName, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = out.trim().split('\n').pop();
      let res;
      try {
        res = JSON.parse(line);
      } catch {
        return reject(new Error(`memory child '${caseName}' exited with ${code ?? signal} and no result: ${out.slice(-500)}`));
      }
      if (res.error) return reject(res.wrong ? new WrongResultError(res.error) : new Error(`memory child '${caseName}': ${res.error}`));
      if (code !== 0) return reject(new Error(`memory child '${caseName}' exited with ${code ?? signal}`));
      resolve(res);
    });
  });
}

export async function run(ctx) {
  const { quick, log } = ctx;
  const big = quick ? 3e5 : 3e6;
  const small = quick ? 5e4 : 3e5;
  const B = exp(big);
  // [child case, n, label, the DESIGN.md bar it is held to: 'window' (imap and the awaited submit
  // loop: peak RSS growth <= 64 MB however many items) or 'waiting' (an applyAsync flood keeps
  // every waiting call by design: <= 128 B of peak RSS growth per call, a row of its own)]
  const plan = [
    ['main', big, `main thread: for..of gen(${B}) calling identity (floor)`, false],
    ['imap', big, `native: imap(noop, gen(${B}))`, 'window'],
    ['imap-worker', big, `worker backend: imap(noop, gen(${B}))`, 'window'],
    ['submit', big, `native: await submit() loop × ${B}`, 'window'],
    ['submit-worker', big, `worker backend: await submit() loop × ${B}`, 'window'],
    ['applyAsync', big, `native: applyAsync flood × ${B}`, 'waiting'],
    ...availablePeers(ctx.peers).map((p) => [p.name, small, `${p.name} ${p.name === 'workerpool' ? 'exec' : 'run'}() flood × ${exp(small)}, collected`, undefined]),
  ];
  const rows = [...missingPeerRows('memory', ctx.peers)];
  const data = {};
  for (const [name, n, label, bar] of plan) {
    log(`memory: ${name} × ${n}`);
    const r = await runChild(name, n);
    data[name] = r;
    rows.push(statRow({ scenario: 'memory', case: label, threads: 'default', metric: 'peak RSS growth', unit: 'MB' },
      { median: r.growthMB, n: 1 }, {
        ...(bar === 'window' ? { bar: { op: '<=', value: 64 } } : {}),
        note: `baseline ${r.baselineMB.toFixed(0)} MB, after gc: RSS ${signed(r.retainedRssMB, 0)} MB, heap ${signed(r.retainedHeapMB, 1)} MB; ${r.usPerItem.toFixed(2)} µs/item, ${(r.ms / 1e3).toFixed(2)} s${r.gc ? '' : ', no gc()'}`,
      }));
    if (bar === 'waiting') {
      rows.push(statRow({ scenario: 'memory', case: `${label}: per waiting call`, threads: 'default', metric: 'peak RSS growth / calls', unit: 'B' },
        { median: (r.growthMB * MB) / n, n: 1 }, { bar: { op: '<=', value: 128 } }));
    }
  }
  return { rows, data };
}
