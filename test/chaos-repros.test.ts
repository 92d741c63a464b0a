// The chaos test's findings, each pinned by the minimal program that showed it (test/fixtures/
// chaos-repro-*.mjs, whose header says what broke and what the README promises instead). Each
// exits 1 while its bug is present; it runs in a child process, so a crash or a hang fails
// here rather than taking down the runner.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { backendInfo } from '../src-ts/backends/select.js';

const native = backendInfo().native;

/** Each repro, and the backends it takes as its argument (none: it picks its own). */
const repros: { file: string; backends: readonly ('native' | 'worker')[] | 'own'; needsNative?: boolean }[] = [
  { file: 'chaos-repro-terminate-in-abort-callback.mjs', backends: ['native', 'worker'] },
  { file: 'chaos-repro-empty-map-aborted.mjs', backends: ['native', 'worker'] },
  { file: 'chaos-repro-kill-loses-results.mjs', backends: 'own' },
  { file: 'chaos-repro-recycle-storm.mjs', backends: 'own' },
  { file: 'chaos-repro-broken-init-recycle-hang.mjs', backends: 'own' },
  { file: 'chaos-repro-timeout-stall.mjs', backends: 'own', needsNative: true },
  { file: 'chaos-repro-crash-withdraws-held-sibling.mjs', backends: 'own' },
  { file: 'chaos-repro-crash-storm-hang.mjs', backends: 'own' },
  { file: 'chaos-repro-held-reply-lost-to-kill.mjs', backends: 'own' },
];

const cases = repros.flatMap(({ file, backends, needsNative }) =>
  backends === 'own'
    ? [{ name: file, args: [file], skip: needsNative === true && !native }]
    : backends.map((backend) => ({ name: `${file} ${backend}`, args: [file, backend], skip: backend === 'native' && !native })),
);

function runRepro(file: string, rest: string[]): void {
  const fixture = fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url));
  const child = spawnSync(process.execPath, [fixture, ...rest], { encoding: 'utf8', timeout: 60_000 });
  expect({ status: child.status, signal: child.signal }, `${child.stdout}\n${child.stderr}`).toEqual({ status: 0, signal: null });
}

describe('chaos test findings stay fixed', () => {
  it.each(cases)('$name', ({ args, skip }) => {
    if (skip) return;
    const [file, ...rest] = args;
    runRepro(file!, rest);
  }, 90_000);
});
