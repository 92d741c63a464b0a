// A private redis-server for one test file: a free loopback port, its own directory (with
// appendonly, so a restart keeps what it had accepted), stopped by the test's afterAll.
//
// Without redis-server the queue suite skips locally with a visible reason, and fails under
// CI=true: it must never skip silently where it is supposed to run.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why the queue tests cannot run here (redis-server is not on PATH), or undefined when they can. */
export function redisMissing(): string | undefined {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  return found ? undefined : 'redis-server is not installed (apt-get install redis-server; .ci/run does)';
}

/** True when redis-server is on PATH. Under CI=true its absence throws instead. */
export function redisAvailable(): boolean {
  const missing = redisMissing();
  if (missing !== undefined && process.env.CI === 'true') throw new Error(`the queue tests must run in CI: ${missing}`);
  if (missing !== undefined) console.warn(`queue tests skipped: ${missing}`);
  return missing === undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly #args: readonly string[];
  #child: ChildProcess | undefined;

  private constructor(port: number, dir: string, args: readonly string[]) {
    this.port = port;
    this.dir = dir;
    this.#args = args;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** `args`: more redis-server options ('--rename-command', 'SELECT', '""'). */
  static async start(args: readonly string[] = []): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'spindle-redis-')), args);
    await server.#spawn();
    return server;
  }

  async #spawn(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction', ...this.#args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`)));
    });
  }

  /** Stops it (SIGKILL when `hard`) and starts it again on the same port and data. */
  async restart(hard = false): Promise<void> {
    await this.stop(hard);
    await this.#spawn();
  }

  /** Stops it answering (SIGSTOP) while its connections stay open: a Redis that hangs rather than dies. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  /** Lets a paused Redis answer again (SIGCONT). */
  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  async stop(hard = false): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  }

  async close(): Promise<void> {
    await this.stop(true);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
