// `spindle sha256sum`: a drop-in for GNU coreutils sha256sum (9.1) that hashes its files in
// parallel on spindle's pool. Standard output is byte for byte coreutils'; so are messages on
// standard error, except that they start with "spindle sha256sum:" where coreutils prints its
// own name (which is argv[0], so it varies there too). Exit status: 0, or 1 on any failure or
// bad command line.
//
// How the work flows: every file is one sha256File task, opened and read on a pool thread.
// inOrder() keeps a bounded window of tasks in flight and hands results back in argument (or
// checksum-file) order, so output is ordered while files hash in parallel, and a directory of
// 100k files never holds more than the window in memory. A file that cannot be read is
// reported the way coreutils reports it, and the others are still hashed.
//
// Standard input ("-", or no FILE) is a stream: it is read on the main thread and hashed there
// as it arrives with node:crypto, which never holds more than one chunk, however long the
// input. Checksum files given to --check are read whole, then verified line by line.

import { createHash } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism, constants } from 'node:os';
import type { Readable } from 'node:stream';
import { kernels } from '../kernels/index.js';
import { Pool } from '../pool.js';
import { ProgressBar } from '../progress-bar.js';
import { SharedCounter } from '../shared/counter.js';
import { systemError } from '../system-error.js';
import { checkLine, ChecksumLineParser, digestLine, type ParsedLine } from './checksum-lines.js';
import { quotef, strerror } from './coreutils-text.js';
import { inOrder } from './ordered.js';
import { helpText, parseCommandLine, UsageError, type Sha256sumOptions } from './sha256sum-options.js';

export const PROGRAM = 'spindle sha256sum';

export interface Sha256sumIO {
  stdin: NodeJS.ReadableStream;
  /** The file descriptor behind `stdin` (0 for process.stdin), to tell a directory on stdin; undefined for other streams. */
  stdinFd: number | undefined;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Whether stderr is a terminal: the progress bar's default. */
  stderrIsTTY: boolean;
  /** Whether stdout is a terminal: then the bar is erased before output lines are written. */
  stdoutIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  /** For --version. */
  version: string;
}

/** Runs the command with `argv` (the arguments after "sha256sum"); resolves to the exit status. */
export async function sha256sum(argv: readonly string[], io: Partial<Sha256sumIO> = {}): Promise<number> {
  const full: Sha256sumIO = {
    stdin: io.stdin ?? process.stdin,
    stdinFd: io.stdin === undefined ? 0 : io.stdinFd,
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    stderrIsTTY: io.stderrIsTTY ?? process.stderr.isTTY === true,
    stdoutIsTTY: io.stdoutIsTTY ?? process.stdout.isTTY === true,
    env: io.env ?? process.env,
    version: io.version ?? 'unknown',
  };
  // A write that fails must never become an uncaught 'error' event (a stack trace): both
  // streams are watched from here on, and the run ends the coreutils way (see endOfRun).
  const stderrState = watchStderr(full.stderr);
  let parsed;
  try {
    parsed = parseCommandLine(argv, full.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    full.stderr.write(`${PROGRAM}: ${error.message}\nTry '${PROGRAM} --help' for more information.\n`);
    return 1;
  }
  if (parsed.kind === 'help' || parsed.kind === 'version') {
    const out = new Output(full.stdout, () => {});
    const text = parsed.kind === 'help' ? helpText(PROGRAM) : `${PROGRAM} (spindle) ${full.version}\nOutput compatible with GNU coreutils sha256sum 9.1.\n`;
    await out.write(Buffer.from(text));
    return endOfRun(out, full.stderr, stderrState, true);
  }
  const run = new Run(parsed.options, full);
  try {
    const ok = parsed.options.check ? await run.checkAll() : await run.digestAll();
    return await endOfRun(run.out, full.stderr, stderrState, ok);
  } finally {
    await run.finish();
  }
}

/** Keeps a failed write to stderr from crashing the run; coreutils then just exits 1. */
function watchStderr(stderr: NodeJS.WritableStream): { failed: boolean } {
  const state = { failed: false };
  stderr.on('error', () => {
    state.failed = true;
  });
  return state;
}

/**
 * The exit status once the run's work is done: everything written is flushed and its outcome
 * known first. A failed write to stdout is coreutils' close_stdout(): "sha256sum: write
 * error" and status 1, whatever else happened. A closed pipe (EPIPE, as under `| head`) is
 * silent: coreutils dies of SIGPIPE there, which Node ignores, so the status is 1.
 */
async function endOfRun(out: Output, stderr: NodeJS.WritableStream, stderrState: { failed: boolean }, ok: boolean): Promise<number> {
  await out.close();
  if (out.failure !== undefined) {
    if (out.failure.code !== 'EPIPE') stderr.write(`${PROGRAM}: write error\n`);
    return 1;
  }
  return ok && !stderrState.failed ? 0 : 1;
}

/** A file as the command sees it: its name's bytes (as given, printed as given). */
type Name = Buffer;

const STDIN_NAME = '-';
const isStdin = (name: Name): boolean => name.length === 1 && name[0] === 0x2d;

/** One run of the command: its options, streams, pool (made on first use) and progress bar. */
class Run {
  readonly out: Output;
  private readonly stdin: StdinReader;
  private poolInstance: Pool | undefined = undefined;
  private readonly progress = new SharedCounter(0);
  private bar: ProgressBar | undefined = undefined;
  /** Numbers progress phases, so that a bar whose total arrives after its phase ended never starts. */
  private phase = 0;
  /** Files hashed and not yet reported, at most: enough to keep every thread busy between deliveries. */
  private readonly window: number;
  private readonly size: number;
  private readonly parser = new ChecksumLineParser();
  /** --progress, or by default when stderr is a terminal. */
  private readonly wantsProgress: boolean;

  constructor(
    private readonly options: Sha256sumOptions,
    private readonly io: Sha256sumIO,
  ) {
    this.out = new Output(io.stdout, () => {
      if (io.stdoutIsTTY) this.bar?.clear();
    });
    this.stdin = new StdinReader(io.stdin, io.stdinFd);
    this.size = options.jobs ?? availableParallelism();
    this.window = Math.max(64, this.size * 16);
    this.wantsProgress = options.progress ?? io.stderrIsTTY;
  }

  // ---- Digest mode -----------------------------------------------------------------------

  async digestAll(): Promise<boolean> {
    const names = this.options.files.map((f) => Buffer.from(f));
    this.startProgress(names);
    const format = { binary: this.options.binary === 1, tag: this.options.tag, zero: this.options.zero };
    let ok = true;
    for await (const { item: name, outcome } of inOrder(names, this.window, (n) => this.hash(n), () => this.out.flush())) {
      if (this.out.broken) break;
      if (outcome.ok) await this.out.write(digestLine(name, outcome.value!, format));
      else {
        ok = false;
        await this.error(Buffer.concat([quotef(name), Buffer.from(`: ${strerror(outcome.error)}`)]));
      }
    }
    await this.out.flush();
    this.stopProgress();
    return ok;
  }

  // ---- Check mode ------------------------------------------------------------------------

  async checkAll(): Promise<boolean> {
    let ok = true;
    for (const file of this.options.files) {
      if (this.out.broken) break;
      if (!(await this.checkOne(file))) ok = false;
    }
    return ok;
  }

  /** digest_check(): verifies one checksum file; false on any failure. */
  private async checkOne(file: string): Promise<boolean> {
    const fromStdin = file === STDIN_NAME;
    const shownName = quotef(Buffer.from(fromStdin ? 'standard input' : file));
    let text: Buffer;
    try {
      text = fromStdin ? await this.stdin.readAll() : await readFile(file);
    } catch (error) {
      // coreutils opens with fopen and reads with getline: a failed open says why, a failed read does not.
      const opening = (error as { syscall?: string }).syscall === 'open';
      await this.error(Buffer.concat([shownName, Buffer.from(opening ? `: ${strerror(error)}` : ': read error')]));
      return false;
    }

    const lines = splitLines(text).map((line, index) => ({ number: index + 1, parsed: this.parser.parse(line, fromStdin) }));
    this.startProgress(lines.flatMap(({ parsed }) => (parsed.kind === 'entry' ? [parsed.name] : [])));
    const o = this.options;
    let malformed = 0;
    let unreadable = 0;
    let mismatched = 0;
    let properlyFormatted = false;
    let matched = false;
    const start = ({ parsed }: { parsed: ParsedLine }): Promise<string> | undefined => (parsed.kind === 'entry' ? this.hash(parsed.name) : undefined);
    for await (const { item, outcome } of inOrder(lines, this.window, start, () => this.out.flush())) {
      if (this.out.broken) return false;
      const { parsed } = item;
      if (parsed.kind === 'skip') continue;
      if (parsed.kind === 'malformed') {
        malformed++;
        if (o.warn) await this.error(Buffer.concat([shownName, Buffer.from(`: ${item.number}: improperly formatted SHA256 checksum line`)]));
        continue;
      }
      properlyFormatted = true;
      if (!outcome.ok) {
        if (o.ignoreMissing && (outcome.error as { code?: unknown }).code === 'ENOENT') continue;
        unreadable++;
        await this.error(Buffer.concat([quotef(parsed.name), Buffer.from(`: ${strerror(outcome.error)}`)]));
        if (!o.status) await this.out.write(checkLine(parsed.name, 'FAILED open or read'));
        continue;
      }
      const match = outcome.value === parsed.hex;
      if (match) matched = true;
      else mismatched++;
      if (!o.status && (!match || !o.quiet)) await this.out.write(checkLine(parsed.name, match ? 'OK' : 'FAILED'));
    }
    await this.out.flush();
    this.stopProgress();

    if (!properlyFormatted) {
      await this.error(Buffer.concat([shownName, Buffer.from(': no properly formatted checksum lines found')]));
    } else if (!o.status) {
      const plural = (n: number, one: string, many: string): string => (n === 1 ? one : many).replace('%d', String(n));
      if (malformed > 0) await this.error(plural(malformed, 'WARNING: %d line is improperly formatted', 'WARNING: %d lines are improperly formatted'));
      if (unreadable > 0) await this.error(plural(unreadable, 'WARNING: %d listed file could not be read', 'WARNING: %d listed files could not be read'));
      if (mismatched > 0) await this.error(plural(mismatched, 'WARNING: %d computed checksum did NOT match', 'WARNING: %d computed checksums did NOT match'));
      if (o.ignoreMissing && !matched) await this.error(Buffer.concat([shownName, Buffer.from(': no file was verified')]));
    }
    return properlyFormatted && matched && mismatched === 0 && unreadable === 0 && (!o.strict || malformed === 0);
  }

  // ---- Shared ----------------------------------------------------------------------------

  /** The lowercase hex digest of a file, or of the rest of standard input for "-". */
  private hash(name: Name): Promise<string> {
    if (isStdin(name)) return this.stdin.hash(this.progress);
    return this.pool().apply(kernels.sha256File, [name], this.wantsProgress ? { progress: this.progress } : undefined) as Promise<string>;
  }

  private pool(): Pool {
    this.poolInstance ??= new Pool({ size: this.size });
    return this.poolInstance;
  }

  /** "<program>: <message>" on stderr, after everything written to stdout before it. */
  private async error(message: Buffer | string): Promise<void> {
    await this.out.flush();
    this.bar?.clear();
    this.io.stderr.write(Buffer.concat([Buffer.from(`${PROGRAM}: `), typeof message === 'string' ? Buffer.from(message) : message, Buffer.from('\n')]));
  }

  /**
   * Draws a progress bar over hashing `names` when asked (--progress) or when stderr is a
   * terminal: one bar for digest mode, one per checksum file. Its total, the files' sizes, is
   * found in the background so that hashing starts at once; the bar shows only for runs that
   * last more than a moment.
   */
  private startProgress(names: Name[]): void {
    if (!this.wantsProgress) return;
    const phase = ++this.phase;
    this.progress.reset();
    void totalSize(names).then((total) => {
      if (phase !== this.phase) return; // that phase is already over
      this.bar = new ProgressBar({ stream: this.io.stderr, total, counter: this.progress, label: 'hashing' }).start();
    });
  }

  /** Ends the current phase's bar, drawn at its final state if it was showing. */
  private stopProgress(): void {
    this.phase++;
    this.bar?.stop();
    this.bar = undefined;
  }

  async finish(): Promise<void> {
    this.stopProgress();
    await this.poolInstance?.terminate();
  }
}

function isDirectory(fd: number): boolean {
  try {
    return fstatSync(fd).isDirectory();
  } catch {
    return false;
  }
}

/** The lines of a checksum file as getline() returns them, without their '\n'. */
function splitLines(text: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf(0x0a, start);
    if (end < 0) {
      lines.push(text.subarray(start));
      break;
    }
    lines.push(text.subarray(start, end));
    start = end + 1;
  }
  return lines;
}

/** The total size of the regular files among `names`, stat'ed a few dozen at a time. */
async function totalSize(names: Name[]): Promise<number> {
  let total = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++]!;
      if (isStdin(name)) continue;
      try {
        const s = await stat(name);
        if (s.isFile()) total += s.size;
      } catch {
        // reported when the file itself is hashed
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(32, names.length) }, worker));
  return total;
}

/**
 * Standard output, buffered: lines collect here and go out in large writes when the buffer
 * fills or before a wait, in order. A full buffer waits for the stream to drain, so a slow
 * reader (a pager) holds the run back instead of letting output pile up in memory. A closed pipe (EPIPE, as with `| head`)
 * marks it broken; the run then stops, silently, as coreutils stops on SIGPIPE.
 */
class Output {
  private chunks: Buffer[] = [];
  private size = 0;
  /** The first error a write to the stream met; nothing more is written after one. */
  failure: NodeJS.ErrnoException | undefined = undefined;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly beforeWrite: () => void,
  ) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      this.failure ??= error;
    });
  }

  /** True once a write failed: the run stops taking work, as coreutils stops on a write error. */
  get broken(): boolean {
    return this.failure !== undefined;
  }

  /** Queues bytes; once 64 KiB have collected, writes them and waits until the stream takes them. */
  async write(bytes: Buffer): Promise<void> {
    if (this.broken) return;
    this.chunks.push(bytes);
    this.size += bytes.length;
    if (this.size >= 1 << 16) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.chunks.length === 0 || this.broken) return;
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    this.beforeWrite();
    if (this.stream.write(data, this.noteFailure)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('error', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('error', done);
      this.stream.on('close', done);
    });
  }

  /** Flushes, then waits until every write so far has reported its outcome (callbacks run in order). */
  async close(): Promise<void> {
    await this.flush();
    if (this.broken) return;
    await new Promise<void>((resolve) => {
      this.stream.write(Buffer.alloc(0), (error?: Error | null) => {
        this.noteFailure(error);
        resolve();
      });
    });
  }

  private readonly noteFailure = (error?: Error | null): void => {
    if (error) this.failure ??= error as NodeJS.ErrnoException;
  };
}

/**
 * Standard input, which may be named several times ("-" twice, or "-" in a checksum file that
 * was itself read from stdin): the first reader gets everything up to end of file, later ones
 * get nothing, exactly as with coreutils. Reads are queued one after the other.
 */
class StdinReader {
  private ended = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly stream: NodeJS.ReadableStream,
    private readonly fd: number | undefined,
  ) {}

  /** Everything left, as one buffer (a checksum file read from stdin). */
  readAll(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    return this.serial(() => this.consume((chunk) => chunks.push(chunk))).then(() => Buffer.concat(chunks));
  }

  /** The hex digest of everything left, hashed chunk by chunk as it arrives. */
  hash(progress: SharedCounter): Promise<string> {
    const hash = createHash('sha256');
    return this.serial(() =>
      this.consume((chunk) => {
        hash.update(chunk);
        progress.add(chunk.length);
      }),
    ).then(() => hash.digest('hex'));
  }

  private serial(read: () => Promise<void>): Promise<void> {
    const turn = this.queue.then(read);
    this.queue = turn.catch(() => {});
    return turn;
  }

  private consume(onChunk: (chunk: Buffer) => void): Promise<void> {
    // Node reads a directory on stdin as empty; coreutils' read() fails with EISDIR.
    if (this.fd !== undefined && isDirectory(this.fd)) return Promise.reject(systemError(-constants.errno.EISDIR, 'read', STDIN_NAME));
    const stream = this.stream as Readable;
    if (this.ended || stream.readableEnded) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer | string): void => onChunk(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      const finish = (error?: unknown): void => {
        stream.off('data', onData);
        stream.off('end', onEnd);
        stream.off('error', finish);
        stream.pause();
        this.ended = true;
        if (error !== undefined) reject(error);
        else resolve();
      };
      const onEnd = (): void => finish();
      stream.on('data', onData);
      stream.once('end', onEnd);
      stream.once('error', finish);
      stream.resume();
    });
  }
}
