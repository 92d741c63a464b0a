// The native backend on linux-arm64: run by .ci/arm64.sh under qemu-user with the cross-compiled
// prebuild (SPINDLE_ADDON names it), and on any real arm64 machine by `npx vitest run` as it is.
// On other architectures every test here is skipped: sha256.test.ts and the conformance suite
// cover x86's paths.
//
// What is arm64's own: the ARMv8 SHA-2 path and its run-time choice (HWCAP_SHA2), the portable
// fallback compiled for AArch64, and the sieve without x86's popcnt dispatch. The expected SHA
// path comes from SPINDLE_EXPECT_SHA256_PATH where the caller knows it (qemu's /proc/cpuinfo is
// the host's), else from the "Features" line of /proc/cpuinfo.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Pool, backendInfo, kernels } from '../dist/index.js';
import { cpuinfoWords } from './support/cpuinfo.js';

const nist = (name: string) => fileURLToPath(new URL(`./data/nist/${name}`, import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

function expectedDigests(name: string): string[] {
  return readFileSync(nist(name), 'utf8')
    .split(/\r?\n/)
    .filter((line) => line.startsWith('MD = '))
    .map((line) => line.slice(5).trim());
}

function expectedPath(): string {
  const told = process.env.SPINDLE_EXPECT_SHA256_PATH;
  if (told) return told;
  return cpuinfoWords('Features').includes('sha2') ? 'armv8' : 'portable';
}

const TOP = 2 ** 53;

describe.runIf(process.arch === 'arm64')('native backend on arm64', () => {
  it('loads the addon and names the SHA-256 path this CPU offers', () => {
    const info = backendInfo();
    expect(info.native, info.reason).toBe(true);
    expect(info.sha256Path).toBe(expectedPath());
    // AdvSIMD is mandatory in ARMv8-A Linux: its absence would mean detection reads nothing.
    expect(info.cpuFeatures?.split(' ')).toContain('asimd');
    expect(info.cpuFeatures?.split(' ').includes('sha2')).toBe(expectedPath() === 'armv8');
  });

  const paths = ['portable', ...(expectedPath() === 'armv8' ? ['armv8'] : [])];
  // Asynchronously: the child takes a minute or more under emulation, and a test file that
  // blocked its event loop that long would miss vitest's own RPC deadlines.
  it.each(paths)('SPINDLE_SHA256_PATH=%s: NIST vectors and random messages, single calls and map chunks', async (path) => {
    const child = await promisify(execFile)(process.execPath, [fixture('sha256-path.mjs'), nist('SHA256ShortMsg.rsp'), nist('SHA256LongMsg.rsp')], {
      env: { ...process.env, SPINDLE_SHA256_PATH: path },
      encoding: 'utf8',
      timeout: 240_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(child.stderr).toBe('');
    const result = JSON.parse(child.stdout) as { path: string; vectors: { apply: string[]; map: string[] }; randomMismatches: number };
    const digests = [...expectedDigests('SHA256ShortMsg.rsp'), ...expectedDigests('SHA256LongMsg.rsp')];
    expect(digests.length).toBe(129); // 65 short (0..512 bits) and 64 long messages
    expect(result.path).toBe(path);
    expect(result.vectors.apply).toEqual(digests);
    expect(result.vectors.map).toEqual(digests);
    expect(result.randomMismatches).toBe(0);
  }, 300_000);

  it('countPrimes gives pi(10^k), pi(2^32) and primesieve spot values near 2^32 and 2^53', async () => {
    const pool = new Pool({ backend: 'native', size: 2 });
    try {
      const pi = [4, 25, 168, 1229, 9592, 78498, 664579, 5761455, 50847534];
      expect(await pool.starmap(kernels.countPrimes, pi.map((_, k) => [0, 10 ** (k + 1)]))).toEqual(pi);
      expect(await pool.apply(kernels.countPrimes, [0, 2 ** 32])).toBe(203280221);
      expect(await pool.apply(kernels.countPrimes, [4_294_000_000, 2 ** 32])).toBe(43362);
      expect(await pool.apply(kernels.countPrimes, [2 ** 32, 2 ** 32 + 1e6])).toBe(45038);
      expect(await pool.apply(kernels.countPrimes, [123_456_789_012, 123_457_789_012])).toBe(39118);
      expect(await pool.apply(kernels.countPrimes, [3e15, 3e15 + 1e6])).toBe(28129);
      expect(await pool.apply(kernels.countPrimes, [TOP - 1e6, TOP])).toBe(27396);
      expect(await pool.apply(kernels.countPrimes, [TOP - 111, TOP - 110])).toBe(1); // the largest prime below 2^53
      expect(await pool.apply(kernels.countPrimes, [TOP - 110, TOP])).toBe(0);
    } finally {
      await pool.terminate();
    }
  }, 300_000);
});
