// Replies from workers are matched to their tasks by sequence number, never by position, and a
// reply that cannot be encoded (a thrown value or result whose reads throw, or that structured
// clone refuses) becomes a TypeError for that task alone; the worker stays up (issue #12 item 13).
// Each case runs in a child process, so a lost reply fails the test rather than hanging the runner.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../src-ts/errors.js';
import { Pool } from '../src-ts/pool.js';
import { task } from '../src-ts/task.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('./fixtures/worker-replies.mjs', import.meta.url));

function scenario(name: string): any {
  const result = spawnSync(process.execPath, [script, name], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  expect(result.signal, `killed: ${result.stderr}`).toBeNull();
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim());
}

describe('worker replies', () => {
  it('finished calls whose replies a worker held back settle while a later task on it runs long', () => {
    const { valuesRight, allFastAfter, slowAfter } = scenario('heldBehindSlow');
    expect(valuesRight).toBe(true);
    expect(slowAfter).toBeGreaterThan(2900);
    // Generous for a loaded machine, and far below the 3 s they waited behind the slow task before.
    expect(allFastAfter).toBeLessThan(2000);
  });

  it('a thrown value or result that cannot be sent back is a TypeError for its task alone, sync or async, first call or not', () => {
    const { first, second, workersStarted } = scenario('unencodable');
    const bad = (what: string) => ({ error: 'TypeError', message: expect.stringMatching(new RegExp(`the task's ${what} cannot be sent back to the pool: .+`)) });
    const expected = (good: number) => [
      bad('thrown value'), { value: good },
      bad('result'), { value: good },
      bad('thrown value'), { value: good },
      bad('result'), { value: good },
      bad('thrown value'), { value: good },
      bad('thrown value'), { value: good },
    ];
    expect(first).toEqual(expected(2));
    expect(second).toEqual(expected(4));
    // Nothing crashed: the one worker served every call.
    expect(workersStarted).toBe(1);
  });

  it.each([
    ['a task never run before', false],
    ['a task that once ran long', true],
  ])('replies of tasks finished just before %s that spins until its worker is killed are not lost with it', async (_label, ranLongBefore) => {
    // The pool kills a worker to stop a task that ignores its cancellation; the tasks that worker
    // finished just before (replies held back to share a message) must still get their results.
    const pool = new Pool({ size: 1, backend: 'worker', cancelGrace: 20 });
    const tasks = new URL('./fixtures/tasks/replies.mjs', import.meta.url);
    try {
      for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 1000 }, (_, i) => pool.apply(task(tasks, 'add'), [i, 1])));
      if (ranLongBefore) expect(await pool.apply(task(tasks, 'spin'), [30])).toBe('spun');
      const before = Array.from({ length: 50 }, (_, i) => pool.apply(task(tasks, 'add'), [i, 1]).catch((e: Error) => e.name));
      const stuck = pool.apply(task(tasks, 'spin'), [60_000], { timeout: 100 });
      await expect(stuck).rejects.toBeInstanceOf(TimeoutError);
      expect(await Promise.all(before)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    } finally {
      await pool.terminate();
    }
  });
});

