// CPython's bpo-29861: once a call has settled and its caller dropped it, nothing of it (argument
// or result) stays reachable from the pool, for every call shape on every backend (issue #8
// item 9). Run in a child with --expose-gc so the collection is forced, not hoped for.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { availableBackends } from './support/backends.js';

const fixture = fileURLToPath(new URL('./fixtures/retention.mjs', import.meta.url));
const shapes = ['apply', 'applyAsync', 'submit', 'map', 'mapAsync', 'starmap', 'imap', 'imapUnordered'];

describe.each(availableBackends().map((b) => b.name))('%s backend', (backend) => {
  it('keeps no argument or result of a settled call reachable', () => {
    const child = spawnSync(process.execPath, ['--expose-gc', fixture, backend], { encoding: 'utf8', timeout: 60_000 });
    expect(child.status, child.stderr).toBe(0);
    const report = JSON.parse(child.stdout);
    expect(Object.keys(report)).toEqual(shapes);
    for (const shape of shapes) expect({ shape, ...report[shape] }).toEqual({ shape, arg: true, result: true });
  }, 90_000);
});
