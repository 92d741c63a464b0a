// What a server runs: every built-in kernel, and the exports of the task modules it was
// started with, by the names clients send (wire.ts). Nothing else: the queue is not a way to
// run arbitrary code on a server.

import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { kernels } from '../kernels/index.js';
import type { Runnable } from '../kernels/types.js';
import { task } from '../task.js';
import { moduleFileName, taskName } from '../backends/queue/wire.js';

export type Registry = ReadonlyMap<string, Runnable>;

/**
 * The registry for `modules` (paths or file URLs). Each module is imported here once, to list
 * its function exports; the pool's workers import it again to run them. Two modules with the
 * same file name would be one name on the wire: an Error.
 */
export async function buildRegistry(modules: readonly (string | URL)[]): Promise<Registry> {
  const registry = new Map<string, Runnable>();
  for (const kernel of Object.values(kernels)) registry.set(taskName(kernel), kernel);
  const files = new Map<string, string>();
  for (const module of modules) {
    const href = module instanceof URL ? module.href : /^(file|data):/.test(module) ? module : pathToFileURL(isAbsolute(module) ? module : resolve(module)).href;
    const file = moduleFileName(href);
    const earlier = files.get(file);
    if (earlier !== undefined) throw new Error(`serve: task modules ${earlier} and ${href} share the file name ${file}, which names their tasks on the queue: rename one`);
    files.set(file, href);
    let exports: Record<string, unknown>;
    try {
      exports = (await import(href)) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`serve: cannot import task module ${href}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    let count = 0;
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value !== 'function') continue;
      const handle = task(href, name);
      registry.set(taskName(handle), handle);
      count++;
    }
    if (count === 0) throw new Error(`serve: task module ${href} exports no function`);
  }
  return registry;
}

/** The registered names, for the error a job naming anything else fails with. */
export function registeredNames(registry: Registry): string {
  return [...registry.keys()].join(', ');
}
