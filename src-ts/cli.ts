#!/usr/bin/env node
// The `spindle` command: `spindle primes [LO] HI`, `spindle sha256sum ...`, `spindle info`, `spindle build-addon`.

import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { kernels, Pool, SharedCounter } from './index.js';
import { sha256sum } from './cli/sha256sum.js';
import { info } from './cli/info.js';
import { buildAddon } from './cli/build-addon.js';
import { stdoutStatus, writeStdout } from './cli/stdout.js';
import { ProgressBar } from './progress-bar.js';

const USAGE = `Usage:
  spindle primes HI [--threads N] [--backend B]      count the primes below HI
  spindle primes LO HI [--threads N] [--backend B]   count the primes p with LO <= p < HI
                                                     (spindle primes --help for its options)
  spindle sha256sum [OPTION]... [FILE]...            coreutils sha256sum, files hashed in parallel
                                                     (spindle sha256sum --help for its options)
  spindle info                                       backend, which addon binary and why, threads, CPU features
  spindle build-addon                                compile the addon here, where no prebuild fits
  spindle serve --queue NAME --redis URL [...]       run a queue pool's jobs here (spindle serve --help)
  spindle --help (-h) | --version (-v)

Numbers may use exponent notation (1e10). 0 <= LO <= HI <= 2^53.
--threads N (-t N) is 1 to 1024; default: every available core.
--backend is auto (default), native or worker; SPINDLE_BACKEND sets the default.
A progress bar is drawn on stderr when it is a terminal; --progress forces it, --no-progress hides it.`;

const PRIMES_USAGE = `Usage: spindle primes [LO] HI [OPTION]...
Counts the primes p with LO <= p < HI (LO defaults to 0) on a pool of threads.
Numbers may use exponent notation (1e10). 0 <= LO <= HI <= 2^53.
  -t, --threads N   threads (or workers) to use, 1 to 1024; default: every available core
  --backend B       auto (default), native or worker; SPINDLE_BACKEND sets the default
  --progress        draw a progress bar on stderr (the default when stderr is a terminal)
  --no-progress     draw none`;

class UsageError extends Error {}

function parseBound(text: string, name: string): number {
  const value = exactInteger(text);
  if (value === undefined || value < 0n || value > 2n ** 53n) {
    throw new UsageError(`${name} must be an integer in [0, 2^53], got '${text}'`);
  }
  return Number(value);
}

/**
 * The integer a number written as JS writes them (decimal with an optional fraction and
 * exponent, or 0x/0o/0b) stands for, exactly; undefined for anything else or a non-integer.
 * Number() alone rounds: '9007199254740993' read as 2^53 and was accepted.
 */
function exactInteger(text: string): bigint | undefined {
  const t = text.trim();
  if (/^0[xX][0-9a-fA-F]+$|^0[oO][0-7]+$|^0[bB][01]+$/.test(t)) return BigInt(t);
  const m = /^\+?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (m === null) return undefined;
  const [, whole = '', fraction = '', exponent = '0'] = m;
  if (whole === '' && fraction === '') return undefined;
  const digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return 0n;
  // The value is digits * 10^scale; anything beyond 10^20 is out of range whatever it is.
  const scale = Number(exponent) - fraction.length;
  const significant = digits.replace(/0+$/, '');
  const zeros = digits.length - significant.length;
  if (scale + zeros < 0) return undefined; // a fraction is left
  if (digits.length + scale > 20) return 10n ** 21n;
  return scale >= 0 ? BigInt(digits) * 10n ** BigInt(scale) : BigInt(digits.slice(0, digits.length + scale));
}

type BackendChoice = 'auto' | 'native' | 'worker';

/** Splits `--threads N` (-t, --threads=N) and `--backend B` (--backend=B) out of the positional arguments. */
function parseArgs(argv: string[]): { positional: string[]; threads?: number; backend: BackendChoice; progress: boolean } {
  const positional: string[] = [];
  let threads: number | undefined;
  let backend: BackendChoice = 'auto';
  let progress = process.stderr.isTTY === true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--progress' || arg === '--no-progress') {
      progress = arg === '--progress';
      continue;
    }
    if (arg === '--backend' || arg.startsWith('--backend=')) {
      const value = arg === '--backend' ? argv[++i] : arg.slice('--backend='.length);
      if (value !== 'auto' && value !== 'native' && value !== 'worker') {
        throw new UsageError(`--backend must be auto, native or worker, got '${value ?? ''}'`);
      }
      backend = value;
      continue;
    }
    let value: string | undefined;
    if (arg === '--threads' || arg === '-t') value = argv[++i];
    else if (arg.startsWith('--threads=')) value = arg.slice('--threads='.length);
    else if (arg.startsWith('-') && arg !== '-' && !/^-?\d/.test(arg)) throw new UsageError(`unknown option '${arg}'`);
    else {
      positional.push(arg);
      continue;
    }
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < 1 || n > 1024) {
      throw new UsageError(`--threads must be an integer in [1, 1024], got '${value ?? ''}'`);
    }
    threads = n;
  }
  return threads === undefined ? { positional, backend, progress } : { positional, threads, backend, progress };
}

async function primes(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    writeStdout(PRIMES_USAGE + '\n');
    return 0;
  }
  const { positional, threads, backend, progress } = parseArgs(argv);
  if (positional.length < 1 || positional.length > 2) throw new UsageError('primes takes HI or LO HI');
  const [lo, hi] =
    positional.length === 1
      ? [0, parseBound(positional[0]!, 'HI')]
      : [parseBound(positional[0]!, 'LO'), parseBound(positional[1]!, 'HI')];
  if (lo > hi) throw new UsageError(`LO must be <= HI, got ${positional[0]} > ${positional[1]}`);
  const size = threads ?? availableParallelism();
  await using pool = new Pool({ size, backend });
  const start = performance.now();
  const counter = new SharedCounter(0);
  const bar = progress ? new ProgressBar({ stream: process.stderr, total: hi - lo, counter, label: 'sieving' }).start() : undefined;
  let count: number;
  try {
    count = await pool.apply(kernels.countPrimes, [lo, hi], { progress: counter });
  } finally {
    bar?.stop();
  }
  const seconds = (performance.now() - start) / 1000;
  const range = positional.length === 1 ? `below ${positional[0]}` : `in [${positional[0]}, ${positional[1]})`;
  writeStdout(`${count} primes ${range}\n`);
  writeStdout(`${seconds.toFixed(3)} s on ${size} thread${size === 1 ? '' : 's'} (${pool.backend} backend)\n`);
  return 0;
}

async function version(): Promise<string> {
  const { createRequire } = await import('node:module');
  const { packageRoot } = await import('./backends/addon.js');
  const manifest = createRequire(import.meta.url)(`${packageRoot()}/package.json`) as { version: string };
  return manifest.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'primes':
      return primes(rest);
    case 'serve':
      return (await import('./cli/serve.js')).serveCommand(rest);
    case 'sha256sum':
      return sha256sum(rest, { version: await version() });
    case 'info':
      return info(rest);
    case 'build-addon':
      return buildAddon(rest);
    case '--version':
    case '-v':
      writeStdout(`${await version()}\n`);
      return 0;
    case undefined:
      // A usage error like any other: on stderr, so that `spindle > file` does not fill the file with it.
      throw new UsageError('no command given');
    case '--help':
    case '-h':
      writeStdout(USAGE + '\n');
      return 0;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).then(
  async (code) => {
    // A failed write to stdout (a closed pipe, /dev/full) ends with status 1; see cli/stdout.ts.
    process.exitCode = await stdoutStatus(code);
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`spindle: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`spindle: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
