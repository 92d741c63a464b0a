// Preloaded (NODE_OPTIONS=--require) by .ci/arm64.sh into vitest's main process, which runs on
// this machine's own Node, and through the environment into every Node it starts. Each spawn of
// process.execPath (vitest forking a test file, a test's spawnSync of node) becomes qemu-user
// running the arm64 Node SPINDLE_QEMU_NODE with the same arguments, sysroot and CPU model
// (QEMU_CPU is inherited). So the tests run on arm64 while vitest's own machinery (its esbuild
// and rollup binaries, its RPC with the workers) runs natively and fast. Spawning through qemu
// explicitly is needed anyway: qemu-user emulates one process, and the x86 kernel cannot
// execute an arm64 child without a binfmt_misc registration, which a CI machine should not be
// changed for.
'use strict';
const childProcess = require('node:child_process');
const { syncBuiltinESMExports } = require('node:module');

const qemu = process.env.SPINDLE_QEMU;
const sysroot = process.env.SPINDLE_QEMU_SYSROOT;
const arm64Node = process.env.SPINDLE_QEMU_NODE;
if (!qemu || !sysroot || !arm64Node) throw new Error('arm64-qemu-shim: SPINDLE_QEMU, SPINDLE_QEMU_SYSROOT and SPINDLE_QEMU_NODE must be set');
const prefix = [qemu, '-L', sysroot, arm64Node];

// The async spawns (spawn, fork, execFile, exec) all reach ChildProcess.prototype.spawn with
// the file and the full argv, argv[0] included.
const spawn = childProcess.ChildProcess.prototype.spawn;
childProcess.ChildProcess.prototype.spawn = function (options) {
  if (options && options.file === process.execPath) {
    options.args = [...prefix, ...options.args.slice(1)];
    options.file = qemu;
  }
  return spawn.call(this, options);
};

// The synchronous ones call an internal binding; wrap the exported functions instead.
for (const name of ['spawnSync', 'execFileSync']) {
  const original = childProcess[name];
  childProcess[name] = function (file, ...rest) {
    if (file !== process.execPath) return original.call(this, file, ...rest);
    const args = Array.isArray(rest[0]) ? rest.shift() : [];
    return original.call(this, qemu, [...prefix.slice(1), ...args], ...rest);
  };
}
syncBuiltinESMExports();
