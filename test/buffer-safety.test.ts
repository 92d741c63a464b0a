// Whatever a caller does to its buffer after the call (resize, transfer, let the GC free it),
// the call hashes the bytes it was given and the native side never reads memory V8 no longer
// backs (issue #8 items 1-2). Each case runs in a child process: a regression is a SIGSEGV there.
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { availableBackends } from './support/backends.js';

const fixture = fileURLToPath(new URL('./fixtures/buffer-safety.mjs', import.meta.url));

// Resizable ArrayBuffers came with Node 20 (V8 11.3): on Node 18 there is nothing to resize.
const resizable = typeof (ArrayBuffer.prototype as { resize?: unknown }).resize === 'function';
const modes = ['resize-running', 'resize-queued', 'transfer-clone', 'transfer-port'].filter((mode) => resizable || !mode.startsWith('resize'));

describe.each(availableBackends().map((b) => b.name))('%s backend: a buffer taken away after the call', (backend) => {
  it.each(modes)('%s', (mode) => {
    const child = spawnSync(process.execPath, ['--expose-gc', fixture, backend, mode], { encoding: 'utf8', timeout: 60_000 });
    expect(child.signal, child.stderr).toBeNull();
    expect(child.status, child.stderr).toBe(0);
    const report = JSON.parse(child.stdout);
    expect(report.results).toEqual([true, true, true]);
    expect(report.detached).toMatch(/^TypeError: sha256: data is a view over a detached ArrayBuffer/);
  }, 90_000);
});

// Nothing stops a caller writing to an array while its sort runs: in place on the native
// backend, and in the SharedArrayBuffer the workers sort. The order is then unspecified; the
// process must not crash, argsort's indices must stay in range, and later sorts stay exact.
// The child runs for seconds (a minute and more under ASan), so it is awaited, not spawnSync'd:
// a test worker blocked that long misses vitest's own RPC deadline.
describe.each(availableBackends().map((b) => b.name))('%s backend: an array written while it is sorted', (backend) => {
  it('never crashes; argsort stays in range; the next sort is exact', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/sort-written-meanwhile.mjs', import.meta.url));
    const child = await new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [fixture, backend], { encoding: 'utf8', timeout: 240_000 }, (error, stdout, stderr) => {
        const failed = error as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
        resolve({ status: failed === null ? 0 : typeof failed.code === 'number' ? failed.code : null, signal: failed?.signal ?? null, stdout, stderr });
      });
    });
    expect(child.signal, child.stderr).toBeNull();
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ settled: 4 * 2 * 2 * 3 * 2, argsortInRange: true, exactAfter: true });
  }, 300_000);
});
