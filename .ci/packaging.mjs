#!/usr/bin/env node
// The packaging test: what users get from `npm install spindle` (and pnpm, and yarn).
//
//   1. `npm run prebuild` (prebuildify; and `npm run prebuild:arm64` when package.json has it) and
//      `npm pack`: the tarball must hold dist/, the libc-tagged prebuilds, the C++ sources with
//      dist/binding.gyp, and no install script, stated or implied (README, "Installing the
//      package": package managers that block install scripts must not block or flag spindle).
//   2. With a PATH that holds node, npm and sh and nothing else (no compiler, make or python), the
//      tarball installs, compiles nothing, and the native backend loads from the prebuild under
//      npm, npm --ignore-scripts, npm --strict-allow-scripts (npm 11.x), pnpm 10 and yarn 4 (PnP).
//      yarn 4 told to keep spindle zipped: the worker backend runs from the zip, the reason says
//      to run `yarn unplug spindle`, and once unplugged the prebuild loads.
//   3. The same tarball with its prebuilds removed, same PATH: the install succeeds, spindle
//      answers correctly on the worker backend, and backendInfo().reason, `spindle info` and a
//      failing `spindle build-addon` all say what to do.
//   4. The prebuild-less tarball where a compiler is present: `npx spindle build-addon` compiles
//      the addon (node-gyp), and so does cmake-js from the shipped CMakeLists.txt; each binary
//      then loads and passes the smoke test.
//
// Needs the registry (node-addon-api, pnpm, yarn, cmake-js) and system tar. Run from the repo
// root after `npm ci`: node .ci/packaging.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'spindle-packaging-'));
const started = Date.now();
const step = (message) => console.log(`packaging: ${message} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
const fail = (message) => {
  console.error(`packaging: FAILED: ${message}\n(work directory kept: ${work})`);
  process.exit(1);
};

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, ...options });
  if (result.status !== 0) {
    fail(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const here = `${process.platform}-${process.arch}`;

// ---- 1. prebuild and pack ---------------------------------------------------------------------
step('prebuildify');
run('npm', ['run', 'prebuild'], { cwd: root });
const prebuilds = join(root, 'prebuilds', here);
const binaries = existsSync(prebuilds) ? readdirSync(prebuilds) : [];
if (!binaries.some((name) => /\.(glibc|musl)\.node$/.test(name))) fail(`no libc-tagged prebuild in ${prebuilds}: [${binaries.join(', ')}]`);
// The arm64 prebuild is cross-compiled by a script of its own; where it exists, it ships.
const otherPlatforms = [];
if (manifest.scripts['prebuild:arm64'] !== undefined) {
  step('npm run prebuild:arm64');
  run('npm', ['run', 'prebuild:arm64'], { cwd: root, timeout: 900_000 });
  otherPlatforms.push('linux-arm64');
}

step('npm pack');
run('npm', ['run', 'build:ts'], { cwd: root });
// --ignore-scripts: dist/ is fresh, and `prepare` would print into the JSON on stdout.
const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root }).stdout);
const tarball = join(work, packed[0].filename);
const files = new Set(packed[0].files.map((f) => f.path));
for (const needed of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/worker.js', 'dist/cli.js', 'dist/binding.gyp', 'CMakeLists.txt', 'src-cpp/addon/module.cpp', 'src-cpp/core/thread_pool.cpp', 'package.json', 'README.md', 'LICENSE']) {
  if (!files.has(needed)) fail(`the tarball lacks ${needed}`);
}
const packedPrebuild = (platform) => [...files].find((f) => f.startsWith(`prebuilds/${platform}/`) && f.endsWith('.node'));
for (const platform of [here, ...otherPlatforms]) if (packedPrebuild(platform) === undefined) fail(`the tarball holds no prebuild for ${platform}`);
for (const f of files) if (/^(test|bench|src-ts|node_modules|build)\//.test(f)) fail(`the tarball should not ship ${f}`);
// No install script, stated or implied: npm implies `node-gyp rebuild` from a root binding.gyp
// unless "gypfile" is false; pnpm and yarn imply it from a root binding.gyp whatever "gypfile"
// says, so the tarball carries it as dist/binding.gyp (spindle build-addon puts it back).
if (files.has('binding.gyp')) fail('the tarball has a binding.gyp at its root: pnpm and yarn take that for an install script');
const packedManifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
for (const script of ['preinstall', 'install', 'postinstall']) {
  if (packedManifest.scripts?.[script] !== undefined) fail(`the package has an ${script} script: ${packedManifest.scripts[script]}`);
}
if (packedManifest.gypfile !== false) fail('package.json must say "gypfile": false, or npm implies an install script (node-gyp rebuild) from binding.gyp');
if (packedManifest.dependencies?.['node-addon-api'] === undefined) fail('node-addon-api must be a dependency: binding.gyp needs it to compile from source');
step(`${packed[0].filename}: ${files.size} files, ${(packed[0].size / 1024).toFixed(0)} KiB, prebuilds ${[here, ...otherPlatforms].map(packedPrebuild).join(', ')}`);

// ---- Package managers, fetched once from the registry ------------------------------------------
step('pnpm 10 and yarn 4 from the registry');
const tools = join(work, 'tools');
mkdirSync(tools);
writeFileSync(join(tools, 'package.json'), '{"private":true}');
run('npm', ['install', '--no-audit', '--no-fund', 'pnpm@10', '@yarnpkg/cli-dist@4'], { cwd: tools });
const pnpm = join(tools, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs');
const yarn = join(tools, 'node_modules', '@yarnpkg', 'cli-dist', 'bin', 'yarn.js');

// ---- A PATH with node and npm only ------------------------------------------------------------
const bin = join(work, 'bin');
mkdirSync(bin);
const which = (name) => execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
for (const tool of ['node', 'npm', 'npx', 'sh']) symlinkSync(which(tool), join(bin, tool));
// npm runs lifecycle scripts through sh, found on PATH: it joins node and npm, nothing else does.
const bare = {
  ...process.env,
  PATH: bin,
  npm_config_nodedir: '',
  CI: 'true',
  // yarn's defaults: registry.yarnpkg.com, and no lockfile changes under CI.
  YARN_NPM_REGISTRY_SERVER: run('npm', ['config', 'get', 'registry']).stdout.trim(),
  YARN_ENABLE_IMMUTABLE_INSTALLS: 'false',
  YARN_ENABLE_TELEMETRY: '0',
  YARN_ENABLE_GLOBAL_CACHE: 'false',
};
for (const tool of ['g++', 'gcc', 'cc', 'c++', 'make', 'python3', 'python', 'cmake']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`], { env: bare }).status === 0) fail(`${tool} is still reachable on the restricted PATH`);
}
const full = { ...process.env, CI: 'true' };

/** A fresh project; `install` puts `tgz` in it. Returns its directory and the install's output. */
function project(name, install, env = bare) {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  const result = install(dir, env);
  return { dir, log: result.stdout + result.stderr };
}
const npmInstall = (...flags) => (dir, env) => run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', ...flags, tarball], { cwd: dir, env });

/** The smoke test, run as a user's file in the project (through `runner`, for yarn's PnP). */
function smoke(dir, expectPath, runner = [], env = bare) {
  copyFileSync(join(root, 'test', 'smoke', 'addon-smoke.mjs'), join(dir, 'smoke.mjs'));
  const [command, ...args] = runner.length > 0 ? runner : ['node'];
  run(command, [...args, 'smoke.mjs', 'spindle'], { cwd: dir, env: { ...env, SMOKE_EXPECT_PATH: expectPath } });
}

// ---- 2. with the prebuild, under each package manager: nothing compiles, native loads -----------
const managers = [
  ['npm', npmInstall()],
  ['npm --ignore-scripts', npmInstall('--ignore-scripts')],
  ['pnpm 10', (dir, env) => run('node', [pnpm, 'add', tarball], { cwd: dir, env })],
  ['yarn 4 (Plug\'n\'Play)', (dir, env) => run('node', [yarn, 'add', `spindle@file:${tarball}`], { cwd: dir, env })],
];
// npm 11 refuses, with ESTRICTALLOWSCRIPTS, a dependency whose install scripts allowScripts does
// not list: spindle must install under it without being listed.
if (/strict-allow-scripts/.test(spawnSync('npm', ['help', 'install'], { encoding: 'utf8' }).stdout ?? '')) {
  managers.push(['npm --strict-allow-scripts', npmInstall('--strict-allow-scripts')]);
} else {
  step(`npm ${run('npm', ['--version']).stdout.trim()} has no --strict-allow-scripts: not tested`);
}
let withPrebuild;
for (const [label, install] of managers) {
  step(`install with prebuilds: ${label} (node and npm only on PATH)`);
  const p = project(label.replace(/[^a-z0-9]+/gi, '-'), install);
  // pnpm 10: "Ignored build scripts: spindle..."; yarn 4: "spindle@... lists build scripts".
  if (/Ignored build scripts: spindle|spindle@\S+ lists build scripts/.test(p.log)) fail(`${label} takes spindle for a package with build scripts:\n${p.log}`);
  const yarnPnp = label.startsWith('yarn');
  // yarn unplugs a package holding a .node file into .yarn/unplugged: the loader finds it there.
  const installed = yarnPnp ? join('.yarn', 'unplugged') : 'node_modules';
  if (!yarnPnp && existsSync(join(p.dir, 'node_modules', 'spindle', 'build'))) fail(`${label}: the install compiled something although a prebuild fits`);
  smoke(p.dir, `prebuilds/${here}/`, yarnPnp ? ['node', yarn, 'node'] : []);
  if (!yarnPnp && !readdirSync(join(p.dir, installed), { recursive: true }).some((f) => String(f).endsWith(join('prebuilds', here)))) {
    fail(`${label}: no prebuilds/${here} under ${installed}`);
  }
  withPrebuild ??= p.dir;
}
const cli = run('npx', ['spindle', 'primes', '1e7'], { cwd: withPrebuild, env: bare }).stdout;
if (!/^664579 primes below 1e7\n.*\(native backend\)/.test(cli)) fail(`npx spindle primes 1e7 printed: ${cli}`);
const info = run('npx', ['spindle', 'info'], { cwd: withPrebuild, env: bare }).stdout;
if (!new RegExp(`chosen +the prebuild for ${here} tagged glibc`).test(info)) fail(`spindle info does not say which prebuild and why:\n${info}`);
step('native backend loaded from the prebuild under every package manager; the CLI works and says why');

// yarn 4 told to keep spindle zipped ("dependenciesMeta": { "spindle": { "unplugged": false } }):
// dlopen cannot open a file inside a zip archive, so the worker backend runs, from the zip, with
// a task module of the project; the reason says to unplug, and once unplugged the prebuild loads.
step("yarn 4 (Plug'n'Play) keeping spindle zipped: worker backend, a reason naming `yarn unplug spindle`");
{
  const dir = join(work, 'yarn-zipped');
  mkdirSync(dir);
  const manifest = { name: 'yarn-zipped', version: '1.0.0', private: true, type: 'module', dependenciesMeta: { spindle: { unplugged: false } } };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
  run('node', [yarn, 'add', `spindle@file:${tarball}`], { cwd: dir, env: bare });
  writeFileSync(join(dir, 'tasks.js'), 'export const double = (x) => x * 2;\n');
  writeFileSync(
    join(dir, 'zipped.mjs'),
    `import { Pool, kernels, task, backendInfo } from 'spindle';
     const pool = new Pool({ size: 2 });
     const primes = await pool.apply(kernels.countPrimes, [0, 1e6]);
     const doubled = await pool.apply(task(new URL('./tasks.js', import.meta.url), 'double'), [21]);
     console.log(JSON.stringify({ backend: pool.backend, primes, doubled, info: backendInfo() }));
     await pool.terminate();`,
  );
  const zipped = JSON.parse(run('node', [yarn, 'node', 'zipped.mjs'], { cwd: dir, env: bare }).stdout);
  if (zipped.backend !== 'worker' || zipped.primes !== 78498 || zipped.doubled !== 42) fail(`wrong answer from the zip: ${JSON.stringify(zipped)}`);
  if (!/\.zip\/.* is inside a zip archive, .*`yarn unplug spindle`/.test(zipped.info.reason ?? '')) {
    fail(`backendInfo().reason does not say to unplug spindle: ${JSON.stringify(zipped.info)}`);
  }
  run('node', [yarn, 'unplug', 'spindle'], { cwd: dir, env: bare });
  smoke(dir, `prebuilds/${here}/`, ['node', yarn, 'node']);
}

// ---- 3. without prebuilds or a compiler: installs, worker backend, says what to run -------------
step('repack without prebuilds');
const unpacked = join(work, 'unpacked');
mkdirSync(unpacked);
run('tar', ['-xzf', tarball, '-C', unpacked]);
rmSync(join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true });
const bareTarball = join(work, 'spindle-no-prebuilds.tgz');
run('tar', ['-czf', bareTarball, '-C', unpacked, 'package']);
const npmInstallBare = (dir, env) => run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', bareTarball], { cwd: dir, env });

step('install without prebuilds, no compiler');
const noCompiler = project('without-prebuild', npmInstallBare);
const answer = JSON.parse(
  run(
    'node',
    [
      '--input-type=module',
      '-e',
      `import { Pool, kernels, backendInfo, SharedCounter } from 'spindle';
       const pool = new Pool({ size: 2 });
       const counter = new SharedCounter();
       await pool.map(kernels.increment, Array(100).fill(counter));
       const primes = await pool.apply(kernels.countPrimes, [0, 1e7]);
       console.log(JSON.stringify({ backend: pool.backend, primes, count: counter.value, info: backendInfo() }));
       await pool.terminate();`,
    ],
    { cwd: noCompiler.dir, env: bare },
  ).stdout,
);
if (answer.backend !== 'worker' || answer.primes !== 664579 || answer.count !== 100) fail(`wrong answer on the fallback: ${JSON.stringify(answer)}`);
if (answer.info.native !== false || !/^no spindle\.node for .*run `npx spindle build-addon`$/.test(answer.info.reason)) {
  fail(`backendInfo().reason does not say why and what to run: ${JSON.stringify(answer.info)}`);
}
const infoBare = run('npx', ['spindle', 'info'], { cwd: noCompiler.dir, env: bare }).stdout;
if (!/addon +not loaded: no spindle\.node for .*npx spindle build-addon/.test(infoBare)) fail(`spindle info does not name the command:\n${infoBare}`);
const refused = spawnSync('npx', ['spindle', 'build-addon'], { cwd: noCompiler.dir, env: bare, encoding: 'utf8', timeout: 300_000 });
if (refused.status !== 1 || !/node-gyp failed .*C\+\+20 compiler/.test(refused.stderr)) {
  fail(`spindle build-addon without a compiler: exit ${refused.status}, stderr:\n${refused.stderr}`);
}
step(`worker backend answered correctly; reason: ${answer.info.reason}`);

// ---- 4. without prebuilds, with a compiler: one command compiles it; so does cmake-js -------------
step('install without prebuilds, compiler present: npx spindle build-addon');
const withCompiler = project('compile-from-source', npmInstallBare, full);
const built = run('npx', ['spindle', 'build-addon'], { cwd: withCompiler.dir, env: full, timeout: 900_000 });
if (!/^built .*build\/Release\/spindle\.node/m.test(built.stdout)) fail(`build-addon printed:\n${built.stdout}`);
smoke(withCompiler.dir, join('node_modules', 'spindle', 'build', 'Release', 'spindle.node'), [], full);

step('the same with cmake-js, from the shipped CMakeLists.txt');
const spindleDir = join(withCompiler.dir, 'node_modules', 'spindle');
rmSync(join(spindleDir, 'build'), { recursive: true, force: true });
run('npm', ['install', '--no-audit', '--no-fund', '--no-save', 'cmake-js@8'], { cwd: withCompiler.dir, env: full });
run('npx', ['cmake-js', 'compile', '--directory', spindleDir], { cwd: withCompiler.dir, env: full, timeout: 900_000 });
smoke(withCompiler.dir, join('node_modules', 'spindle', 'build', 'Release', 'spindle.node'), [], full);

rmSync(work, { recursive: true, force: true });
step('ok');
