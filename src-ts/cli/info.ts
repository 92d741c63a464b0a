// `spindle info`: which backend this process runs and why; for the native one, which binary was
// loaded and why that one; for the worker fallback, why the addon did not load (a reason that
// names `npx spindle build-addon` where compiling would help).

import { availableParallelism } from 'node:os';
import { backendInfo } from '../backends/select.js';
import { writeStdout } from './stdout.js';

const USAGE = `Usage: spindle info
Prints the backend this process runs and why; for the native one, which addon binary was loaded
and why, the threads, the CPU features and the kernels' paths; else why the addon did not load.`;

export function info(argv: readonly string[] = []): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    writeStdout(USAGE + '\n');
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`spindle info: ${/^-./.test(argv[0]!) ? 'unknown option' : 'unexpected argument'} '${argv[0]}'\n${USAGE}\n`);
    return 2;
  }
  const b = backendInfo();
  const lines = [`backend       ${b.backend}${b.override !== undefined ? ' (SPINDLE_BACKEND)' : ''}`];
  if (b.overrideError !== undefined) lines.push(`warning       ${b.overrideError}: every Pool on backend 'auto' throws this`);
  if (b.native) lines.push(`addon         ${b.path}`, `chosen        ${b.why}`);
  else lines.push(`addon         not loaded: ${b.reason}`);
  lines.push(`threads       ${availableParallelism()} available${b.native ? `, ${b.threads} native started` : ''}`);
  if (b.native) lines.push(`cpu features  ${b.cpuFeatures}`, `sha256 path   ${b.sha256Path}`, `sort path     ${b.sortPath}`, `node-api      ${b.napiVersion}`);
  lines.push(`node          ${process.version} (${process.platform}-${process.arch})`);
  writeStdout(lines.join('\n') + '\n');
  return 0;
}
