// `spindle info`: which backend this process runs and why; for the native one, which binary was
// loaded and why that one; for the worker fallback, why the addon did not load (a reason that
// names `npx spindle build-addon` where compiling would help).

import { availableParallelism } from 'node:os';
import { backendInfo } from '../backends/select.js';
import { writeStdout } from './stdout.js';

export function info(): number {
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
