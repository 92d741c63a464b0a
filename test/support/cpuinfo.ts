// What Linux's /proc/cpuinfo says the CPU has: the words of its first `flags` line (x86) or
// `Features` line (arm64); none where there is no such line or no /proc. Tests compare the code
// paths the addon picks with it.
import { existsSync, readFileSync } from 'node:fs';

export function cpuinfoWords(line: 'flags' | 'Features'): string[] {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  return cpuinfo.match(new RegExp(`^${line}\\s*:(.*)$`, 'm'))?.[1]?.split(/\s+/) ?? [];
}
