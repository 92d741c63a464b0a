#!/usr/bin/env node
// The binary's floor: the newest glibc and libstdc++ symbol versions a Linux addon binary needs,
// read from its dynamic symbol table with objdump. A system older than that cannot load it (dlopen:
// "version `GLIBC_2.xx' not found"; spindle then falls back, saying so). Prints every versioned
// need above the baseline, and fails when one is newer than the floor the README states, so that
// a toolchain or code change cannot raise the floor unnoticed.
//
//   node .ci/glibc-floor.mjs [file.node ...]   (default: prebuilds/linux-*/*.glibc.node)
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The README's floor ("Installing the package"): glibc 2.17 and GCC 7's libstdc++ (GLIBCXX_3.4.22
// is GCC 6's; CXXABI_1.3.11, aligned operator new[], is GCC 7's). The prebuilds are linked on glibc
// 2.36 and GCC 12; src-cpp/core/glibc_floor.hpp pins each newer symbol they would need to its old
// version, and says what each pin buys. Lower or raise it here and in the README together.
const FLOOR = { GLIBC: '2.17', GLIBCXX: '3.4.22', CXXABI: '1.3.11' };

const root = fileURLToPath(new URL('..', import.meta.url));
const compare = (a, b) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

let files = process.argv.slice(2);
if (files.length === 0) {
  const dir = join(root, 'prebuilds');
  for (const platform of existsSync(dir) ? readdirSync(dir).filter((d) => d.startsWith('linux-')) : []) {
    for (const file of readdirSync(join(dir, platform))) if (file.endsWith('.glibc.node')) files.push(join(dir, platform, file));
  }
}
if (files.length === 0) {
  console.error('glibc-floor: no glibc prebuild to measure (run npm run prebuild first)');
  process.exit(1);
}

let failed = false;
for (const file of files) {
  // objdump reads any ELF (an arm64 binary too); -T: the dynamic symbols, each with its version.
  const table = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const newest = {};
  const needs = {};
  for (const line of table.split('\n')) {
    const match = /\*UND\*\s+\S+\s+\(?(GLIBC|GLIBCXX|CXXABI)_([\d.]+)\)?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const [, library, version, symbol] = match;
    if (newest[library] === undefined || compare(version, newest[library]) > 0) newest[library] = version;
    (needs[`${library}_${version}`] ??= []).push(symbol);
  }
  console.log(`glibc-floor: ${file}`);
  for (const library of Object.keys(FLOOR)) {
    const version = newest[library];
    if (version === undefined) {
      console.log(`  ${library.padEnd(8)} none needed`);
      continue;
    }
    const over = compare(version, FLOOR[library]) > 0;
    const all = needs[`${library}_${version}`];
    // At a baseline version (arm64's GLIBC_2.17) that is every symbol: name a few.
    const symbols = all.slice(0, 6).map((s) => execFileSync('c++filt', [s], { encoding: 'utf8' }).trim());
    const more = all.length > symbols.length ? `, and ${all.length - symbols.length} more` : '';
    console.log(`  ${library.padEnd(8)} ${version} (floor ${FLOOR[library]}${over ? ', EXCEEDED' : ''}): ${symbols.join(', ')}${more}`);
    failed ||= over;
  }
}
if (failed) {
  console.error('glibc-floor: a binary needs a newer C or C++ runtime than the README states; lower what raised it, or raise FLOOR and the README together');
  process.exit(1);
}
