// BullMQ is an optional peer dependency: an application without it still uses every other
// backend, and asking for the queue backend says what to install. Run on a copy of dist/ with
// no node_modules around it, in a child process.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const app = mkdtempSync(join(tmpdir(), 'spindle-no-bullmq-'));
afterAll(() => rmSync(app, { recursive: true, force: true }));

it('without bullmq installed, the queue backend throws saying npm install bullmq, and the others work', () => {
  cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
  const script = `
    import { Pool, kernels, serve } from './dist/index.js';
    const lines = [];
    try { new Pool({ backend: 'queue', queue: 'q', connection: 'redis://127.0.0.1:1' }); lines.push('no error'); }
    catch (e) { lines.push(e.constructor.name + ': ' + e.message); }
    await serve({ queue: 'q', connection: 'redis://127.0.0.1:1' }).then(() => lines.push('served'), (e) => lines.push(e.message));
    const pool = new Pool({ backend: 'worker', size: 1 });
    lines.push(String(await pool.apply(kernels.countPrimes, [0, 100])));
    await pool.terminate();
    console.log(lines.join('\\n'));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8', timeout: 45_000 });
  expect(run.stderr).toBe('');
  expect(run.stdout.trim().split('\n')).toEqual([
    'Error: Pool: the queue backend runs on BullMQ, which is not installed: npm install bullmq',
    'serve: the queue backend runs on BullMQ, which is not installed: npm install bullmq',
    '25',
  ]);
});
