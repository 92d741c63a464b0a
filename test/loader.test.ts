// How the addon is found, and what happens when it cannot be: the prebuild choice by platform
// and libc, and the fallback (with a reason) when the .node file is missing or corrupt.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseAddon, detectLibc, explainLoadFailure, pickPrebuild, resolveAddon, type Target } from '../src-ts/backends/addon.js';
import { foreignElf, truncatedElf } from '../src-ts/backends/elf-check.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const glibc: Target = { platform: 'linux', arch: 'x64', libc: 'glibc' };
const musl: Target = { platform: 'linux', arch: 'x64', libc: 'musl' };

describe('choosing a prebuild', () => {
  it('takes the one tagged with this libc, never the other libc', () => {
    const both = ['spindle.glibc.node', 'spindle.musl.node'];
    expect(pickPrebuild(both, glibc)).toBe('spindle.glibc.node');
    expect(pickPrebuild(both, musl)).toBe('spindle.musl.node');
    expect(pickPrebuild(['spindle.glibc.node'], musl)).toBeUndefined();
    expect(pickPrebuild(['spindle.musl.node'], glibc)).toBeUndefined();
  });

  it('trusts an untagged binary only where it cannot be the wrong libc', () => {
    expect(pickPrebuild(['spindle.node'], glibc)).toBe('spindle.node');
    expect(pickPrebuild(['spindle.napi.node'], glibc)).toBe('spindle.napi.node');
    expect(pickPrebuild(['spindle.node'], musl)).toBeUndefined();
    expect(pickPrebuild(['spindle.node'], { platform: 'darwin', arch: 'arm64', libc: undefined })).toBe('spindle.node');
    expect(pickPrebuild(['spindle.node', 'spindle.glibc.node'], glibc)).toBe('spindle.glibc.node');
  });

  it('refuses ABI-specific and Electron builds, and other files', () => {
    expect(pickPrebuild(['spindle.abi115.glibc.node', 'spindle.electron.glibc.node', 'README.md'], glibc)).toBeUndefined();
  });

  it('detects the libc this Node runs on', () => {
    const libc = detectLibc();
    if (process.platform !== 'linux') return expect(libc).toBeUndefined();
    const report = process.report.getReport() as { header: { glibcVersionRuntime?: string } };
    expect(libc).toBe(report.header.glibcVersionRuntime ? 'glibc' : 'musl');
  });
});

describe('resolving the addon', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'spindle-loader-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('says where it looked when there is nothing to load', () => {
    const empty = join(scratch, 'empty');
    mkdirSync(empty);
    expect(() => resolveAddon(empty, glibc)).toThrow(
      /^no spindle\.node for linux-x64 \(glibc\): nothing in build\/Release, and no matching prebuild in prebuilds\/linux-x64; to compile one here, run `npx spindle build-addon`$/,
    );
    mkdirSync(join(empty, 'prebuilds', 'linux-x64'), { recursive: true });
    writeFileSync(join(empty, 'prebuilds', 'linux-x64', 'spindle.glibc.node'), '');
    expect(() => resolveAddon(empty, musl)).toThrow(/it holds spindle\.glibc\.node, none for musl/);
    expect(resolveAddon(empty, glibc)).toBe(join(empty, 'prebuilds', 'linux-x64', 'spindle.glibc.node'));
  });

  it('says why it chose the file it chose', () => {
    const dir = join(scratch, 'why');
    mkdirSync(join(dir, 'prebuilds', 'linux-x64'), { recursive: true });
    mkdirSync(join(dir, 'prebuilds', 'darwin-arm64'), { recursive: true });
    writeFileSync(join(dir, 'prebuilds', 'linux-x64', 'spindle.glibc.node'), '');
    writeFileSync(join(dir, 'prebuilds', 'darwin-arm64', 'spindle.node'), '');
    expect(chooseAddon(dir, glibc)).toEqual({
      path: join(dir, 'prebuilds', 'linux-x64', 'spindle.glibc.node'),
      why: 'the prebuild for linux-x64 tagged glibc, the C library this Node runs on',
    });
    expect(chooseAddon(dir, { platform: 'darwin', arch: 'arm64', libc: undefined }).why).toBe('the prebuild for darwin-arm64 (it carries no libc tag)');
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    writeFileSync(join(dir, 'build', 'Release', 'spindle.node'), '');
    expect(chooseAddon(dir, glibc)).toEqual({
      path: join(dir, 'build', 'Release', 'spindle.node'),
      why: 'compiled on this machine (build/Release), which wins over any prebuild',
    });
  });

  it('turns a too-new C or C++ runtime requirement into a sentence that says what to do', () => {
    // dlopen's messages, as glibc's loader words them.
    const path = '/app/node_modules/spindle/prebuilds/linux-x64/spindle.glibc.node';
    expect(explainLoadFailure(`/lib64/libc.so.6: version \`GLIBC_2.34' not found (required by ${path})`, path, '2.28')).toBe(
      `${path} needs GLIBC_2.34, newer than this system's glibc 2.28: compile the addon here with \`npx spindle build-addon\` (README: Installing the package)`,
    );
    expect(explainLoadFailure(`/lib64/libstdc++.so.6: version \`GLIBCXX_3.4.30' not found (required by ${path})`, path, '2.34')).toBe(
      `${path} needs GLIBCXX_3.4.30, newer than this system's C++ runtime (libstdc++): compile the addon here with \`npx spindle build-addon\` (README: Installing the package)`,
    );
    // Anything else is dlopen's first line, naming the file once.
    expect(explainLoadFailure(`${path}: invalid ELF header`, path, '2.36')).toBe(`${path}: invalid ELF header`);
    expect(explainLoadFailure('Module did not self-register\nstack', path, '2.36')).toBe(`Module did not self-register (${path})`);
  });

  it("says a prebuild left inside a Yarn Plug'n'Play zip archive must be unplugged (dlopen says only \"Not a directory\")", () => {
    // dlopen's message under yarn 4 for a package kept zipped ("dependenciesMeta": { "spindle":
    // { "unplugged": false } }): yarn's fs finds and reads the file, dlopen cannot open it.
    const path = '/app/.yarn/__virtual__/spindle-virtual-638e642c7c/4/root/.yarn/berry/cache/spindle-file-8929a6de5d-10c0.zip/node_modules/spindle/prebuilds/linux-x64/spindle.glibc.node';
    const dlopen = '/root/.yarn/berry/cache/spindle-file-8929a6de5d-10c0.zip/node_modules/spindle/prebuilds/linux-x64/spindle.glibc.node: cannot open shared object file: Not a directory';
    expect(explainLoadFailure(dlopen, path, '2.36')).toBe(
      `${path} is inside a zip archive, from which a native addon cannot load (Yarn Plug'n'Play keeps packages zipped unless they are unplugged): ` +
        'run `yarn unplug spindle`, or set "dependenciesMeta": { "spindle": { "unplugged": true } } in package.json and run `yarn install`',
    );
    // Another failure of a file under a directory named *.zip keeps dlopen's own words.
    expect(explainLoadFailure(`${path}: invalid ELF header`, path, '2.36')).toBe(`${path}: invalid ELF header`);
  });

  /** A copy of the built package whose addon is `addon` (a file's contents) or absent. */
  function packageWith(name: string, addon: string | Buffer | undefined): string {
    const dir = join(scratch, name);
    mkdirSync(dir);
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    if (addon !== undefined) {
      mkdirSync(join(dir, 'prebuilds', `${process.platform}-${process.arch}`), { recursive: true });
      const tag = detectLibc() ?? '';
      writeFileSync(join(dir, 'prebuilds', `${process.platform}-${process.arch}`, `spindle${tag ? `.${tag}` : ''}.node`), addon);
    }
    return dir;
  }

  function backendOf(dir: string): { info: { native: boolean; reason?: string; backend: string }; primes: number; backend: string } {
    const script = `
      import { Pool, kernels, backendInfo } from ${JSON.stringify(join(dir, 'dist', 'index.js'))};
      const pool = new Pool({ size: 1 });
      const primes = await pool.apply(kernels.countPrimes, [0, 1000]);
      console.log(JSON.stringify({ info: backendInfo(), primes, backend: pool.backend }));
      await pool.terminate();`;
    const env = { ...process.env };
    delete env.SPINDLE_ADDON;
    delete env.SPINDLE_BACKEND;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env, timeout: 30_000 });
    expect(out.stderr).toBe('');
    return JSON.parse(out.stdout);
  }

  it('falls back to the worker backend, saying why, when the .node file is missing', () => {
    const result = backendOf(packageWith('missing', undefined));
    expect(result).toMatchObject({ backend: 'worker', primes: 168, info: { native: false, backend: 'worker' } });
    expect(result.info.reason).toMatch(/^no spindle\.node for /);
  });

  it('falls back to the worker backend, saying why, when the .node file is corrupt', () => {
    const result = backendOf(packageWith('corrupt', 'this is not a shared object'));
    expect(result).toMatchObject({ backend: 'worker', primes: 168, info: { native: false } });
    expect(result.info.reason).toMatch(/spindle(\.\w+)?\.node/);
    expect(result.info.reason).toMatch(/invalid ELF header|file too short|not a valid|cannot open/i);
    expect(result.info.reason).not.toContain('\n');
  });

  it('falls back, saying the system is too old and what to run, when the binary needs a newer glibc', () => {
    // A real binary whose dynamic section asks for a glibc version no system has: the copy's
    // first GLIBC_2.NN version name becomes GLIBC_2.99 (same length), so dlopen refuses it the
    // way an old system refuses a binary built against a newer glibc.
    if (detectLibc() !== 'glibc') return;
    const real = readFileSync(resolveAddon(ROOT));
    const at = real.indexOf(Buffer.from(real.toString('latin1').match(/GLIBC_2\.\d\d\0/)![0], 'latin1'));
    expect(at).toBeGreaterThan(0);
    Buffer.from('GLIBC_2.99', 'latin1').copy(real, at);
    const dir = packageWith('too-new', '');
    const file = join(dir, 'prebuilds', `${process.platform}-${process.arch}`, 'spindle.glibc.node');
    writeFileSync(file, real);
    const result = backendOf(dir);
    const glibc = (process.report.getReport() as { header: { glibcVersionRuntime: string } }).header.glibcVersionRuntime;
    expect(result).toMatchObject({ backend: 'worker', primes: 168, info: { native: false } });
    expect(result.info.reason).toBe(
      `${file} needs GLIBC_2.99, newer than this system's glibc ${glibc}: compile the addon here with \`npx spindle build-addon\` (README: Installing the package)`,
    );
  });

  it('falls back, saying the file is damaged, when the .node file is cut short (dlopen mapped past its end: SIGBUS)', () => {
    const real = readFileSync(resolveAddon(ROOT));
    expect(truncatedElf(resolveAddon(ROOT))).toBeUndefined();
    expect(truncatedElf(join(ROOT, 'package.json'))).toBeUndefined(); // not ELF: the loader's to judge
    for (const length of [100, 100_000, real.length - 1]) {
      const result = backendOf(packageWith(`cut-${length}`, real.subarray(0, length)));
      expect(result).toMatchObject({ backend: 'worker', primes: 168, info: { native: false } });
      expect(result.info.reason).toMatch(new RegExp(`spindle(\\.\\w+)?\\.node is damaged: it is ${length} bytes, but its ELF headers describe at least \\d+ \\(an interrupted copy or build\\?\\); reinstall spindle, or compile the addon with \`npx spindle build-addon\``));
    }
  });

  it('falls back, saying which machine it was built for, when the .node file is another architecture\'s (dlopen says "No such file or directory")', () => {
    const real = Buffer.from(readFileSync(resolveAddon(ROOT)));
    expect(foreignElf(resolveAddon(ROOT))).toBeUndefined();
    expect(foreignElf(join(ROOT, 'package.json'))).toBeUndefined(); // not ELF: the loader's to judge
    // The same file with the header's e_machine (offset 18, little-endian) set to another
    // architecture's: an addon compiled on x64 and copied to an arm64 server, or the reverse.
    const other = process.arch === 'arm64' ? { name: 'x64', machine: 62 } : { name: 'arm64', machine: 183 };
    real.writeUInt16LE(other.machine, 18);
    const result = backendOf(packageWith('foreign', real));
    expect(result).toMatchObject({ backend: 'worker', primes: 168, info: { native: false } });
    expect(result.info.reason).toMatch(
      new RegExp(`spindle(\\.\\w+)?\\.node was built for another machine: its ELF header says ${other.name}, and this Node is ${process.arch}; reinstall spindle on this machine, or compile the addon here with \`npx spindle build-addon\`$`),
    );
  });

  it('passes over a build/Release binary of another architecture for the prebuild that fits', () => {
    const real = readFileSync(resolveAddon(ROOT));
    const foreign = Buffer.from(real);
    const other = process.arch === 'arm64' ? { name: 'x64', machine: 62 } : { name: 'arm64', machine: 183 };
    foreign.writeUInt16LE(other.machine, 18);
    const dir = packageWith('foreign-built', real);
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    writeFileSync(join(dir, 'build', 'Release', 'spindle.node'), foreign);
    const passedOver = `; build/Release/spindle.node was passed over: its ELF header says ${other.name}, and this Node is ${process.arch}`;
    expect(chooseAddon(dir).why).toMatch(new RegExp(`^the prebuild for ${process.platform}-${process.arch}.*${passedOver.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    expect(backendOf(dir)).toMatchObject({ backend: 'native', primes: 168, info: { native: true } });
    // With no prebuild either, the reason says what build/Release holds.
    rmSync(join(dir, 'prebuilds'), { recursive: true });
    expect(() => chooseAddon(dir)).toThrow(`: build/Release holds one for another machine (its ELF header says ${other.name}, and this Node is ${process.arch}), and no matching prebuild`);
  });

  /** backendInfo() in a child process whose SPINDLE_ADDON is `value`, run in `cwd`. */
  function infoWithAddon(value: string, cwd = ROOT): { native: boolean; backend: string; reason?: string } {
    const script = `import { backendInfo } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))}; console.log(JSON.stringify(backendInfo()));`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8', env: { ...process.env, SPINDLE_ADDON: value }, timeout: 30_000 });
    expect(out.stderr).toBe('');
    return JSON.parse(out.stdout);
  }

  it('SPINDLE_ADDON may be relative to the working directory, and must name a spindle .node file', () => {
    const path = resolveAddon(ROOT);
    expect(infoWithAddon(relative(scratch, path), scratch)).toMatchObject({ native: true, backend: 'native' });
    // A .js file would be run by require(): it is refused unread.
    const script = join(scratch, 'addon.js');
    writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(join(scratch, 'ran'))}, '')`);
    expect(infoWithAddon(script)).toMatchObject({ native: false, backend: 'worker', reason: `SPINDLE_ADDON names ${script}, which is not a .node file` });
    expect(existsSync(join(scratch, 'ran'))).toBe(false);
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64')('a .node file that is not spindle\'s is the reason, not a TypeError later', () => {
    const foreign = join(ROOT, 'node_modules', '@napi-rs', 'nice-linux-x64-gnu', 'nice.linux-x64-gnu.node');
    if (!existsSync(foreign)) return;
    const info = infoWithAddon(foreign);
    expect(info).toMatchObject({ native: false, backend: 'worker', reason: `${foreign} is not a spindle addon of this version (it has no kernels() export)` });
  });

  it('SPINDLE_ADDON names the binary to load, and a wrong name is the reason', () => {
    const script = `import { backendInfo } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))}; console.log(JSON.stringify(backendInfo()));`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, SPINDLE_ADDON: join(scratch, 'nowhere.node') },
    });
    expect(JSON.parse(out.stdout)).toMatchObject({ native: false, reason: expect.stringMatching(/SPINDLE_ADDON names .*nowhere\.node, which does not exist/) });
  });

  it("a native pool the addon cannot serve names what asked for native: the backend option, or SPINDLE_BACKEND behind 'auto'", () => {
    const script = `import { Pool } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};
      for (const backend of ['native', 'auto']) { try { new Pool({ backend }); console.log(backend, 'made'); } catch (e) { console.log(backend, e.message); } }`;
    const run = (extra: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, SPINDLE_ADDON: join(scratch, 'nowhere.node'), ...extra }, timeout: 30_000 }).stdout;
    const reason = `SPINDLE_ADDON names ${join(scratch, 'nowhere.node')}, which does not exist`;
    expect(run({ SPINDLE_BACKEND: 'native' }).split('\n')).toEqual([
      `native spindle's native addon did not load (${reason}): use backend 'worker' or 'auto'`,
      `auto spindle's native addon did not load (${reason}): SPINDLE_BACKEND=native asks for it: set SPINDLE_BACKEND to 'worker' or 'auto', or unset it`,
      '',
    ]);
    expect(run({ SPINDLE_BACKEND: '' }).split('\n')).toEqual([`native spindle's native addon did not load (${reason}): use backend 'worker' or 'auto'`, 'auto made', '']);
  });
});
