// Errors of failed system calls, shaped exactly as Node's own fs functions throw them, so that a
// kernel that reads files (sha256File) fails the same way on both backends and the same way
// fs.readFile would:
//   Error: ENOENT: no such file or directory, open '/x'   { errno: -2, code: 'ENOENT', syscall: 'open', path: '/x' }
// The message text is libuv's (util.getSystemErrorMap()), as Node's is, not the C library's.

import { getSystemErrorMap, getSystemErrorName } from 'node:util';

export interface SystemError extends Error {
  /** Negative, as Node reports it: -2 for ENOENT. */
  errno: number;
  code: string;
  syscall: string;
  path: string;
}

let messages: Map<number, [string, string]> | undefined;

/** `errno` is negative, as in Node's errors (the C value negated). */
export function systemError(errno: number, syscall: string, path: string): SystemError {
  messages ??= getSystemErrorMap();
  const known = messages.get(errno);
  const code = known?.[0] ?? safeErrorName(errno);
  const description = known?.[1] ?? 'unknown error';
  const error = new Error(`${code}: ${description}, ${syscall} '${path}'`) as SystemError;
  // The property order of Node's fs errors: errno, code, syscall, path.
  error.errno = errno;
  error.code = code;
  error.syscall = syscall;
  error.path = path;
  return error;
}

function safeErrorName(errno: number): string {
  try {
    return getSystemErrorName(errno);
  } catch {
    return `Unknown system error ${errno}`;
  }
}
