// The native backend across environments and process exit: a pool inside a worker_thread,
// workers terminated or exiting mid-run, and process.exit() while kernels run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Pool, kernels } from '../src-ts/index.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

function startWorker(workerData: object): { worker: Worker; firstMessage: Promise<unknown>; exited: Promise<number> } {
  const worker = new Worker(fixture('worker-pool.mjs'), { workerData });
  const firstMessage = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  return { worker, firstMessage, exited };
}

describe('native backend inside worker_threads', () => {
  it('a pool in a worker computes the same result as on the main thread', async () => {
    const { firstMessage, exited } = startWorker({ mode: 'result' });
    expect(await firstMessage).toEqual({ count: 664579 });
    expect(await exited).toBe(0);
  });

  it('workers terminated while their kernels run tear down cleanly, again and again', async () => {
    for (let round = 0; round < 8; round++) {
      const { worker, firstMessage, exited } = startWorker({ mode: 'busy' });
      expect(await firstMessage).toBe('started');
      const started = Date.now();
      await worker.terminate();
      await exited;
      // Teardown waits for in-flight units, which are short: never for the whole 1e13 job.
      expect(Date.now() - started).toBeLessThan(2000);
    }
    // The process and its own pool are still healthy.
    await using pool = new Pool({ backend: 'native', size: 2 });
    expect(await pool.apply(kernels.countPrimes, [0, 1e6])).toBe(78498);
  });

  it('process.exit() inside a worker while its kernels run ends only that worker', async () => {
    const { firstMessage, exited } = startWorker({ mode: 'busy', exitAfterMs: 50 });
    expect(await firstMessage).toBe('started');
    expect(await exited).toBe(0);
    await using pool = new Pool({ backend: 'native', size: 2 });
    expect(await pool.apply(kernels.noop, [7])).toBe(7);
  });
});

describe('native pools side by side', () => {
  it("a pool's calls never wait for another pool's long calls, though the process started only the first pool's threads", async () => {
    await using busy = new Pool({ backend: 'native', size: 2 });
    await using other = new Pool({ backend: 'native', size: 2 });
    const controller = new AbortController();
    // Two calls that run for minutes: every thread the first pool started is theirs.
    const long = [0, 1].map(() => busy.apply(kernels.countPrimes, [0, 1e13], { signal: controller.signal }).catch((e: Error) => e.name));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(busy.stats().running).toBe(2);
    const started = performance.now();
    expect(await other.apply(kernels.countPrimes, [0, 1e6])).toBe(78498);
    expect(await Promise.all([1, 2, 3, 4].map((x) => other.apply(kernels.noop, [x])))).toEqual([1, 2, 3, 4]);
    // It used to wait for the long calls to end (a 9.7 s call held up a noop for 9.7 s).
    expect(performance.now() - started).toBeLessThan(5000);
    expect(busy.stats().running).toBe(2);
    controller.abort();
    expect(await Promise.all(long)).toEqual(['AbortError', 'AbortError']);
  });
});

describe('native backend and process exit', () => {
  const run = (mode: string) =>
    spawnSync(process.execPath, [fixture('exit-while-busy.mjs'), mode], { encoding: 'utf8', timeout: 20_000 });

  it('process.exit() while every native thread is busy exits cleanly and at once', () => {
    const started = Date.now();
    const child = run('exit');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(child.stderr).toBe('');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('an idle pool does not keep the process alive', () => {
    const child = run('idle');
    expect(child.status).toBe(0);
    expect(child.stdout).toBe('idle-done\n');
  });

  it('a pending task keeps the process alive until it settles', () => {
    const child = run('pending');
    expect(child.status).toBe(0);
    expect(child.stdout).toBe('count 1270607\n');
  });
});
