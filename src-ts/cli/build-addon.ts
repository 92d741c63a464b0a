// `spindle build-addon`: compiles the native addon from the sources in the installed package, for
// platforms that no prebuild fits (darwin, win32, musl, an old glibc).
//
// spindle has no install script (README, "Installing the package"): npm's --strict-allow-scripts,
// pnpm 10 and yarn 4 block or refuse packages that have one, and a prebuild needs none because the
// loader picks it at run time. Compiling is therefore a command the user runs once, after install;
// it writes build/Release/spindle.node inside the package, which the loader prefers to any
// prebuild (backends/addon.ts).
//
// node-gyp does the build. It is not a dependency of spindle (it is large, and most installs never
// compile): the one bundled with npm is used, or one installed beside spindle, or one on PATH.
// node-addon-api, which binding.gyp includes, is a dependency for this reason.
//
// The tarball carries binding.gyp as dist/binding.gyp, not at its root: pnpm and yarn treat a
// root binding.gyp as an install script (an implied `node-gyp rebuild`, whatever "gypfile" says),
// so pnpm 10 would list spindle under "Ignored build scripts" and yarn under "lists build scripts".
// The file is put back at the root here, where node-gyp looks for it and its paths are relative to.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { packageRoot } from '../backends/addon.js';
import { writeStdout } from './stdout.js';

/** node-gyp's entry script: beside spindle, bundled with the npm that runs us, or next to this node. */
export function findNodeGyp(root: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates: string[] = [];
  try {
    candidates.push(createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed beside spindle
  }
  // npm sets npm_config_node_gyp (its bundled copy) for the scripts and `npx` commands it runs.
  if (env.npm_config_node_gyp) candidates.push(env.npm_config_node_gyp);
  if (env.npm_execpath) candidates.push(join(dirname(env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  // Node's own layout: <prefix>/bin/node and <prefix>/lib/node_modules/npm.
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  // On PATH, only a link to node-gyp's script will do: it is run with this node, not a shell.
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const onPath = dir ? join(dir, 'node-gyp') : '';
    if (onPath && existsSync(onPath) && realpathSync(onPath).endsWith('.js')) candidates.push(realpathSync(onPath));
  }
  return candidates.find((file) => existsSync(file));
}

/**
 * Node's headers for node-gyp. A Node installed from its tarball carries them in <prefix>/include/node:
 * using those avoids a download from nodejs.org (and works offline). npm's own nodedir setting wins.
 */
function nodedir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.npm_config_nodedir) return undefined;
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? prefix : undefined;
}

const USAGE = `Usage: spindle build-addon

Compiles spindle's native addon from the sources in its package (node-gyp: a C++20 compiler,
make and python3), into build/Release/spindle.node, which spindle then loads instead of any
prebuild. Run it where no prebuild fits; \`spindle info\` says whether one did.`;

export function buildAddon(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    writeStdout(USAGE + '\n');
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`spindle build-addon: unexpected argument '${argv[0]}'\n${USAGE}\n`);
    return 2;
  }
  const root = packageRoot();
  // Yarn Plug'n'Play (process.versions.pnp) may keep spindle in a zip archive, which its fs reads
  // but nothing can write into or compile in: the copy below would fail with a bare EROFS naming
  // paths inside the archive. Unplugged, spindle is a plain directory (and its prebuild may fit).
  if (process.versions.pnp !== undefined && /\.zip[\\/]/i.test(root)) {
    process.stderr.write(
      `spindle build-addon: spindle is inside a zip archive (${root}), where nothing can be compiled or loaded: ` +
        'run `yarn unplug spindle` first, then `spindle info` (its prebuild may fit)\n',
    );
    return 1;
  }
  const gyp = join(root, 'binding.gyp');
  if (!existsSync(gyp)) {
    const shipped = join(root, 'dist', 'binding.gyp');
    if (!existsSync(shipped)) {
      process.stderr.write(`spindle build-addon: neither ${gyp} nor ${shipped} exists: this copy of spindle cannot be compiled\n`);
      return 1;
    }
    copyFileSync(shipped, gyp);
  }
  const nodeGyp = findNodeGyp(root);
  if (nodeGyp === undefined) {
    process.stderr.write('spindle build-addon: node-gyp was not found (npm bundles it; or `npm install -g node-gyp`)\n');
    return 1;
  }
  const headers = nodedir(process.env);
  const args = [nodeGyp, 'rebuild', ...(headers !== undefined ? [`--nodedir=${headers}`] : [])];
  process.stderr.write(`spindle build-addon: node ${args.join(' ')} (in ${root})\n`);
  const build = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) {
    process.stderr.write(
      `spindle build-addon: node-gyp failed (${build.error?.message ?? `exit status ${build.status ?? build.signal}`}); ` +
        'it needs a C++20 compiler (g++ 10+ or clang 12+), make and python3. Until it builds, spindle runs on its worker backend.\n',
    );
    return 1;
  }
  // Load it in a fresh process, as spindle will: a binary that built but cannot load is a failure.
  const built = join(root, 'build', 'Release', 'spindle.node');
  const check = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(built)}); console.log(a.kernels().join(', '))`], {
    encoding: 'utf8',
  });
  if (check.status !== 0) {
    process.stderr.write(`spindle build-addon: built ${built}, but it does not load: ${check.stderr.trim().split('\n')[0]}\n`);
    return 1;
  }
  writeStdout(`built ${built} (kernels: ${check.stdout.trim()}); spindle loads it from now on\n`);
  return 0;
}
