// The package as users load it: the ESM and CommonJS builds with their types, side by side.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('what installing the package runs', () => {
  // README, "Installing the package": package managers that block install scripts (npm's
  // --strict-allow-scripts, pnpm 10, yarn 4) must have nothing of spindle's to block or flag.
  // .ci/packaging.mjs installs the real tarball with each of them.
  const manifest = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));

  it('has no install-time script, stated or implied by a root binding.gyp', () => {
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) expect(manifest.scripts[script], script).toBeUndefined();
    expect(manifest.gypfile).toBe(false);
    expect(manifest.files).not.toContain('binding.gyp');
    expect(manifest.files).toContain('dist/');
  });

  it('refuses to pack without dist/ or a prebuilt addon, since nothing builds on install', () => {
    expect(manifest.scripts.prepack).toBe('node .ci/prepack.mjs');
    const dir = mkdtempSync(join(tmpdir(), 'spindle-prepack-'));
    const prepack = () => spawnSync(process.execPath, [join(root, '.ci', 'prepack.mjs')], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    try {
      let run = prepack();
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('refusing to pack without dist/ (the compiled library) and prebuilds/*/*.node (the prebuilt addon)');
      mkdirSync(join(dir, 'dist'));
      for (const file of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'worker.js']) writeFileSync(join(dir, 'dist', file), '');
      run = prepack();
      expect(run.stderr).toContain('dist/ (the compiled library)'); // no cli.js
      writeFileSync(join(dir, 'dist', 'cli.js'), '');
      run = prepack();
      expect(run.status).toBe(1);
      expect(run.stderr).not.toContain('dist/');
      mkdirSync(join(dir, 'prebuilds', 'linux-x64'), { recursive: true });
      writeFileSync(join(dir, 'prebuilds', 'linux-x64', 'spindle.glibc.node'), '');
      run = prepack();
      expect([run.status, run.stderr]).toEqual([0, '']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ships what compiling from source needs: binding.gyp in dist/, node-addon-api as a dependency', () => {
    expect(readFileSync(`${root}/dist/binding.gyp`, 'utf8')).toBe(readFileSync(`${root}/binding.gyp`, 'utf8'));
    expect(Object.keys(manifest.dependencies)).toContain('node-addon-api');
    expect(manifest.devDependencies['node-addon-api']).toBeUndefined();
  });
});

describe('package entry points', () => {
  it('package.json points at built files that exist, types included', () => {
    const manifest = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
    const targets = [
      manifest.exports['.'].import.default,
      manifest.exports['.'].import.types,
      manifest.exports['.'].require.default,
      manifest.exports['.'].require.types,
      manifest.bin.spindle,
    ];
    for (const target of targets) expect(existsSync(`${root}/${target}`), target).toBe(true);
  });

  it('require() and import() both work, in one process, on the native backend', () => {
    const script = `
      const cjs = require('spindle');
      (async () => {
        const esm = await import('spindle');
        const a = new cjs.Pool({ size: 2 });
        const b = new esm.Pool({ size: 2 });
        const counter = new cjs.SharedCounter(0);
        const out = await Promise.all([
          a.apply(cjs.kernels.countPrimes, [0, 1e6]),
          b.apply(esm.kernels.noop, [5]),
          a.apply(cjs.kernels.increment, [counter, 3]),
        ]);
        console.log(JSON.stringify([a.backend, b.backend, ...out]));
        await a.terminate();
        await b.terminate();
      })();`;
    // Resolve 'spindle' by name, as a dependent package would (self-reference via "exports").
    const child = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual(['native', 'native', 78498, 5, 3]);
  });

  it('shared state made by one build works with the other build, on both backends', () => {
    const script = `
      const cjs = require('spindle');
      (async () => {
        const esm = await import('spindle');
        const counter = new cjs.SharedCounter(0);
        const value = new esm.SharedValue('f64', 0.5);
        const out = [counter instanceof esm.SharedCounter, value instanceof cjs.SharedValue, value.getLock() instanceof cjs.Lock, {} instanceof esm.SharedCounter];
        for (const backend of ['native', 'worker']) {
          const pool = new esm.Pool({ backend, size: 2 });
          await pool.map(esm.kernels.increment, Array(100).fill(counter), { chunkSize: 10 });
          out.push(counter.value);
          await pool.terminate();
        }
        console.log(JSON.stringify(out));
      })();`;
    const child = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual([true, true, true, false, 100, 200]);
  });
});

describe('compiling the addon from a directory with a space in its name', () => {
  // `npx spindle build-addon` (node-gyp, make) and `npx cmake-js compile` run in the installed
  // package: wherever the project lives. make splits a path at its spaces, and so does CMake's
  // `SHELL:` option syntax, so the glibc-floor header forced into every source by an absolute
  // path broke both builds under such a directory ("cannot specify -o with -c ... with multiple
  // files"). One source compiled each way is enough to show the flags survive the path.
  const onPath = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
  const nodeGyp = `${root}/node_modules/node-gyp/bin/node-gyp.js`;
  // Node's headers as build-addon finds them: beside this node (a Node installed from its tarball).
  const nodedir = join(dirname(process.execPath), '..');
  const haveTools = ['g++', 'make', 'python3'].every(onPath) && existsSync(nodeGyp) && existsSync(join(nodedir, 'include', 'node', 'common.gypi'));
  const haveCmake = ['c++', 'make', 'cmake'].every(onPath);
  let work: string;
  beforeAll(() => {
    work = join(mkdtempSync(join(tmpdir(), 'spindle-build-')), 'my projects', 'node_modules', 'spindle');
    mkdirSync(work, { recursive: true });
    for (const entry of ['binding.gyp', 'CMakeLists.txt', 'src-cpp', 'test/cpp']) cpSync(join(root, entry), join(work, entry), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'), 'dir');
  });
  afterAll(() => rmSync(join(work, '..', '..', '..'), { recursive: true, force: true }));

  const compiles = (command: string, args: string[]) => {
    const child = spawnSync(command, args, { cwd: work, encoding: 'utf8', timeout: 240_000 });
    expect(child.stderr + child.stdout).not.toMatch(/fatal error|Error \d/);
    expect(child.status).toBe(0);
  };

  it.runIf(haveTools)('node-gyp: binding.gyp', () => {
    compiles(process.execPath, [nodeGyp, 'configure', `--nodedir=${nodedir}`]);
    compiles('make', ['-C', 'build', 'BUILDTYPE=Release', 'Release/obj.target/spindle/src-cpp/core/kernels/noop.o']);
    expect(existsSync(join(work, 'build', 'Release', 'obj.target', 'spindle', 'src-cpp', 'core', 'kernels', 'noop.o'))).toBe(true);
  }, 300_000);

  it.runIf(haveCmake)('cmake: CMakeLists.txt', () => {
    compiles('cmake', ['-S', '.', '-B', 'build cmake', '-DCMAKE_BUILD_TYPE=Release']);
    compiles('make', ['-C', 'build cmake', 'src-cpp/core/kernels/noop.o']);
    expect(existsSync(join(work, 'build cmake', 'CMakeFiles', 'spindle_core.dir', 'src-cpp', 'core', 'kernels', 'noop.cpp.o'))).toBe(true);
  }, 300_000);
});

describe('the published types, as a strict consumer compiles them', () => {
  // README: "An option set to `undefined` counts as not given". A consumer compiling with
  // exactOptionalPropertyTypes (as @tsconfig/strictest does) must be able to pass one: the option
  // types say `| undefined`. Compiled against dist/index.d.ts, resolved by name from a project
  // that has spindle installed (a link), with the library's own declarations checked too.
  it('accepts options set to undefined under exactOptionalPropertyTypes, skipLibCheck off', async () => {
    const ts = (await import('typescript')).default;
    const dir = mkdtempSync(join(tmpdir(), 'spindle-types-'));
    try {
      mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
      symlinkSync(root, join(dir, 'node_modules', 'spindle'), 'dir');
      symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      writeFileSync(
        join(dir, 'consumer.ts'),
        `import { Pool, kernels, serve } from 'spindle';
         declare const n: number | undefined;
         declare const signal: AbortSignal | undefined;
         const pool = new Pool({ size: n, maxQueue: n, backend: undefined, initializer: undefined, env: undefined });
         await pool.apply(kernels.countPrimes, [0, 10], { signal, timeout: n, progress: undefined, transfer: undefined });
         pool.applyAsync(kernels.noop, [1], { callback: undefined, errorCallback: undefined });
         await pool.map(kernels.noop, [1], { chunkSize: n });
         pool.imap(kernels.noop, [1], { chunkSize: n, window: n });
         await pool.apply(kernels.sha256, ['a', { encoding: undefined }]);
         await serve({ queue: 'q', connection: 'redis://x', pool: undefined, lockDuration: n, onError: undefined });
         // @ts-expect-error a typo is still an error
         new Pool({ maxQueu: 8 });
         // @ts-expect-error and so is a value of the wrong type
         new Pool({ size: '2' });
         // Results typed from the call's arguments (README: sort resolves with the same array,
         // the encoding picks a string or a Buffer).
         const f64 = new Float64Array(2);
         const sorted: Float64Array = await pool.apply(kernels.sort, [f64]);
         const all: Float64Array[] = await pool.map(kernels.sort, [f64, sorted]);
         const order: Uint32Array | Float64Array = await pool.apply(kernels.argsort, [f64]);
         const hex: string = (await pool.apply(kernels.sha256, ['a', undefined])).toUpperCase();
         const b64: string = await pool.apply(kernels.sha256File, ['/f', { encoding: 'base64' }]);
         const raw: Buffer = await pool.applyAsync(kernels.sha256, ['a', { encoding: 'buffer' }]).get();
         // @ts-expect-error a Buffer digest is no string
         const notHex: string = await pool.apply(kernels.sha256, ['a', { encoding: 'buffer' }]);
         void [all, order, hex, b64, raw, notHex];`,
      );
      const program = ts.createProgram([join(dir, 'consumer.ts')], {
        strict: true,
        exactOptionalPropertyTypes: true,
        skipLibCheck: false,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts'],
        types: ['node'],
      });
      const messages = ts
        .getPreEmitDiagnostics(program)
        .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
      expect(messages).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("spindle build-addon where Yarn Plug'n'Play keeps spindle in a zip archive", () => {
  it('says to unplug spindle, instead of failing with EROFS on paths inside the archive', () => {
    // A copy of the package under a path that goes through a .zip, as yarn's zip fs shows it,
    // and process.versions.pnp set, as yarn's .pnp.cjs sets it. No binding.gyp anywhere: were
    // the zip not noticed, build-addon would stop at that instead (and never compile here).
    const base = mkdtempSync(join(tmpdir(), 'spindle-pnp-'));
    try {
      const pkg = join(base, '.yarn', 'cache', 'spindle-npm-0.1.0-0123456789-10c0.zip', 'node_modules', 'spindle');
      mkdirSync(pkg, { recursive: true });
      cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
      cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
      rmSync(join(pkg, 'dist', 'binding.gyp'), { force: true });
      writeFileSync(join(base, 'pnp.cjs'), "process.versions.pnp = '3';\n");
      const child = spawnSync(process.execPath, ['--require', join(base, 'pnp.cjs'), join(pkg, 'dist', 'cli.js'), 'build-addon'], {
        cwd: base,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(child.stderr).toBe(
        `spindle build-addon: spindle is inside a zip archive (${pkg}), where nothing can be compiled or loaded: ` +
          'run `yarn unplug spindle` first, then `spindle info` (its prebuild may fit)\n',
      );
      expect(child.status).toBe(1);
      expect(child.stdout).toBe('');
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
