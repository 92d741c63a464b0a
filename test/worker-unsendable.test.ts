// Arguments a worker cannot be sent: functions, symbols, getters or Proxy traps that throw,
// revoked Proxies, detached buffers (as arguments or in the transfer list), and initArgs. Each
// rejects exactly its own call (or map) with a TypeError naming the argument; the process lives,
// nothing hangs, and the calls posted in the same batch run (issue #12 item 14). Each scenario runs
// in a child process, so a crash or a hang fails the test rather than the runner.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('./fixtures/worker-unsendable.mjs', import.meta.url));

function scenario(name: string): any {
  const result = spawnSync(process.execPath, [script, name], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  expect(result.signal, `killed: ${result.stderr}`).toBeNull();
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim());
}

const KINDS = ['function', 'symbol', 'nestedFunction', 'throwingGetter', 'revokedProxy', 'detachedBuffer'];
const refusal = (part: string) => ({ error: 'TypeError', message: expect.stringMatching(new RegExp(`^default from file:.*esm\\.mjs: ${part} cannot be sent to a worker: .+`)) });

describe('unsendable arguments', () => {
  it('apply, applyAsync and submit: a TypeError naming the argument; calls in the same batch run', () => {
    const { result, beside, after } = scenario('calls');
    for (const kind of KINDS) expect(result[kind], kind).toEqual([refusal('argument 1'), refusal('argument 1'), refusal('argument 1')]);
    expect(beside).toEqual(KINDS.map((kind) => ({ value: kind })));
    expect(after).toBe('after');
  });

  it('map, starmap, mapAsync, imap, imapUnordered: the map rejects with a TypeError naming the item; a map beside it completes', () => {
    const { result, after } = scenario('maps');
    // Item 21 (call 5 of the third chunk of 8) is named by its place in the input.
    for (const kind of KINDS) expect(result[kind], kind).toEqual(Array.from({ length: 5 }, () => refusal('item 21 \\(argument 0\\)')));
    expect(after).toEqual([1, 2, 3]);
  });

  it('a transfer list entry detached before the send rejects its call; a good transfer in the same batch arrives whole', () => {
    const result = scenario('transfer');
    expect(result.detachedLater).toEqual({ error: 'TypeError', message: expect.stringMatching(/options\.transfer\[0\] cannot be sent to a worker: the ArrayBuffer is detached/) });
    expect(result.whole).toEqual({ value: 32 });
    expect(result.unsendable).toEqual(refusal('argument 0'));
    expect(result.first).toEqual({ value: 8 });
    expect(result.second).toEqual({ error: 'TypeError', message: expect.stringMatching(/cannot be sent to a worker: .*detached/) });
    expect(result.after).toBe('after');
  });

  it('initArgs are taken when the pool is made: later workers start whatever the caller did since; unsendable ones are a TypeError from the constructor', () => {
    const { initArgs, workersSeen, refused } = scenario('init-args');
    expect(initArgs).toEqual([[1, 2, 3], [1, 2, 3], [1, 2, 3]]);
    expect(workersSeen).toBe(3);
    for (const kind of KINDS) expect(refused[kind], kind).toEqual({ error: 'TypeError', message: expect.stringMatching(/^Pool: options\.initArgs\[1\] cannot be sent to a worker: .+/) });
  });
});

describe('Proxies of a progress counter', () => {
  // The pool read a progress counter's buffer (worker backend) or view (native) again when it sent
  // the task, outside the guard around the arguments: a Proxy of a counter, accepted at the call
  // (its fixed properties pass), whose get trap threw there took the process down with an uncaught
  // exception. And a revoked Proxy as `progress` gave the engine's "Cannot perform
  // 'getOwnPropertyDescriptor' on a proxy that has been revoked" instead of the option's TypeError.
  const code = `
    import { Pool, kernels, SharedCounter } from 'spindle';
    const kView = Symbol.for('spindle.counter.view');
    const out = {};
    for (const backend of ['worker', 'native']) {
      const pool = new Pool({ backend, size: 1 });
      const counter = new SharedCounter();
      const trapped = new Proxy(counter, { get(t, k, r) { if (k === kView || k === 'buffer') throw new Error('get trap'); return Reflect.get(t, k, r); } });
      const { proxy: revoked, revoke } = Proxy.revocable({}, {});
      revoke();
      const settle = (p) => p.then((value) => ({ value }), (e) => ({ error: e.name, message: e.message }));
      out[backend] = {
        trapped: await settle(pool.apply(kernels.countPrimes, [0, 100], { progress: trapped })),
        mapTrapped: await settle(pool.starmap(kernels.countPrimes, [[0, 50], [50, 100]], { progress: trapped })),
        progress: counter.value,
        revoked: await settle(pool.apply(kernels.noop, [], { progress: revoked })),
      };
      await pool.close();
    }
    console.log(JSON.stringify(out));
  `;

  it('a Proxy whose get trap throws is read once, at the call; a revoked one is the option\'s TypeError', () => {
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(result.signal, `killed: ${result.stderr}`).toBeNull();
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout.trim());
    for (const backend of ['worker', 'native']) {
      expect(out[backend].trapped, backend).toEqual({ value: 25 });
      expect(out[backend].mapTrapped, backend).toEqual({ value: [15, 10] });
      expect(out[backend].progress, backend).toBe(200);
      expect(out[backend].revoked, backend).toEqual({ error: 'TypeError', message: 'apply: options.progress must be a SharedCounter, got a Proxy' });
    }
  });
});
