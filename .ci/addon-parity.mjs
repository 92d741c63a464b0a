#!/usr/bin/env node
// The addon has two build descriptions, binding.gyp (node-gyp: installs, prebuilds) and
// CMakeLists.txt (cmake-js: contributors' IDEs, sanitizer builds). This check keeps them in
// step: both must list the same C++ sources, and both binaries must pass the same smoke test.
// Expects both to be built already: build/Release/spindle.node and build-cmake/Release/spindle.node.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fail = (message) => {
  console.error(`addon-parity: ${message}`);
  process.exit(1);
};

// binding.gyp is JSON plus # comments.
const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, ''));
const gypSources = new Set(gyp.targets.find((t) => t.target_name === 'spindle').sources);
// CMakeLists.txt: every .cpp under src-cpp/ that the core library or the addon target lists.
const cmake = readFileSync(join(root, 'CMakeLists.txt'), 'utf8');
const cmakeSources = new Set();
for (const block of cmake.matchAll(/add_library\((spindle_core|spindle)\s[^)]*\)/g)) {
  for (const source of block[0].matchAll(/src-cpp\/[\w/.-]+\.cpp/g)) cmakeSources.add(source[0]);
}
const onlyGyp = [...gypSources].filter((s) => !cmakeSources.has(s));
const onlyCmake = [...cmakeSources].filter((s) => !gypSources.has(s));
if (onlyGyp.length || onlyCmake.length) {
  fail(`source lists differ: only in binding.gyp: [${onlyGyp.join(', ')}]; only in CMakeLists.txt: [${onlyCmake.join(', ')}]`);
}
console.log(`addon-parity: binding.gyp and CMakeLists.txt list the same ${gypSources.size} sources`);

for (const binary of ['build/Release/spindle.node', 'build-cmake/Release/spindle.node']) {
  const path = join(root, binary);
  try {
    const out = execFileSync(process.execPath, [join(root, 'test', 'smoke', 'addon-smoke.mjs')], {
      env: { ...process.env, SPINDLE_ADDON: path },
      encoding: 'utf8',
      timeout: 60_000,
    });
    process.stdout.write(`addon-parity: ${binary}: ${out}`);
  } catch (error) {
    fail(`${binary} failed the smoke test:\n${error.stdout ?? ''}${error.stderr ?? error.message}`);
  }
}
