// An app bundled with esbuild (issue #13). spindle's worker runtime (dist/worker.js) and its addon
// are files of the package, found from its package.json: a bundle that inlines spindle's code
// leaves them behind. Such a bundle must say so, the same way everywhere: backendInfo() says
// neither backend can run, and why, and `new Pool()` on every backend throws the one sentence
// that says what to mark external. With spindle marked external and installed beside the
// bundle, everything works.
//
// The app (test/fixtures/bundle-app/app.mjs) is bundled in a temporary project whose
// node_modules/spindle links to this repository, as an installed package would be; the bundles
// run from directories with no spindle package above them.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Format } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../src-ts/backends/addon.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const APP = fileURLToPath(new URL('./fixtures/bundle-app/app.mjs', import.meta.url));

/** The one sentence an inlined spindle answers with, on every backend. */
const BUNDLED = /^spindle was bundled without its files \(no spindle package\.json above [^)]+\): mark 'spindle' as external in your bundler \(esbuild: --external:spindle\) and install it beside the bundle$/;

interface AppOutput {
  info: { backend: string; native: boolean; reason?: string; worker: boolean; workerReason?: string };
  pools: Record<'auto' | 'native' | 'worker', { backend: string; primes: number } | { error: string }>;
}

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'spindle-bundling-'));
  mkdirSync(join(work, 'project', 'node_modules'), { recursive: true });
  cpSync(APP, join(work, 'project', 'app.mjs'));
  symlinkSync(ROOT, join(work, 'project', 'node_modules', 'spindle'), 'dir');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Bundles the app into `dir` (under the work directory) and returns the bundle's path. */
async function bundle(dir: string, format: Format, external: string[] = []): Promise<string> {
  const outfile = join(work, dir, format === 'esm' ? 'app.mjs' : 'app.cjs');
  // An ES module app bundled to CommonJS gets spindle's ES module build with import.meta empty:
  // esbuild warns, and spindle must cope.
  await build({ entryPoints: [join(work, 'project', 'app.mjs')], bundle: true, platform: 'node', format, external, outfile, logLevel: 'error' });
  return outfile;
}

/** Runs a bundle with `env` added and SPINDLE_* of this process left out; its JSON line. */
function runBundle(file: string, env: Record<string, string> = {}): AppOutput {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (env.SPINDLE_ADDON === undefined) delete childEnv.SPINDLE_ADDON;
  delete childEnv.SPINDLE_BACKEND;
  const child = spawnSync(process.execPath, [file], { cwd: join(file, '..'), env: childEnv, encoding: 'utf8', timeout: 45_000 });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  return JSON.parse(child.stdout) as AppOutput;
}

describe('spindle inlined into the bundle', () => {
  for (const format of ['esm', 'cjs'] as const) {
    it(`(${format}) backendInfo() says neither backend can run, and new Pool() on every backend throws the one sentence`, async () => {
      const out = runBundle(await bundle(`inlined-${format}`, format));
      expect(out.info).toMatchObject({ backend: 'none', native: false, worker: false });
      expect(out.info.reason).toMatch(BUNDLED);
      expect(out.info.workerReason).toBe(out.info.reason);
      for (const backend of ['auto', 'native', 'worker'] as const) {
        expect(out.pools[backend], backend).toEqual({ error: expect.stringMatching(BUNDLED) });
      }
    });
  }

  const addon = loadAddon();
  it.runIf(addon.ok)('with SPINDLE_ADDON naming the addon, the native backend runs; the worker backend still says what to do', async () => {
    const out = runBundle(await bundle('inlined-addon', 'esm'), { SPINDLE_ADDON: addon.ok ? addon.path : '' });
    expect(out.info).toMatchObject({ backend: 'native', native: true, worker: false });
    expect(out.info.workerReason).toMatch(BUNDLED);
    expect(out.pools.auto).toEqual({ backend: 'native', primes: 168 });
    expect(out.pools.native).toEqual({ backend: 'native', primes: 168 });
    expect(out.pools.worker).toEqual({ error: expect.stringMatching(BUNDLED) });
  });
});

describe('spindle marked external, installed beside the bundle', () => {
  const native = loadAddon().ok;
  for (const format of ['esm', 'cjs'] as const) {
    it(`(${format}) runs on the worker backend${native ? ' and the native one' : ''}, and backendInfo() says both can`, async () => {
      const file = await bundle(`external-${format}`, format, ['spindle']);
      mkdirSync(join(work, `external-${format}`, 'node_modules'));
      symlinkSync(ROOT, join(work, `external-${format}`, 'node_modules', 'spindle'), 'dir');
      const out = runBundle(file);
      expect(out.info).toMatchObject({ native, worker: true, backend: native ? 'native' : 'worker' });
      expect(out.info.workerReason).toBeUndefined();
      expect(out.pools.worker).toEqual({ backend: 'worker', primes: 168 });
      expect(out.pools.auto).toEqual({ backend: native ? 'native' : 'worker', primes: 168 });
      if (native) expect(out.pools.native).toEqual({ backend: 'native', primes: 168 });
    });
  }
});
