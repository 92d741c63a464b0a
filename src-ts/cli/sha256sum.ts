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
// FIFOs and character devices (`<(cmd)`, /dev/null) are read on the main thread too: the
// pool refuses them, so that no pool thread can wait in open() for a writer (special-file.ts).
// They and "-" are read one at a time, in argument order, as coreutils reads them: one pipe
// named twice gives the first all its data and the second none.
//
// Standard input ("-", or no FILE) is a stream: it is read on the main thread and hashed there
// as it arrives with node:crypto, which never holds more than one chunk, however long the
// input. Checksum lists given to --check are streamed too: each line is checked as it is read,
// with the same window of files in flight, so a list of any length (or one still being written
// to a pipe) is verified in bounded memory and its results appear as they are known.

import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { backendInfo } from '../backends/select.js';
import { kernels } from '../kernels/index.js';
import { Pool } from '../pool.js';
import { ProgressBar } from '../progress-bar.js';
import { SharedCounter } from '../shared/counter.js';
import { checkLine, ChecksumLineParser, digestLine, type ParsedLine } from './checksum-lines.js';
import { FileChunks, type ChunkSource } from './chunk-source.js';
import { quotef, strerror } from './coreutils-text.js';
import { readLines } from './line-reader.js';
import { inOrder } from './ordered.js';
import { listedNames, totalSize } from './progress-total.js';
import { hashSpecialFile, isRefusedSpecialFile, isSpecialFile } from './special-file.js';
import { StdinReader } from './stdin.js';
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
    run.openPool();
  } catch (error) {
    // A pool that cannot be made (a bad SPINDLE_BACKEND, an addon that does not load where the
    // native backend is asked for) is the run's one error, as for `spindle primes`: it was
    // reported once per file, as if each file could not be read.
    full.stderr.write(`spindle: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
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

/** A line of a checksum list, as read. */
interface ListLine {
  number: number;
  parsed: ParsedLine;
}

/** Reading the checksum list itself failed (not a file it names): coreutils' "read error". */
class ListReadError extends Error {
  constructor(override readonly cause: unknown) {
    super('read error');
  }
}

/** One run of the command: its options, streams, pool (made before hashing starts: openPool) and progress bar. */
class Run {
  readonly out: Output;
  private readonly stdin: StdinReader;
  private poolInstance: Pool | undefined = undefined;
  /** Settles once the last name given to hash() has been placed: sent to the pool or queued on `serial`. */
  private admitted: Promise<void> = Promise.resolve();
  /** Settles once the last read of "-" or a special file queued so far is done. */
  private serial: Promise<unknown> = Promise.resolve();
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
    this.startProgress((wanted) => totalSize(names, wanted));
    const format = { binary: this.options.binary === 1, tag: this.options.tag, zero: this.options.zero };
    let ok = true;
    for await (const { item: name, outcome } of inOrder(names, this.window, (n) => this.hash(n), () => this.out.flush())) {
      if (this.out.stopped) break;
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
      if (this.out.stopped) break;
      if (!(await this.checkOne(file))) ok = false;
    }
    return ok;
  }

  /** digest_check(): verifies one checksum list; false on any failure. */
  private async checkOne(file: string): Promise<boolean> {
    const shownName = quotef(Buffer.from(file === STDIN_NAME ? 'standard input' : file));
    // A list on standard input has no second pass to size it: no progress bar for it.
    if (file === STDIN_NAME) return this.stdin.take((source) => this.checkList(source, shownName, true));
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      // coreutils opens with fopen and reads with getline: a failed open says why, a failed read does not.
      await this.error(Buffer.concat([shownName, Buffer.from(`: ${strerror(error)}`)]));
      return false;
    }
    try {
      this.startProgress((wanted) => totalSize(listedNames(file), wanted));
      return await this.checkList(new FileChunks(handle), shownName, false);
    } finally {
      await handle.close().catch(() => {});
    }
  }

  /**
   * Checks each line of a list as it is read, reports in line order, then sums up. A list
   * whose reading fails is reported as coreutils does: the lines read so far are checked,
   * then "read error", and no summary.
   */
  private async checkList(source: ChunkSource, shownName: Buffer, fromStdin: boolean): Promise<boolean> {
    const o = this.options;
    let malformed = 0;
    let unreadable = 0;
    let mismatched = 0;
    let properlyFormatted = false;
    let matched = false;
    const start = ({ parsed }: ListLine): Promise<string> | undefined => (parsed.kind === 'entry' ? this.hash(parsed.name) : undefined);
    try {
      for await (const { item, outcome } of inOrder(this.listLines(source, fromStdin), this.window, start, () => this.out.flush())) {
        if (this.out.stopped) return false;
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
    } catch (error) {
      if (!(error instanceof ListReadError)) throw error;
      this.stopProgress();
      await this.error(Buffer.concat([shownName, Buffer.from(': read error')]));
      return false;
    } finally {
      source.cancel(); // after an early stop, a read still waiting on a pipe ends now
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

  /**
   * The list's lines, numbered and parsed in order as they are read (the parser remembers the
   * format seen so far). A failure to read the list itself becomes a ListReadError.
   */
  private async *listLines(source: ChunkSource, fromStdin: boolean): AsyncGenerator<ListLine, void, undefined> {
    let number = 0;
    try {
      for await (const line of readLines(source)) {
        // A line too long to hold (see MAX_LINE) cannot be a checksum line.
        yield { number: ++number, parsed: line === null ? { kind: 'malformed' } : this.parser.parse(line, fromStdin) };
      }
    } catch (error) {
      throw new ListReadError(error);
    }
  }

  // ---- Shared ----------------------------------------------------------------------------

  /**
   * The lowercase hex digest of a file, or of the rest of standard input for "-". Regular files
   * go to the pool, in parallel. Everything else ("-", FIFOs, /dev/stdin on a pipe, character
   * devices) is read here, one after the other in argument (or list) order, each once the one
   * before it has reached its end, as coreutils reads them: a pipe named twice ("- /dev/stdin",
   * a FIFO given twice) gives the first all its data and the second none. Read at once, the two
   * readers split the data between them and both digests were wrong.
   */
  private hash(name: Name): Promise<string> {
    // Files are stat'ed in parallel but take their place in the serial queue in order: each
    // waits for the one before it to be placed (or sent to the pool) before placing itself.
    const previous = this.admitted;
    const placed = (async (): Promise<{ read: Promise<string> | undefined }> => {
      const special = isStdin(name) || (await isSpecialFile(name));
      await previous;
      // Synchronous from here to the return: placed before the next name can be.
      return { read: special ? this.readSerially(name) : undefined };
    })();
    this.admitted = placed.then(
      () => {},
      () => {},
    );
    return placed.then(({ read }) => {
      if (read !== undefined) return read;
      const hashed = this.pool().apply(kernels.sha256File, [name], this.wantsProgress ? { progress: this.progress } : undefined) as Promise<string>;
      // One that became a FIFO or device after the stat is refused by the pool and read here.
      return hashed.catch((error: unknown) => (isRefusedSpecialFile(error) ? this.readSerially(name) : Promise.reject(error)));
    });
  }

  /** Reads "-" or a special file on the main thread once every earlier such read is done. */
  private readSerially(name: Name): Promise<string> {
    const turn = this.serial.then(() => (isStdin(name) ? this.stdin.hash(this.progress) : hashSpecialFile(name, this.progress)));
    this.serial = turn.catch(() => {});
    return turn;
  }

  /**
   * Makes the pool, before any file is hashed; throws what new Pool() throws. On the worker
   * backend workers start only as files need them (minSize 0): all --jobs of them started up
   * front, so --jobs=1024 cost 5.6 GB for two files. Native threads are cheap and stay as they were.
   */
  openPool(): void {
    const worker = backendInfo().backend === 'worker';
    this.poolInstance = new Pool(worker ? { size: this.size, minSize: 0 } : { size: this.size });
  }

  private pool(): Pool {
    return this.poolInstance!;
  }

  /** "<program>: <message>" on stderr, after everything written to stdout before it. */
  private async error(message: Buffer | string): Promise<void> {
    await this.out.flush();
    this.bar?.clear();
    this.io.stderr.write(Buffer.concat([Buffer.from(`${PROGRAM}: `), typeof message === 'string' ? Buffer.from(message) : message, Buffer.from('\n')]));
  }

  /**
   * Draws a progress bar when asked (--progress) or when stderr is a terminal: one bar for
   * digest mode, one per checksum file. Its total, the files' sizes, is found in the background
   * by `total` so that hashing starts at once (`wanted` turns false once the phase is over); the
   * bar shows only for runs that last more than a moment.
   */
  private startProgress(total: (wanted: () => boolean) => Promise<number>): void {
    if (!this.wantsProgress) return;
    const phase = ++this.phase;
    this.progress.reset();
    void total(() => phase === this.phase).then((total) => {
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

/** Linux's PIPE_BUF: a write of at most this many bytes to a pipe is never split or interleaved with others'. */
const PIPE_BUF = 4096;

/**
 * The queued lines (one per chunk), joined into writes of whole lines of at most PIPE_BUF bytes
 * each (a longer line is written alone). coreutils line-buffers its output so that sha256sums
 * writing to one pipe at once (`xargs -P`, coreutils' md5sum-parallel test) never split each
 * other's lines; one 64 KiB write to a pipe whose reader lags was cut up and interleaved with
 * another writer's, mid-line.
 */
function* atomicWrites(chunks: Buffer[]): Generator<Buffer> {
  let group: Buffer[] = [];
  let size = 0;
  for (const chunk of chunks) {
    if (size > 0 && size + chunk.length > PIPE_BUF) {
      yield group.length === 1 ? group[0]! : Buffer.concat(group, size);
      group = [];
      size = 0;
    }
    group.push(chunk);
    size += chunk.length;
  }
  if (size > 0) yield group.length === 1 ? group[0]! : Buffer.concat(group, size);
}

/**
 * Standard output, buffered: lines collect here and go out when the buffer fills or before a
 * wait, in order, in writes of whole lines (atomicWrites). Each write waits until the stream
 * has taken it, so a slow
 * reader (a pager) holds the run back instead of letting output pile up in memory. A closed pipe
 * (EPIPE, as with `| head`) stops the run, silently, as coreutils stops on SIGPIPE; see stopped.
 */
class Output {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Settles once the last write handed to the stream has reported its outcome. */
  private lastWrite: Promise<void> = Promise.resolve();
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

  /**
   * True once the reader has gone (EPIPE): the run stops taking work, silently, as coreutils
   * dies of SIGPIPE. Any other failed write (ENOSPC on /dev/full) only drops the output from
   * then on: the run goes on, its errors and warnings still go to stderr, and "write error"
   * comes at the end, as coreutils' close_stdout() reports it.
   */
  get stopped(): boolean {
    return this.failure?.code === 'EPIPE';
  }

  /** Queues one line; once 64 KiB have collected, writes them and waits until the stream takes them. */
  async write(bytes: Buffer): Promise<void> {
    if (this.failure !== undefined) return;
    this.chunks.push(bytes);
    this.size += bytes.length;
    if (this.size >= 1 << 16) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.chunks.length === 0) return;
    const chunks = this.chunks;
    this.chunks = [];
    this.size = 0;
    if (this.failure !== undefined) return;
    this.beforeWrite();
    for (const data of atomicWrites(chunks)) {
      if (this.failure !== undefined) return;
      await this.writeOne(data);
    }
  }

  /**
   * One write, awaited until the stream has taken it: writes queued behind a busy pipe would go
   * out together in one writev(), which a pipe may split anywhere (see atomicWrites).
   */
  private writeOne(data: Buffer): Promise<void> {
    this.lastWrite = new Promise<void>((resolve) => {
      this.stream.write(data, (error?: Error | null) => {
        this.noteFailure(error);
        resolve();
      });
    });
    return this.lastWrite;
  }

  /**
   * Flushes, then waits until every write so far has reported its outcome (callbacks run in
   * order, so the last one's is enough). A run that wrote nothing writes nothing here either: a
   * zero-length write to /dev/full fails, and coreutils reports no write error for no output.
   */
  async close(): Promise<void> {
    await this.flush();
    await this.lastWrite;
  }

  private readonly noteFailure = (error?: Error | null): void => {
    if (error) this.failure ??= error as NodeJS.ErrnoException;
  };
}
