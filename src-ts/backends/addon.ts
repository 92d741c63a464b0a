// Loading the native addon. Never throws: if the addon cannot load (no binary for this
// platform, `node --no-addons`, a bundler that inlined spindle without its files, a corrupt file),
// `loadAddon()` says why, in one line, and the caller falls back to the worker backend.
//
// Where the binary comes from, first match wins:
//   1. $SPINDLE_ADDON, a path to a spindle.node (sanitizer builds, the cmake-js build, a bundle
//      that inlined spindle and so has no package around it);
//   2. build/Release/spindle.node, compiled on this machine (`npx spindle build-addon`, or in this
//      repository `npm install` / `npm run build:native`);
//   3. prebuilds/<platform>-<arch>/spindle[.<tags>].node from the package tarball, chosen by tag.
// The prebuild choice is ours rather than node-gyp-build's because node-gyp-build recognises musl
// only on Alpine (it checks /etc/alpine-release): on another musl distribution it would load a
// glibc binary, which fails to load or, worse, crashes later (prebuild/prebuildify#40,
// Level/leveldown#388). Here a libc-tagged prebuild loads only on that libc.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { foreignElf, truncatedElf } from './elf-check.js';
import { fileURLToPath } from 'node:url';

/** The addon's exports (src-cpp/addon/module.cpp). */
export interface Addon {
  kernels(): string[];
  /**
   * onComplete receives `count` records, [id, status, value] each, at the start of `records`:
   * a buffer the addon reuses for every delivery, valid only during the call.
   */
  start(onComplete: (records: Float64Array, count: number, extras: unknown[] | undefined) => void): void;
  /** One call, queued in `lane` (openLane); it may use as many threads as the lane's cap. */
  submit(id: number, kernel: number, lane: number, progress: BigInt64Array | undefined, ...args: unknown[]): void;
  /** `count` records of [id, kernel, lane, argc, arg0, arg1]. */
  submitPacked(records: Float64Array, count: number): void;
  submitBatch(id: number, kernel: number, lane: number, progress: BigInt64Array | undefined, calls: readonly (readonly unknown[])[]): void;
  /** O(1) whatever the job has left; false when the job was already delivered. */
  cancel(id: number): boolean;
  /**
   * A queue in the process-wide thread pool of which at most `cap` threads run jobs at once,
   * whatever other lanes (pools) exist. One per NativeBackend; closeLane() once it is unreachable.
   */
  openLane(cap: number): number;
  closeLane(lane: number): void;
  /** Threads running the lane's jobs now, the most there ever were at once, tickets waiting. */
  laneStats(lane: number): { cap: number; active: number; maxActive: number; queued: number; busyNs: number };
  reserve(threads: number): number;
  threadCount(): number;
  pending(): number;
  cpuFeatures(): string;
  /** The SHA-256 code path in use: "shani", "avx2", "armv8" or "portable". */
  sha256Path(): string;
  /** The sort code path in use: "avx2" or "baseline". */
  sortPath(): string;
  readonly napiVersion: number;
}

/** The functions loadAddon() checks a loaded file for: any other addon (or an older spindle's) is no use. */
const ADDON_FUNCTIONS = [
  'kernels', 'start', 'submit', 'submitPacked', 'submitBatch', 'cancel', 'openLane', 'closeLane', 'laneStats', 'reserve', 'threadCount',
  'pending', 'cpuFeatures', 'sha256Path', 'sortPath',
] as const satisfies readonly (keyof Addon)[];

export type AddonLoad =
  | { ok: true; addon: Addon; path: string; why: string }
  | { ok: false; reason: string };

/**
 * How a user compiles the addon where no prebuild fits (src-ts/cli/build-addon.ts). spindle has no
 * install script, so nothing compiles at install: every reason that could be cured by compiling
 * names this command.
 */
export const BUILD_ADDON_COMMAND = 'npx spindle build-addon';

/**
 * This module's file URL. In a bundle that inlined spindle it is the bundle's, and a CommonJS
 * bundle made from spindle's ES module build has none at all (bundlers leave import.meta empty
 * there): nothing here may depend on it at import time.
 */
const moduleUrl: string | undefined = import.meta.url;

let root: { dir: string } | { missing: string } | undefined;

/**
 * The directory of spindle's package.json, found by walking up from this module: the package's
 * files (dist/worker.js, the addon) are found from there. Throws, saying what to do, where
 * spindle's code runs without its package around it: a bundle that inlined it.
 */
export function packageRoot(): string {
  root ??= findPackageRoot(moduleUrl);
  if ('missing' in root) throw new Error(root.missing);
  return root.dir;
}

function findPackageRoot(url: string | undefined): { dir: string } | { missing: string } {
  const start = url?.startsWith('file:') ? fileURLToPath(url) : undefined;
  for (let dir = start === undefined ? undefined : dirname(start); dir !== undefined; ) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'spindle') return { dir };
      } catch {
        // not ours: keep walking
      }
    }
    const parent = dirname(dir);
    dir = parent === dir ? undefined : parent;
  }
  // The worker runtime and the addon are files of the package: a bundler that inlined spindle's
  // code left them behind.
  return {
    missing:
      `spindle was bundled without its files (no spindle package.json above ${start ?? 'the bundle'}): ` +
      "mark 'spindle' as external in your bundler (esbuild: --external:spindle) and install it beside the bundle",
  };
}

export type Libc = 'glibc' | 'musl';

/**
 * The C library this Node runs on (Linux only; undefined elsewhere). Node's own process report
 * names the glibc version it runs against; on musl that field is absent and the musl loader
 * shows among the shared objects.
 */
export function detectLibc(): Libc | undefined {
  return libcOfThisProcess().libc;
}

let libcSeen: { libc: Libc | undefined; glibcVersion?: string } | undefined;

/** detectLibc(), and the glibc version this process runs against when it is glibc. */
function libcOfThisProcess(): { libc: Libc | undefined; glibcVersion?: string } {
  libcSeen ??= readLibc();
  return libcSeen;
}

function readLibc(): { libc: Libc | undefined; glibcVersion?: string } {
  if (process.platform !== 'linux') return { libc: undefined };
  const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined;
  if (report !== undefined) {
    // The report would otherwise list network handles, which can mean DNS lookups.
    const excluded = report.excludeNetwork;
    report.excludeNetwork = true;
    try {
      const data = report.getReport() as { header?: { glibcVersionRuntime?: string }; sharedObjects?: string[] };
      const glibcVersion = data.header?.glibcVersionRuntime;
      if (glibcVersion) return { libc: 'glibc', glibcVersion };
      if (data.sharedObjects?.some((object) => /ld-musl|libc\.musl/.test(object))) return { libc: 'musl' };
    } catch {
      // fall through to the file system
    } finally {
      report.excludeNetwork = excluded;
    }
  }
  return { libc: existsSync('/etc/alpine-release') ? 'musl' : 'glibc' };
}

export interface Target {
  platform: string;
  arch: string;
  libc: Libc | undefined;
}

/**
 * Picks the prebuild for `target` among the file names of prebuilds/<platform>-<arch>/.
 * prebuildify names them `<name>.<tag>...node`. A file qualifies when every tag it carries fits:
 * its libc tag (if any) is this libc, its runtime is node or napi, and it carries no ABI tag
 * (spindle's prebuilds are Node-API builds, valid across Node versions). Among those, a file
 * tagged with this libc wins over an untagged one.
 */
export function pickPrebuild(files: readonly string[], target: Target): string | undefined {
  let untagged: string | undefined;
  for (const file of files) {
    if (!file.endsWith('.node')) continue;
    const tags = file.slice(0, -'.node'.length).split('.').slice(1);
    let libcTag: string | undefined;
    let fits = true;
    for (const tag of tags) {
      if (tag === 'glibc' || tag === 'musl') libcTag = tag;
      else if (tag === 'node' || tag === 'napi') continue;
      else if (/^(abi\d+|electron|uv\d+|armv\d+)$/.test(tag)) fits = false;
    }
    if (!fits) continue;
    if (libcTag === undefined) untagged ??= file;
    else if (target.platform === 'linux' && libcTag === target.libc) return file;
  }
  // An untagged binary on Linux could be for either libc: only trust it on glibc, the default build.
  return target.platform === 'linux' && target.libc === 'musl' ? undefined : untagged;
}

/** The addon file chosen, and why that one (for `spindle info` and backendInfo().why). */
export interface AddonChoice {
  path: string;
  why: string;
}

/**
 * The addon file to load, or an Error saying where it looked. `root` is spindle's package
 * directory, or the function that finds it: then it is looked for only when SPINDLE_ADDON names
 * no file, so that SPINDLE_ADDON still loads the addon where the package is not around (a bundle).
 * `target` defaults to this process; its libc is detected (a few ms) only if a prebuild has to
 * be chosen.
 */
export function chooseAddon(root: string | (() => string), given?: Target): AddonChoice {
  const override = process.env.SPINDLE_ADDON;
  if (override !== undefined && override !== '') {
    // Relative to the working directory, as the shell that set it meant; and only a .node
    // file: require() would run a .js or parse a .json one.
    const path = resolve(override);
    if (!existsSync(path)) throw new Error(`SPINDLE_ADDON names ${override}, which does not exist`);
    if (!path.endsWith('.node')) throw new Error(`SPINDLE_ADDON names ${override}, which is not a .node file`);
    return { path, why: 'SPINDLE_ADDON names it' };
  }
  if (typeof root === 'function') root = root();
  const built = join(root, 'build', 'Release', 'spindle.node');
  // A build/Release binary for another architecture (node_modules compiled on x64 and copied to
  // an arm64 server, or the reverse) cannot load: the prebuild for this machine is taken instead.
  const foreignBuilt = existsSync(built) ? (foreignElf(built, given?.arch) ?? null) : undefined;
  if (foreignBuilt === null) return { path: built, why: 'compiled on this machine (build/Release), which wins over any prebuild' };
  const skipped = foreignBuilt !== undefined ? `; build/Release/spindle.node was passed over: ${foreignBuilt}` : '';
  const target = given ?? { platform: process.platform, arch: process.arch, libc: detectLibc() };
  const platform = `${target.platform}-${target.arch}`;
  const dir = join(root, 'prebuilds', platform);
  const files = existsSync(dir) ? readdirSync(dir) : [];
  const chosen = pickPrebuild(files, target);
  if (chosen !== undefined) {
    const tagged = /\.(glibc|musl)\./.test(chosen);
    const why = tagged
      ? `the prebuild for ${platform} tagged ${target.libc}, the C library this Node runs on`
      : `the prebuild for ${platform} (it carries no libc tag)`;
    return { path: join(dir, chosen), why: why + skipped };
  }
  const what = `${platform}${target.libc !== undefined ? ` (${target.libc})` : ''}`;
  const found = files.length > 0 ? ` (it holds ${files.join(', ')}, none for ${target.libc ?? target.platform})` : '';
  throw new Error(
    `no spindle.node for ${what}: ${foreignBuilt !== undefined ? `build/Release holds one for another machine (${foreignBuilt})` : 'nothing in build/Release'}, and no matching prebuild in prebuilds/${platform}${found}; ` +
      `to compile one here, run \`${BUILD_ADDON_COMMAND}\``,
  );
}

/** chooseAddon()'s path. */
export function resolveAddon(root: string | (() => string), given?: Target): string {
  return chooseAddon(root, given).path;
}

/**
 * One line for a binary that was found but did not load. dlopen's own message for a binary built
 * against a newer C or C++ runtime than this system has ("version `GLIBC_2.34' not found
 * (required by ...)") is turned into a sentence saying so and what to do; any other message is kept,
 * with the file named when dlopen did not name it. `glibcVersion` is this system's glibc.
 */
export function explainLoadFailure(message: string, path: string, glibcVersion: string | undefined): string {
  const firstLine = message.split('\n')[0]!;
  const needed = /version [`']((GLIBC|GLIBCXX|CXXABI)_[\d.]+)' not found/.exec(firstLine);
  if (needed !== null) {
    const runtime = needed[2] === 'GLIBC' ? `glibc ${glibcVersion ?? '(version unknown)'}` : 'C++ runtime (libstdc++)';
    return (
      `${path} needs ${needed[1]}, newer than this system's ${runtime}: ` +
      `compile the addon here with \`${BUILD_ADDON_COMMAND}\` (README: Installing the package)`
    );
  }
  // Yarn Plug'n'Play keeps packages in zip archives, which its patched fs reads (so the file is
  // found and checked) but dlopen cannot: it sees a regular file where the path needs a
  // directory, and says only "Not a directory". The cure is yarn's, so say it.
  if (/\.zip[\\/]/i.test(path) && /Not a directory/i.test(firstLine)) {
    return (
      `${path} is inside a zip archive, from which a native addon cannot load (Yarn Plug'n'Play keeps packages zipped unless they are unplugged): ` +
      'run `yarn unplug spindle`, or set "dependenciesMeta": { "spindle": { "unplugged": true } } in package.json and run `yarn install`'
    );
  }
  // dlopen's message often names the file already; say which file when it does not.
  return firstLine.includes(path) ? firstLine : `${firstLine} (${path})`;
}

let cached: AddonLoad | undefined;

export function loadAddon(): AddonLoad {
  if (cached) return cached;
  let choice: AddonChoice | undefined;
  try {
    choice = chooseAddon(packageRoot);
    const { path, why } = choice;
    const truncated = truncatedElf(path);
    if (truncated !== undefined) throw new Error(`${path} is damaged: ${truncated}; reinstall spindle, or compile the addon with \`${BUILD_ADDON_COMMAND}\``);
    const foreign = foreignElf(path);
    if (foreign !== undefined) throw new Error(`${path} was built for another machine: ${foreign}; reinstall spindle on this machine, or compile the addon here with \`${BUILD_ADDON_COMMAND}\``);
    // A require of its own, for the absolute path: this module may have no URL to make one from.
    const addon = createRequire(path)(path) as Addon;
    const missing = ADDON_FUNCTIONS.find((name) => typeof (addon as unknown as Record<string, unknown> | null)?.[name] !== 'function');
    if (missing !== undefined) throw new Error(`${path} is not a spindle addon of this version (it has no ${missing}() export)`);
    cached = { ok: true, addon, path, why };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    cached = {
      ok: false,
      reason: choice === undefined ? message.split('\n')[0]! : explainLoadFailure(message, choice.path, libcOfThisProcess().glibcVersion),
    };
  }
  return cached;
}
