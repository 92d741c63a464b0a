// `spindle serve` child processes for the queue tests, run from dist/ as users run it.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const QUEUE_TASKS = fileURLToPath(new URL('../fixtures/queue-tasks.mjs', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** SIGKILL, and wait for its exit. */
  kill(): Promise<void>;
  /** SIGTERM (graceful), resolving with its exit code. */
  stop(): Promise<number | null>;
}

/** Starts `spindle serve` and resolves once it says it serves (rejects with its output if it exits first). */
export async function startServer(args: string[]): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (stderr.includes('serving queue')) {
        clearInterval(check);
        resolve();
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(check);
      reject(new Error(`spindle serve exited (${code}) before serving:\n${stderr}`));
    });
  });
  return {
    child,
    stderr: () => stderr,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs `spindle serve` expecting it to exit by itself: its exit code and stderr. */
export async function runServer(args: string[], limitMs: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stderr };
}
