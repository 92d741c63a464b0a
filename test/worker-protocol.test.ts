// The worker backend's protocol: replies travel on a private port, so nothing a task posts on
// parentPort is mistaken for one; a task that settled for its caller is never run again.
// Each case runs in a child process, so a hang fails the test rather than the runner.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('./fixtures/protocol-pool.mjs', import.meta.url));

function scenario(name: string): unknown {
  const result = spawnSync(process.execPath, [script, name], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  expect(result.signal, result.stderr).toBeNull();
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim());
}

describe('worker protocol', () => {
  it('a task posting a reply-shaped array on parentPort gets its own result; the next call settles; terminate resolves', () => {
    expect(scenario('lookalike')).toEqual({ first: 'real', second: 'next' });
  });

  it('a queued task rejected with TimeoutError is not run by the worker that replaces a killed spinning one', () => {
    expect(scenario('no-revival')).toEqual({ outcomes: ['TimeoutError', 'TimeoutError'], bumped: 0, after: 'spun' });
  });

  it('arguments whose reads throw (revoked Proxy, throwing trap or getter) reject that call with a TypeError; the process lives', () => {
    expect(scenario('unreadable-args')).toEqual({ outcomes: ['TypeError', 'TypeError', 'TypeError'], beside: 'spun', after: 'spun' });
  });

  it('a reply whose status the protocol does not have fails its call with an error saying so, not as a thrown value', () => {
    expect(scenario('malformed-status')).toEqual({
      garbled: { name: 'Error', message: "the worker's reply for this task was malformed (status 7): the task may have broken its worker's builtins", isError: true },
      after: 'fine',
    });
  });

  it('close() then join() right after construction: every started worker ran its initializer exactly once (#8 item 11)', () => {
    expect(scenario('init-before-join')).toEqual({ initialized: 3, workersStarted: 3 });
  });
});
