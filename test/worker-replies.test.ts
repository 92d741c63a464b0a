// Replies from workers are matched to their tasks by sequence number, never by position, and a
// reply that cannot be encoded (a thrown value or result whose reads throw, or that structured
// clone refuses) becomes a TypeError for that task alone; the worker stays up (issue #12 item 13).
// Each case runs in a child process, so a lost reply fails the test rather than hanging the runner.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('./fixtures/worker-replies.mjs', import.meta.url));

function scenario(name: string): any {
  const result = spawnSync(process.execPath, [script, name], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  expect(result.signal, `killed: ${result.stderr}`).toBeNull();
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim());
}

describe('worker replies', () => {
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
});
