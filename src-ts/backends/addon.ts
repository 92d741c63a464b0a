// Loading the native addon. Never throws: if the addon cannot load (no binary for this
// platform, `node --no-addons`, a bundler that dropped the .node file), `loadAddon()` says why
// and the caller decides what to do.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's exports (src-cpp/addon/module.cpp). */
export interface Addon {
  kernels(): string[];
  start(onComplete: (records: Float64Array, extras: unknown[] | undefined) => void): void;
  submit(id: number, kernel: number, parallelism: number, progress: BigInt64Array | undefined, ...args: unknown[]): void;
  submitPacked(records: Float64Array, count: number): void;
  submitBatch(id: number, kernel: number, parallelism: number, progress: BigInt64Array | undefined, calls: unknown[][]): void;
  cancel(id: number): boolean;
  reserve(threads: number): number;
  threadCount(): number;
  pending(): number;
  cpuFeatures(): string;
  readonly napiVersion: number;
}

export type AddonLoad =
  | { ok: true; addon: Addon; path: string }
  | { ok: false; reason: string };

const require = createRequire(import.meta.url);

/** The directory of spindle's package.json, found by walking up from this module. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'spindle') return dir;
      } catch {
        // not ours: keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find spindle's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

let cached: AddonLoad | undefined;

export function loadAddon(): AddonLoad {
  if (cached) return cached;
  try {
    const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    const path = nodeGypBuild.resolve(packageRoot());
    cached = { ok: true, addon: require(path) as Addon, path };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    cached = { ok: false, reason: message.split('\n')[0]! };
  }
  return cached;
}
