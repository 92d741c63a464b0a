// TypeScript task modules under the TypeScript loaders people run a parent with (issue #13):
// tsx (its CLI, `node --import tsx`, NODE_OPTIONS), ts-node's ESM loader, and Node's own type
// stripping. Each case runs test/fixtures/ts-app/main.ts in a child process: a worker pool whose
// initializer and tasks are .ts files with real TypeScript in them, imported by the workers.
//
// tsx is the case that needs spindle's help (worker-start.ts, "TypeScript loaders"): on most
// Nodes, Node 20 included, its hooks never reach a worker by themselves. ts-node's --loader and
// type stripping reach workers through the inherited options; their cases guard that.
//
// Type stripping needs Node 22.6 or later: on an older Node its case is skipped, saying so.
// SPINDLE_TEST_NODE=/path/to/node runs that case with another Node binary. Each child has 45 s,
// under vitest's 60 s per test, so a hung child fails its test with its output.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importSpecifiers, typeScriptPreload } from '../src-ts/backends/worker-start.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const APP = fileURLToPath(new URL('./fixtures/ts-app/', import.meta.url));
const TSX_CLI = `${ROOT}node_modules/tsx/dist/cli.mjs`;

/** What every case prints when the initializer and the tasks ran in the workers. */
const EXPECTED = { areas: [[90, 'initialized'], [9, 'initialized']] };
const WITH_ENUM = { ...EXPECTED, flipped: 'down' };

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node ...args` in the fixture app; NODE_OPTIONS is the case's alone. */
function run(args: string[], { node = process.execPath, nodeOptions }: { node?: string; nodeOptions?: string } = {}): Run {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.SPINDLE_BACKEND;
  if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions;
  const child = spawnSync(node, args, { cwd: APP, env, encoding: 'utf8', timeout: 45_000 });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

/** The JSON line main.ts printed; the whole output when there is none, so a failure shows why. */
function result(child: Run): unknown {
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line);
  } catch {
    return { status: child.status, stdout: child.stdout, stderr: child.stderr };
  }
}

describe('tsx', () => {
  it('its CLI (`tsx main.ts`): a .ts initializer and .ts tasks, an enum included, run in the workers', () => {
    expect(result(run([TSX_CLI, 'main.ts', '--enum']))).toEqual(WITH_ENUM);
  });

  it('`node --import tsx main.ts`', () => {
    expect(result(run(['--import', 'tsx', 'main.ts', '--enum']))).toEqual(WITH_ENUM);
  });

  it("NODE_OPTIONS='--import tsx'", () => {
    expect(result(run(['main.ts', '--enum'], { nodeOptions: '--import tsx' }))).toEqual(WITH_ENUM);
  });

  it("a pool's own execArgv that names tsx (it replaces the inherited options, tsx's included)", () => {
    expect(result(run([TSX_CLI, 'main.ts', '--enum', '--execArgv=--import,tsx']))).toEqual(WITH_ENUM);
  });
});

describe('ts-node', () => {
  it('`node --loader ts-node/esm main.ts`', () => {
    expect(result(run(['--loader', 'ts-node/esm', 'main.ts', '--enum']))).toEqual(WITH_ENUM);
  });
});

describe("Node's type stripping", () => {
  const node = process.env.SPINDLE_TEST_NODE ?? process.execPath;
  const version = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 30_000 }).stdout.trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const strips = major > 22 || (major === 22 && minor >= 6);

  // Type stripping takes no enum: the enum task is left out.
  it.runIf(strips)(`\`node --experimental-strip-types main.ts\` (Node ${version})`, () => {
    expect(result(run(['--experimental-strip-types', 'main.ts'], { node }))).toEqual(EXPECTED);
  });
  it.skipIf(strips)(`\`node --experimental-strip-types main.ts\`: skipped, Node ${version} has no type stripping (22.6 or later; SPINDLE_TEST_NODE names another node)`, () => {});
});

describe("finding tsx among a parent's options", () => {
  it('reads --import from execArgv, both spellings, and from NODE_OPTIONS', () => {
    const execArgv = ['--require', './pre.cjs', '--import', 'file:///a/loader.mjs', '--import=tsx', '--expose-gc'];
    expect(importSpecifiers(execArgv, '--max-old-space-size=64 --import tsx/esm  --import=./b.mjs')).toEqual(['file:///a/loader.mjs', 'tsx', 'tsx/esm', './b.mjs']);
    expect(importSpecifiers([], undefined)).toEqual([]);
  });

  it("gives workers a preload that registers tsx's hooks through tsx's API, and nothing for other preloads", () => {
    const api = new URL('../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url).href;
    const preload = ['--import', `data:text/javascript,${encodeURIComponent(`import { register } from ${JSON.stringify(api)}; register();`)}`];
    // As the tsx CLI passes it, as `--import tsx` does (resolved from the current directory), and in NODE_OPTIONS.
    expect(typeScriptPreload(['--import', new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href], '', APP)).toEqual(preload);
    expect(typeScriptPreload(['--import', 'tsx'], '', APP)).toEqual(preload);
    expect(typeScriptPreload([], '--import=tsx', APP)).toEqual(preload);
    expect(typeScriptPreload(['--loader', 'ts-node/esm', '--import', 'data:text/javascript,0', '--import', './elsewhere.mjs'], '', APP)).toEqual([]);
    // tsx where it cannot be found: nothing to register.
    expect(typeScriptPreload(['--import', 'tsx'], '', '/')).toEqual([]);
  });
});
