// The seeded chaos test of issue #12: random programs of apply/applyAsync/submit/map/imap calls,
// aborts, timeouts, close/join/terminate, throwing callbacks and (worker backend) JS tasks that
// throw, reject, spin, hang or crash their worker, checked by an oracle that keeps a ledger of
// every call (test/fixtures/chaos-driver.mjs says what it checks). Each seed runs in a child
// process, so a crash or a hang fails the test rather than the runner; the child must also exit
// by itself once its last pool is gone.
//
// Replay a failing seed: node test/fixtures/chaos-driver.mjs --seed N --ops M --backend B
// (--trace P prints pool P's ops and stats). The soak (1M operations): node bench/soak.mjs.
//
// Sizes: CHAOS_SEEDS (seeds per backend, default 3), CHAOS_OPS (operations per seed), and
// CHAOS_SEED_BASE (the first seed; default: fixed, so CI replays the same programs).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { availableBackends } from './support/backends.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DRIVER = fileURLToPath(new URL('./fixtures/chaos-driver.mjs', import.meta.url));

const SEEDS = Number(process.env.CHAOS_SEEDS ?? 3);
const SEED_BASE = Number(process.env.CHAOS_SEED_BASE ?? 1201);
/** Operations per seed: the worker backend pays for worker starts (crashes, kills, recycling). */
const OPS: Record<string, number> = {
  native: Number(process.env.CHAOS_OPS ?? 2000),
  worker: Number(process.env.CHAOS_OPS ?? 1200),
};
/** Per child: past this the child is killed and the seed counts as hung. */
const CHILD_TIMEOUT_MS = 50_000;

interface Summary {
  ok: boolean;
  seed: number;
  backend: string;
  failures?: number;
  failureKinds?: Record<string, number>;
  hang?: boolean;
  skipped?: string;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  summary: Summary | undefined;
  failures: string[];
  stderr: string;
}

function runSeed(backend: string, seed: number, ops: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DRIVER, '--seed', String(seed), '--ops', String(ops), '--backend', backend], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.split('\n');
      const last = lines.filter((l) => l.startsWith('CHAOS-SUMMARY ')).pop();
      resolve({
        code,
        signal,
        timedOut,
        summary: last === undefined ? undefined : (JSON.parse(last.slice('CHAOS-SUMMARY '.length)) as Summary),
        failures: lines.filter((l) => l.startsWith('CHAOS-FAIL ')).map((l) => l.slice('CHAOS-FAIL '.length)),
        stderr: stderr.slice(-4000),
      });
    });
  });
}

function report(backend: string, seed: number, ops: number, r: ChildResult): string {
  const replay = `node test/fixtures/chaos-driver.mjs --seed ${seed} --ops ${ops} --backend ${backend}`;
  return [
    `chaos seed ${seed} on ${backend}: exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? `, killed after ${CHILD_TIMEOUT_MS} ms` : ''}`,
    `replay: ${replay}`,
    `summary: ${JSON.stringify(r.summary)}`,
    ...r.failures.slice(0, 10),
    r.stderr ? `stderr: ${r.stderr}` : '',
  ].join('\n');
}

describe.each(availableBackends().map((b) => b.name))('chaos on the %s backend', (backend) => {
  const seeds = Array.from({ length: SEEDS }, (_, i) => SEED_BASE + i);
  const ops = OPS[backend]!;

  it(`${SEEDS} seeded programs of ${ops} operations: every accepted call settles exactly once, and the counters add up`, async () => {
    // Two children at a time: CI machines have two cores, and each child runs pools of its own.
    const results: { seed: number; r: ChildResult }[] = [];
    const queue = [...seeds];
    await Promise.all(
      [0, 1].map(async () => {
        for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) results.push({ seed, r: await runSeed(backend, seed, ops) });
      }),
    );
    const bad = results.filter(({ r }) => r.timedOut || r.code !== 0 || r.summary?.ok !== true);
    expect(bad.map(({ seed, r }) => report(backend, seed, ops, r)).join('\n\n')).toBe('');
    for (const { r } of results) {
      expect(r.summary?.seed).toBeTypeOf('number');
      expect(r.summary?.failures ?? 0).toBe(0);
    }
  }, 120_000);
});
