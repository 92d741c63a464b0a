#!/usr/bin/env node
// The x86-64 binary's instruction-set floor: baseline x86-64 (SSE2) everywhere except in the code
// paths chosen at run time after a CPU check (sort's and SHA-256's avx2, SHA-NI, popcnt). Those are
// compiled with target attributes or pragmas, never with -m flags, so that no inline library code
// shared across the binary is compiled for a newer CPU; but a function that the compiler emits as a
// weak (COMDAT) symbol inside such a path would still be one copy the linker may pick for every
// caller, and baseline callers would then die of SIGILL on an older CPU. So: disassemble, find
// every function using an instruction newer than SSE2, and fail if any of them is a weak symbol.
//
//   node .ci/isa-floor.mjs [file.node ...]   (default: build/Release/spindle.node)
// It needs the symbol table: the prebuild is stripped, so CI checks the addon node-gyp built
// from the same sources with the same flags.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// Mnemonics beyond SSE2: any VEX/EVEX form (v...), BMI1/2, LZCNT, POPCNT, SSSE3, SSE4.1/4.2, SHA.
// tzcnt is left out: it decodes from `rep bsf`, which baseline code may carry and old CPUs run as bsf.
const NEWER = new RegExp(
  '^(v[a-z0-9]+|andn|bextr|blsi|blsmsk|blsr|shrx|shlx|sarx|rorx|bzhi|pdep|pext|mulx|lzcnt|popcnt|pshufb|palignr|' +
    'phadd[dw]|phsub[dw]|pmaddubsw|pmulhrsw|psign[bdw]|pabs[bdw]|pminu[dw]|pmaxu[dw]|pmins[bd]|pmaxs[bd]|pblendvb|pblendw|' +
    'blendv?p[sd]|ptest|pextr[bdq]|pinsr[bdq]|pmulld|pmuldq|pcmpeqq|pcmpgtq|pcmp[ei]str[im]|crc32|packusdw|pmov[sz]x[a-z]+|' +
    'round[sp][sd]|dpp[sd]|insertps|extractps|movntdqa|mpsadbw|phminposuw|sha1[a-z0-9]+|sha256[a-z0-9]+)$',
);

const files = process.argv.slice(2);
if (files.length === 0) {
  if (existsSync(join(root, 'build/Release/spindle.node'))) files.push(join(root, 'build/Release/spindle.node'));
}
if (files.length === 0) {
  console.error('isa-floor: no addon to check (npm run build:native first)');
  process.exit(1);
}

let failed = false;
for (const file of files) {
  const weak = new Set();
  const symbols = execFileSync('nm', ['--defined-only', file], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] }).split('\n');
  if (symbols.filter(Boolean).length === 0) {
    console.error(`${file}: no symbol table (stripped); check an unstripped build`);
    failed = true;
    continue;
  }
  for (const line of symbols) {
    const [, type, name] = line.split(' ');
    if (type === 'W' || type === 'V' || type === 'u') weak.add(name);
  }
  const newer = new Map(); // function -> one newer mnemonic it uses
  let fn = '';
  for (const line of execFileSync('objdump', ['-d', '--no-show-raw-insn', file], { encoding: 'utf8', maxBuffer: 1 << 30 }).split('\n')) {
    const head = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (head !== null) {
      fn = head[1];
      continue;
    }
    const mnemonic = line.split('\t')[1]?.trim().split(/\s+/)[0];
    if (mnemonic !== undefined && !newer.has(fn) && NEWER.test(mnemonic)) newer.set(fn, mnemonic);
  }
  const shared = [...newer.keys()].filter((name) => weak.has(name));
  const demangled = (names) => (names.length === 0 ? [] : execFileSync('c++filt', { input: names.join('\n'), encoding: 'utf8' }).trim().split('\n'));
  console.log(`${file}: ${newer.size} functions use instructions newer than SSE2, ${shared.length} of them weak`);
  for (const name of demangled(shared)) console.log(`  weak, so shared with baseline callers: ${name}`);
  if (newer.size === 0 || shared.length > 0) failed = true; // none at all would mean the fast paths are gone
}
process.exit(failed ? 1 : 0);
