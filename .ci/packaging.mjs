#!/usr/bin/env node
// The packaging test: what users get from `npm install spindle`.
//
//   1. `npm run prebuild` (prebuildify) and `npm pack`: the tarball must hold dist/, the
//      libc-tagged prebuild, binding.gyp and the C++ sources.
//   2. Install it into a fresh project with a PATH that holds node, npm and sh and nothing else (no
//      compiler, make or python): the install must compile nothing, and the native backend must
//      load from the prebuild.
//   3. Install the same tarball with its prebuilds removed, same PATH: the install must still
//      succeed (its compile attempt fails), and spindle must answer correctly on the worker
//      backend, with backendInfo().reason saying why the addon did not load.
//
// Needs the registry (spindle's one dependency, node-gyp-build) and system tar. Run from the repo
// root after `npm ci`: node .ci/packaging.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'spindle-packaging-'));
const step = (message) => console.log(`packaging: ${message}`);
const fail = (message) => {
  console.error(`packaging: FAILED: ${message}\n(work directory kept: ${work})`);
  process.exit(1);
};

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, ...options });
  if (result.status !== 0) {
    fail(`${command} ${args.join(' ')} exited with ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

// ---- 1. prebuild and pack ---------------------------------------------------------------------
step('prebuildify');
run('npm', ['run', 'prebuild'], { cwd: root });
const prebuilds = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const binaries = existsSync(prebuilds) ? readdirSync(prebuilds) : [];
if (!binaries.some((name) => /\.(glibc|musl)\.node$/.test(name))) fail(`no libc-tagged prebuild in ${prebuilds}: [${binaries.join(', ')}]`);

step('npm pack');
run('npm', ['run', 'build:ts'], { cwd: root });
// --ignore-scripts: dist/ is fresh, and `prepare` would print into the JSON on stdout.
const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root }).stdout);
const tarball = join(work, packed[0].filename);
const files = new Set(packed[0].files.map((f) => f.path));
for (const needed of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/worker.js', 'dist/cli.js', 'binding.gyp', 'CMakeLists.txt', 'src-cpp/addon/module.cpp', 'src-cpp/core/thread_pool.cpp', 'package.json', 'README.md']) {
  if (!files.has(needed)) fail(`the tarball lacks ${needed}`);
}
const packedPrebuild = [...files].find((f) => f.startsWith(`prebuilds/${process.platform}-${process.arch}/`) && f.endsWith('.node'));
if (packedPrebuild === undefined) fail('the tarball holds no prebuild for this platform');
for (const f of files) if (/^(test|bench|src-ts|node_modules|build)\//.test(f)) fail(`the tarball should not ship ${f}`);
step(`${packed[0].filename}: ${files.size} files, ${(packed[0].size / 1024).toFixed(0)} KiB, prebuild ${packedPrebuild}`);

// ---- A PATH with node and npm only ------------------------------------------------------------
const bin = join(work, 'bin');
mkdirSync(bin);
const which = (name) => execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
for (const tool of ['node', 'npm', 'npx', 'sh']) symlinkSync(which(tool), join(bin, tool));
// npm runs lifecycle scripts through sh, found on PATH: it joins node and npm, nothing else does.
const bare = { ...process.env, PATH: bin, npm_config_nodedir: '', CI: 'true' };
for (const tool of ['g++', 'gcc', 'cc', 'c++', 'make', 'python3', 'python']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`], { env: bare }).status === 0) fail(`${tool} is still reachable on the restricted PATH`);
}

/** A fresh project that installs `tgz`; returns its directory and the install's output. */
function installInto(name, tgz) {
  const project = join(work, name);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  const result = run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', tgz], { cwd: project, env: bare });
  return { project, log: result.stdout + result.stderr };
}

function node(project, script) {
  return run('node', ['--input-type=module', '-e', script], { cwd: project, env: bare }).stdout.trim();
}

// ---- 2. with the prebuild: nothing compiles, the native backend loads from it -------------------
step('install with prebuilds (node and npm only on PATH)');
const withPrebuild = installInto('with-prebuild', tarball);
if (existsSync(join(withPrebuild.project, 'node_modules', 'spindle', 'build'))) fail('the install compiled something although a prebuild fits');
// The smoke test imports 'spindle' as a user would: from a file inside the project.
copyFileSync(join(root, 'test', 'smoke', 'addon-smoke.mjs'), join(withPrebuild.project, 'smoke.mjs'));
run('node', ['smoke.mjs', 'spindle'], {
  cwd: withPrebuild.project,
  env: { ...bare, SMOKE_EXPECT_PATH: join('node_modules', 'spindle', 'prebuilds') },
});
const cli = run('npx', ['spindle', 'primes', '1e7'], { cwd: withPrebuild.project, env: bare }).stdout;
if (!/^664579 primes below 1e7\n.*\(native backend\)/.test(cli)) fail(`npx spindle primes 1e7 printed: ${cli}`);
step('native backend loaded from the prebuild; the CLI works');

// ---- 3. without prebuilds: the install still succeeds, the worker backend answers --------------
step('repack without prebuilds');
const unpacked = join(work, 'unpacked');
mkdirSync(unpacked);
run('tar', ['-xzf', tarball, '-C', unpacked]);
rmSync(join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true });
const bareTarball = join(work, 'spindle-no-prebuilds.tgz');
run('tar', ['-czf', bareTarball, '-C', unpacked, 'package']);

step('install without prebuilds (its compile must fail for want of a compiler, and the install succeed)');
const withoutPrebuild = installInto('without-prebuild', bareTarball);
if (!/worker_threads backend/.test(withoutPrebuild.log)) fail(`the install did not say it falls back to the worker backend:\n${withoutPrebuild.log}`);
const answer = JSON.parse(
  node(
    withoutPrebuild.project,
    `import { Pool, kernels, backendInfo, SharedCounter } from 'spindle';
     const pool = new Pool({ size: 2 });
     const counter = new SharedCounter();
     await pool.map(kernels.increment, Array(100).fill(counter));
     const primes = await pool.apply(kernels.countPrimes, [0, 1e7]);
     console.log(JSON.stringify({ backend: pool.backend, primes, count: counter.value, info: backendInfo() }));
     await pool.terminate();`,
  ),
);
if (answer.backend !== 'worker' || answer.primes !== 664579 || answer.count !== 100) fail(`wrong answer on the fallback: ${JSON.stringify(answer)}`);
if (answer.info.native !== false || !/no spindle\.node for/.test(answer.info.reason)) fail(`backendInfo() does not say why: ${JSON.stringify(answer.info)}`);
step(`worker backend answered correctly; reason: ${answer.info.reason}`);

rmSync(work, { recursive: true, force: true });
step('ok');
