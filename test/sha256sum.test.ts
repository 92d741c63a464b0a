// `spindle sha256sum` against GNU coreutils sha256sum, run side by side as users run them (the
// built bin in a child process) on generated files: standard output and exit status must be
// byte for byte the same, and standard error too once the one intended difference is
// normalized: messages start with "spindle sha256sum:" where coreutils prints "sha256sum:"
// (likewise in "Try '... --help'"). coreutils runs in a UTF-8 locale, whose quoting of odd file
// names in messages spindle reproduces. The implementation targets coreutils 9.1; cases where
// later versions changed their output run only against 9.1.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

const coreutils = spawnSync('sha256sum', ['--version'], { encoding: 'utf8' });
const coreutilsVersion = coreutils.status === 0 ? /(\d+\.\d+)/.exec(coreutils.stdout)?.[1] : undefined;
const is91 = coreutilsVersion === '9.1';

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

let dir: string;

/** `stdinFd`: a file descriptor to give the command as its standard input instead of `input`. */
function run(command: string, args: string[], options: { input?: string | Buffer; stdinFd?: number; env?: NodeJS.ProcessEnv } = {}): Run {
  const result: SpawnSyncReturns<Buffer> = spawnSync(command, args, {
    cwd: dir,
    ...(options.stdinFd === undefined ? { input: options.input ?? '' } : { stdio: [options.stdinFd, 'pipe', 'pipe'] }),
    env: { ...process.env, LC_ALL: 'C.UTF-8', ...options.env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr.toString('latin1') };
}

const ours = (args: string[], options?: Parameters<typeof run>[2]): Run => run(process.execPath, [bin, 'sha256sum', ...args], options);
const theirs = (args: string[], options?: Parameters<typeof run>[2]): Run => run('sha256sum', args, options);

/** What coreutils prints for these arguments: checksum files for --check. */
const sumsOf = (args: string[]): Buffer => theirs(args).stdout;

/** The program name is the one intended difference in messages. */
const normalize = (stderr: string): string => stderr.replaceAll('spindle sha256sum', 'sha256sum');

/** Runs both with the same arguments and input; expects identical output, messages and status. */
function same(args: string[], options?: Parameters<typeof run>[2]): Run {
  const expected = theirs(args, options);
  const actual = ours(args, options);
  expect({ stdout: actual.stdout.toString('latin1'), stderr: normalize(actual.stderr), status: actual.status }).toEqual({
    stdout: expected.stdout.toString('latin1'),
    stderr: expected.stderr,
    status: expected.status,
  });
  return actual;
}

// File names that coreutils escapes in checksum lines, quotes in messages, or both.
const NAMES = {
  empty: 'empty',
  one: 'one-byte',
  big: 'multi-MB.bin',
  space: 'with space',
  backslash: 'back\\slash',
  newline: 'new\nline',
  carriageReturn: 'carriage\rreturn',
  quote: "it's",
  colon: 'a:b',
  unicode: 'é-ü-ß',
  dash: '-dash',
};
const ALL = Object.values(NAMES).filter((n) => n !== NAMES.dash);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'spindle-sha256sum-'));
  writeFileSync(join(dir, NAMES.empty), '');
  writeFileSync(join(dir, NAMES.one), 'x');
  writeFileSync(join(dir, NAMES.big), randomBytes(5 * 1024 * 1024 + 17));
  for (const name of [NAMES.space, NAMES.backslash, NAMES.newline, NAMES.carriageReturn, NAMES.quote, NAMES.colon, NAMES.unicode, NAMES.dash]) {
    writeFileSync(join(dir, name), `contents of ${name}\n`);
  }
  mkdirSync(join(dir, 'subdir'));
  mkdirSync(join(dir, 'many'));
  for (let i = 0; i < 300; i++) writeFileSync(join(dir, 'many', `f${String(i).padStart(3, '0')}`), randomBytes(i * 37));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(coreutilsVersion === undefined)('spindle sha256sum against coreutils sha256sum', () => {
  describe('digest mode', () => {
    it('hashes files of every size and awkward name, in argument order, escaping names as coreutils does', () => {
      const out = same(ALL);
      expect(out.stdout.toString().split('\n').length).toBeGreaterThan(ALL.length);
    });

    it('-b marks binary mode with *, --tag writes BSD lines, -z ends lines with NUL and escapes nothing', () => {
      same(['-b', ...ALL]);
      same(['--tag', ...ALL]);
      same(['-z', ...ALL]);
      same(['--tag', '-z', ...ALL]);
      same(['--binary', '--zero', NAMES.one, NAMES.newline]);
      same(['-t', NAMES.one]);
    });

    it('hundreds of files keep argument order while hashed in parallel', () => {
      const files = Array.from({ length: 300 }, (_, i) => `many/f${String(299 - i).padStart(3, '0')}`);
      same(files);
      // --jobs is spindle's own; the output does not depend on it.
      expect(ours(['--jobs=1', ...files]).stdout).toEqual(ours(files).stdout);
      expect(ours(['--jobs', '3', ...files]).stdout).toEqual(theirs(files).stdout);
    });

    it('reads standard input for "-" and when no file is given; a second "-" gets nothing more', () => {
      const input = randomBytes(3 * 1024 * 1024 + 5);
      same([], { input });
      same(['-'], { input });
      same([NAMES.one, '-', NAMES.empty, '-'], { input });
      same(['--tag', '-'], { input: '' });
      same(['--', NAMES.dash, '-'], { input: 'after the dash\n' });
    });

    it('a directory as standard input fails as reading it does', () => {
      const fd = openSync(join(dir, 'subdir'), 'r');
      try {
        same(['-', NAMES.one, '-'], { stdinFd: fd });
        same(['-c'], { stdinFd: fd });
      } finally {
        closeSync(fd);
      }
    });

    it('reports missing and unreadable files the coreutils way, hashes the rest, exits 1', () => {
      same([NAMES.one, 'missing', 'subdir', NAMES.empty, 'missing too', 'subdir/nope', `${NAMES.one}/x`]);
    });

    it('quotes odd names in messages as coreutils does in a UTF-8 locale', () => {
      const odd = ['', 'sp ace', "q'uote", 'nl\nx', 'a:b', '~home', 'x~', 'x#y', '#x', 'a=b', 'a$b', 'é', 'at@x', 'tab\tx', 'bell\x07', 'ctl\x01x', 'del\x7f',
        '{', '{}', 'a{b', 'x?', 'st*r', 'semi;', "it's a:b", '"dq"', 'back\\slash', 'pipe|x', 'amp&', '[br]', 'paren(x)', 'caret^', 'bang!', 'back`tick', '\u00a0nbsp', '\u200bzwsp'];
      same(odd.map((name) => `missing/${name}`));
      same(odd);
    });

    it.runIf(is91)("quotes names with a quote and a character single quotes cannot hold as 9.1's gnulib does", () => {
      // Its quoting of these opens with an extra '' (a gnulib bug, fixed after 9.1).
      const odd = ["it's\n", "'\t", "x'y\x01", "\n'", "a'b\nc", "q'\n'", "\t'\t"];
      same(odd.map((name) => `missing/${name}`));
      same(odd);
    });
  });

  describe('--check', () => {
    it('verifies a checksum file written by coreutils: OK lines, --quiet, --status', () => {
      writeFileSync(join(dir, 'good.sum'), sumsOf(ALL));
      writeFileSync(join(dir, 'good-tagged.sum'), sumsOf(['--tag', ...ALL]));
      writeFileSync(join(dir, 'good-binary.sum'), sumsOf(['-b', ...ALL]));
      for (const sums of ['good.sum', 'good-tagged.sum', 'good-binary.sum']) {
        same(['-c', sums]);
        same(['--check', '--quiet', sums]);
        same(['--check', '--status', sums]);
        same(['-c', '--strict', sums]);
      }
    });

    it('a NUL next to a digest reads as coreutils reads it, in each line format', () => {
      // coreutils wants a blank right after the 64th digit (a NUL there made spindle take the
      // name after it), and reads a tagged line's digest as a C string (a NUL after it made
      // spindle refuse the line).
      const digest = theirs([NAMES.one]).stdout.toString('latin1').slice(0, 64);
      const lines: Record<string, string> = { std: `${digest}  ${NAMES.one}`, rev: `${digest} ${NAMES.one}`, tag: `SHA256 (${NAMES.one}) = ${digest}` };
      for (const line of Object.values(lines)) {
        // Around the digest's ends and the line's (every position matched in a one-off sweep).
        const L = line.length;
        for (const at of new Set([0, 1, 63, 64, 65, 66, L - 65, L - 64, L - 1, L])) {
          writeFileSync(join(dir, 'nul.sum'), `${line.slice(0, at)}\0${line.slice(at)}\n`);
          same(['-c', '-w', 'nul.sum']);
        }
      }
    });

    it('reports corrupted files as FAILED with the summary warning, exit 1', () => {
      writeFileSync(join(dir, 'victim-1'), 'original');
      writeFileSync(join(dir, 'victim-2'), 'original');
      writeFileSync(join(dir, 'before.sum'), sumsOf([NAMES.one, 'victim-1', 'victim-2', NAMES.big]));
      writeFileSync(join(dir, 'victim-1'), 'corrupted');
      same(['-c', 'before.sum']);
      same(['-c', '--quiet', 'before.sum']);
      same(['-c', '--status', 'before.sum']);
      writeFileSync(join(dir, 'victim-2'), 'corrupted too');
      same(['-c', 'before.sum']);
    });

    it('reports listed files that are missing or unreadable; --ignore-missing skips missing ones', () => {
      writeFileSync(join(dir, 'doomed'), 'here today');
      writeFileSync(join(dir, 'partial.sum'), Buffer.concat([sumsOf([NAMES.one, 'doomed']), Buffer.from(`${'0'.repeat(64)}  subdir\n`)]));
      rmSync(join(dir, 'doomed'));
      same(['-c', 'partial.sum']);
      same(['-c', '--ignore-missing', 'partial.sum']);
      same(['-c', '--status', 'partial.sum']);
      writeFileSync(join(dir, 'all-missing.sum'), `${'a'.repeat(64)}  gone-1\n${'b'.repeat(64)}  gone-2\n`);
      same(['-c', '--ignore-missing', 'all-missing.sum']);
      same(['-c', 'all-missing.sum']);
    });

    it('counts improperly formatted lines; -w names them; --strict fails on them', () => {
      const good = sumsOf([NAMES.one, NAMES.space]).toString('latin1');
      const hex = good.slice(0, 64);
      const lines = [
        '# a comment',
        '',
        'not a checksum line',
        `${hex.slice(0, 63)}  short-digest`,
        `${hex}0  long-digest`,
        `${'z'.repeat(64)}  not-hex`,
        `${hex}`,
        `SHA256 (${NAMES.one}) = ${hex.slice(1)}`,
        `MD5 (${NAMES.one}) = ${hex}`,
        '\\bad\\escape',
      ];
      writeFileSync(join(dir, 'messy.sum'), good + lines.join('\n') + '\n');
      same(['-c', 'messy.sum']);
      same(['-c', '-w', 'messy.sum']);
      same(['-c', '--strict', 'messy.sum']);
      same(['-c', '--warn', '--strict', '--quiet', 'messy.sum']);
      same(['-c', '--status', '--strict', 'messy.sum']);
      writeFileSync(join(dir, 'garbage.sum'), 'nothing\nto\nsee\n');
      same(['-c', 'garbage.sum']);
      same(['-c', 'garbage.sum', 'messy.sum']);
    });

    it('reads every line format: CRLF, uppercase hex, OpenSSL tags, reversed, escaped, no final newline', () => {
      const hex = sumsOf([NAMES.one]).toString('latin1').slice(0, 64);
      writeFileSync(join(dir, 'crlf.sum'), sumsOf([NAMES.one, NAMES.space]).toString('latin1').replaceAll('\n', '\r\n'));
      writeFileSync(join(dir, 'upper.sum'), `${hex.toUpperCase()}  ${NAMES.one}\n`);
      writeFileSync(join(dir, 'openssl.sum'), `SHA256(${NAMES.one})= ${hex}\nSHA256 (${NAMES.one})=${hex}\n`);
      writeFileSync(join(dir, 'reversed.sum'), `${hex} ${NAMES.one}\n${hex}  ${NAMES.one}\n`);
      writeFileSync(join(dir, 'standard-then-reversed.sum'), `${hex}  ${NAMES.one}\n${hex} ${NAMES.one}\n`);
      writeFileSync(join(dir, 'leading-blanks.sum'), ` \t${hex}  ${NAMES.one}\n \\${hex}  ${NAMES.one}\n`);
      writeFileSync(join(dir, 'no-newline.sum'), `${hex}  ${NAMES.one}`);
      for (const sums of ['crlf.sum', 'upper.sum', 'openssl.sum', 'reversed.sum', 'standard-then-reversed.sum', 'leading-blanks.sum', 'no-newline.sum']) {
        same(['-c', sums]);
      }
      // coreutils remembers the reversed format across checksum files of one run.
      same(['-c', 'reversed.sum', 'standard-then-reversed.sum']);
      same(['-c', 'standard-then-reversed.sum', 'reversed.sum']);
    });

    it.runIf(is91)('prints checked names as coreutils 9.1 does: escaped only when they hold a newline', () => {
      writeFileSync(join(dir, 'escaped.sum'), sumsOf([NAMES.backslash, NAMES.newline, NAMES.carriageReturn]));
      same(['-c', 'escaped.sum']);
      writeFileSync(join(dir, NAMES.newline), 'changed');
      same(['-c', 'escaped.sum']);
      writeFileSync(join(dir, NAMES.newline), `contents of ${NAMES.newline}\n`);
    });

    it('a line too long to be a checksum line is improperly formatted, as in a binary file given to -c', () => {
      const good = sumsOf([NAMES.one]);
      writeFileSync(join(dir, 'huge-lines.sum'), Buffer.concat([Buffer.alloc(3 << 20), Buffer.from('\n'), good, Buffer.alloc(2 << 20, 'x'), Buffer.from('\n'), good, Buffer.alloc(2 << 20, ' ')]));
      same(['-c', '-w', 'huge-lines.sum']);
      same(['-c', '--strict', 'huge-lines.sum']);
      same(['-c'], { input: Buffer.alloc(3 << 20) });
      // A comment longer than that is still a comment.
      writeFileSync(join(dir, 'huge-comment.sum'), Buffer.concat([Buffer.from('#'), Buffer.alloc(2 << 20, 'x'), Buffer.from('\n'), good]));
      same(['-c', '--strict', '-w', 'huge-comment.sum']);
      rmSync(join(dir, 'huge-comment.sum'));
      rmSync(join(dir, 'huge-lines.sum'));
    });

    it('reads the checksum file from standard input, where a listed "-" is malformed', () => {
      const sums = sumsOf([NAMES.one, NAMES.big]);
      same(['-c'], { input: sums });
      same(['-c', '-'], { input: sums });
      same(['-c'], { input: Buffer.concat([sums, Buffer.from(`${'0'.repeat(64)}  -\n`)]) });
      same(['-c'], { input: 'garbage\n' });
      // A "-" listed in a checksum file that is not stdin hashes standard input.
      writeFileSync(join(dir, 'stdin-entry.sum'), theirs(['-'], { input: 'piped' }).stdout);
      same(['-c', 'stdin-entry.sum'], { input: 'piped' });
      same(['-c', 'stdin-entry.sum'], { input: 'something else' });
    });

    it('a checksum file that cannot be opened or read', () => {
      same(['-c', 'no-such.sum']);
      same(['-c', 'subdir']);
      same(['-c', 'no-such.sum', 'good.sum']);
    });
  });

  describe('command line', () => {
    it.each([
      [['--bogus']],
      [['--bogus=1', 'x']],
      [['-x']],
      [['-bq']],
      [['--s']],
      [['--st']],
      [['--t', 'x']],
      [['--tag=1']],
      [['--ch=x']],
      [['--tag', '-t', 'x']],
      [['-c', '--tag', 'x']],
      [['-c', '-b', 'x']],
      [['-c', '-z', 'x']],
      [['-c', '--tag', '-z', 'x']],
      [['--status', 'x']],
      [['--quiet', 'x']],
      [['--strict', 'x']],
      [['--ignore-missing', 'x']],
      [['-w', 'x']],
      [['x', '--warn']],
    ])('%j fails as coreutils does, exit 1', (args) => {
      const out = same(args);
      expect(out.status).toBe(1);
    });

    it('accepts abbreviations, options after files, "--", and POSIXLY_CORRECT', () => {
      same(['--ta', NAMES.one]);
      same([NAMES.one, '-b']);
      same(['--', NAMES.dash]);
      same([NAMES.one, '-b'], { env: { POSIXLY_CORRECT: '1' } });
      same(['-t', '--tag', NAMES.one]);
      writeFileSync(join(dir, 'abbrev.sum'), sumsOf([NAMES.one]));
      same(['--che', '--qu', 'abbrev.sum']);
    });

    it('--help and --version describe spindle sha256sum', () => {
      const help = ours(['--help']);
      expect(help.status).toBe(0);
      expect(help.stdout.toString()).toMatch(/^Usage: spindle sha256sum \[OPTION\]\.\.\. \[FILE\]\.\.\./);
      expect(help.stdout.toString()).toMatch(/--ignore-missing/);
      const version = ours(['--version']);
      expect(version.status).toBe(0);
      expect(version.stdout.toString()).toMatch(/^spindle sha256sum \(spindle\) \d+\.\d+\.\d+/);
    });
  });

  describe('files that are not regular files (the pool refuses them; the command reads them itself)', () => {
    it.each(['native', 'worker'])('character devices, /dev/stdin and process substitution hash as coreutils does (%s backend)', (backend) => {
      const env = { SPINDLE_BACKEND: backend };
      same(['/dev/null', NAMES.one, '/dev/null'], { env });
      same(['/dev/stdin', NAMES.one], { env, input: 'from a pipe\n' });
      writeFileSync(join(dir, 'devices.sum'), sumsOf(['/dev/null']));
      same(['-c', 'devices.sum'], { env });
      // <(...) is a pipe named /dev/fd/N: bash makes it for both commands alike.
      const script = (command: string): Run => run('bash', ['-c', `${command} <(printf abc) <(head -c 100000 /dev/zero)`], { env });
      const expected = script('sha256sum');
      const actual = script(`'${process.execPath}' '${bin}' sha256sum`);
      expect({ stdout: actual.stdout.toString('latin1'), status: actual.status }).toEqual({ stdout: expected.stdout.toString('latin1'), status: 0 });
    });

    it.each(['native', 'worker'])('a pipe named twice is read once, in argument order: the first gets everything, the second nothing (%s backend)', (backend) => {
      // "-" and /dev/stdin (or /dev/stdin twice) were read at once, each getting part of the data.
      // Through `cat |`: standard input must be a pipe (spawn's is a socket, which /dev/stdin cannot open).
      const env = { SPINDLE_BACKEND: backend };
      writeFileSync(join(dir, 'piped.bin'), randomBytes(3 * 1024 * 1024 + 3));
      const piped = (command: string[], args: string[]): Run => run('sh', ['-c', 'cat piped.bin | "$@"', 'sh', ...command, ...args], { env });
      const both = (args: string[]): Run => {
        const expected = piped(['sha256sum'], args);
        const actual = piped([process.execPath, bin, 'sha256sum'], args);
        expect({ stdout: actual.stdout.toString('latin1'), stderr: normalize(actual.stderr), status: actual.status }).toEqual({
          stdout: expected.stdout.toString('latin1'),
          stderr: expected.stderr,
          status: expected.status,
        });
        return actual;
      };
      const all = theirs(['piped.bin']).stdout.toString('latin1').slice(0, 64);
      const none = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
      expect(both(['-', '/dev/stdin']).stdout.toString()).toBe(`${all}  -\n${none}  /dev/stdin\n`);
      expect(both(['/dev/stdin', '/dev/stdin']).stdout.toString()).toBe(`${all}  /dev/stdin\n${none}  /dev/stdin\n`);
      expect(both(['/dev/stdin', '-']).stdout.toString()).toBe(`${all}  /dev/stdin\n${none}  -\n`);
      both([NAMES.one, '/dev/stdin', '/dev/null', NAMES.big, '-', '/dev/stdin', NAMES.space]);
      writeFileSync(join(dir, 'stdin-twice.sum'), `${all}  /dev/stdin\n${none}  /dev/stdin\n`);
      expect(both(['-c', 'stdin-twice.sum']).stdout.toString()).toBe('/dev/stdin: OK\n/dev/stdin: OK\n');
    });

    it('a FIFO is read once its writer comes, and the other files do not wait for it', async () => {
      const fifo = join(dir, 'late.fifo');
      spawnSync('mkfifo', [fifo]);
      let child: ReturnType<typeof spawn> | undefined;
      try {
        child = spawn(process.execPath, [bin, 'sha256sum', NAMES.one, 'late.fifo'], { cwd: dir });
        let stdout = '';
        child.stdout!.setEncoding('latin1').on('data', (chunk: string) => (stdout += chunk));
        const exited = new Promise<number | null>((resolve) => child!.on('exit', resolve));
        // Nobody writes yet: the first file's line must not wait for the FIFO.
        const deadline = Date.now() + 10_000;
        while (!stdout.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(stdout).toBe(theirs([NAMES.one]).stdout.toString('latin1'));
        // The writer is a child of its own, so a reader that never comes fails the test, not the runner.
        const writer = spawnSync('sh', ['-c', "printf 'written late' > late.fifo"], { cwd: dir, timeout: 10_000 });
        expect(writer.status).toBe(0);
        expect(await exited).toBe(0);
        const expected = run('bash', ['-c', `printf 'written late' | sha256sum`]).stdout.toString('latin1').split(' ')[0];
        expect(stdout.split('\n')[1]).toBe(`${expected}  late.fifo`);
      } finally {
        child?.kill();
        rmSync(fifo, { force: true });
      }
    });
  });

  describe('FIFOs whose writer was there first', () => {
    it('a FIFO whose writer waits for a reader, writes once and leaves is hashed, on the command line and from a list', async () => {
      // The pool's first open (to see what the file is) took the waiting writer; once it had
      // written and gone, the second open waited for another writer, for ever.
      const fifo = join(dir, 'early.fifo');
      spawnSync('mkfifo', [fifo]);
      const expected = run('bash', ['-c', `printf 'written early' | sha256sum`]).stdout.toString('latin1').split(' ')[0];
      writeFileSync(join(dir, 'early.sum'), `${expected}  early.fifo\n`);
      try {
        for (const args of [['early.fifo'], ['-c', 'early.sum']]) {
          const writer = spawn('sh', ['-c', "printf 'written early' > early.fifo"], { cwd: dir });
          const wrote = new Promise<number | null>((resolve) => writer.on('exit', resolve));
          await new Promise((r) => setTimeout(r, 200)); // the writer is blocked in open(), waiting for a reader
          const ours = spawnSync(process.execPath, [bin, 'sha256sum', ...args], { cwd: dir, timeout: 10_000, encoding: 'latin1' });
          writer.kill();
          await wrote;
          expect({ stdout: ours.stdout, status: ours.status }).toEqual({ stdout: args[0] === '-c' ? 'early.fifo: OK\n' : `${expected}  early.fifo\n`, status: 0 });
        }
      } finally {
        rmSync(fifo, { force: true });
      }
    });

    it('-c on a FIFO with a progress bar exits once its results are printed', async () => {
      // Sizing the bar opened the list a second time; on a FIFO whose writer had written and
      // gone, that open waited for another writer for ever, after the results were printed.
      const fifo = join(dir, 'list.fifo');
      spawnSync('mkfifo', [fifo]);
      writeFileSync(join(dir, 'list-fifo.sum'), sumsOf([NAMES.one, NAMES.space]));
      try {
        for (const progress of ['--no-progress', '--progress']) {
          const writer = spawn('sh', ['-c', 'cat list-fifo.sum > list.fifo'], { cwd: dir });
          const wrote = new Promise<number | null>((resolve) => writer.on('exit', resolve));
          const ours = spawn(process.execPath, [bin, 'sha256sum', progress, '-c', 'list.fifo'], { cwd: dir, env: { ...process.env, LC_ALL: 'C.UTF-8' } });
          let stdout = '';
          ours.stdout.setEncoding('latin1').on('data', (chunk: string) => (stdout += chunk));
          const status = await new Promise<number | null | 'hung'>((resolve) => {
            const timer = setTimeout(() => resolve('hung'), 10_000);
            ours.on('exit', (code) => {
              clearTimeout(timer);
              resolve(code);
            });
          });
          ours.kill('SIGKILL');
          writer.kill();
          await wrote;
          expect({ progress, stdout, status }).toEqual({ progress, stdout: `${NAMES.one}: OK\n${NAMES.space}: OK\n`, status: 0 });
        }
      } finally {
        rmSync(fifo, { force: true });
      }
    });
  });

  describe('backends and progress', () => {
    it('the worker backend prints the same', () => {
      const env = { SPINDLE_BACKEND: 'worker' };
      same([...ALL, 'missing', 'subdir'], { env });
      writeFileSync(join(dir, 'worker.sum'), sumsOf([NAMES.one, NAMES.big, NAMES.newline]));
      same(['-c', 'worker.sum'], { env });
    });

    it('a pool that cannot be made is one error, "spindle: <message>", exit 1, not a failure per file', () => {
      // It was made on first use, so each file reported it as its own read error ("FAILED open or read" under -c).
      writeFileSync(join(dir, 'no-pool.sum'), sumsOf([NAMES.one, NAMES.space]));
      const cases: [NodeJS.ProcessEnv, string][] = [
        [{ SPINDLE_BACKEND: 'bogus' }, `the environment variable SPINDLE_BACKEND must be 'native', 'worker' or 'auto', got "bogus"`],
        [{ SPINDLE_BACKEND: 'native', SPINDLE_ADDON: '/nonexistent.node' }, `spindle's native addon did not load (SPINDLE_ADDON names /nonexistent.node, which does not exist): SPINDLE_BACKEND=native asks for it: set SPINDLE_BACKEND to 'worker' or 'auto', or unset it`],
      ];
      for (const [env, message] of cases) {
        for (const args of [[NAMES.one, NAMES.space], ['-c', 'no-pool.sum'], [NAMES.one, '-', '/dev/null']]) {
          const out = ours(args, { env, input: 'x' });
          expect({ args, stdout: out.stdout.toString(), stderr: out.stderr, status: out.status }).toEqual({ args, stdout: '', stderr: `spindle: ${message}\n`, status: 1 });
        }
      }
    });

    it('--jobs=N on the worker backend starts workers as files need them, not all N up front', () => {
      // All N started at once: --jobs=64 cost 460 MB for one file, --jobs=1024 5.6 GB for two.
      // A preload counts the Workers the command constructs.
      const counter = join(dir, 'count-workers.cjs');
      const countFile = join(dir, 'workers-started');
      writeFileSync(
        counter,
        `const wt = require('node:worker_threads');
        if (wt.isMainThread) {
          let started = 0;
          const Base = wt.Worker;
          wt.Worker = class extends Base { constructor(...args) { super(...args); started++; } };
          require('node:module').syncBuiltinESMExports();
          process.on('exit', () => require('node:fs').writeFileSync(process.env.COUNT_FILE, String(started)));
        }`,
      );
      const files = [NAMES.one, NAMES.space];
      const out = run(process.execPath, ['-r', counter, bin, 'sha256sum', '--jobs=64', ...files], { env: { SPINDLE_BACKEND: 'worker', COUNT_FILE: countFile } });
      expect({ stdout: out.stdout.toString('latin1'), stderr: out.stderr, status: out.status }).toEqual({ stdout: theirs(files).stdout.toString('latin1'), stderr: '', status: 0 });
      const started = Number(readFileSync(countFile, 'utf8'));
      expect(started).toBeGreaterThanOrEqual(1);
      expect(started).toBeLessThanOrEqual(files.length);
    });

    it('--progress draws a bar on stderr that ends at 100%; the output is unchanged', () => {
      // Enough data that the bar outlives its 250 ms delay even with SHA-NI on several threads.
      const big = join(dir, 'progress.bin');
      writeFileSync(big, randomBytes(64 * 1024 * 1024));
      const names = ['progress.bin', 'progress.bin', 'progress.bin', 'progress.bin', 'progress.bin', 'progress.bin'];
      const out = ours(['--progress', '--jobs=1', ...names], { env: { SPINDLE_BACKEND: 'worker' } });
      expect(out.status).toBe(0);
      expect(out.stdout).toEqual(theirs(names).stdout);
      const frames = out.stderr.split(/\r(?:\x1b\[K)?/).filter(Boolean);
      expect(frames.at(-1)).toMatch(/^hashing \[#{30}\] 100%  \d+\.\d s\n$/);
      const percents = frames.map((f) => Number(/(\d+)%/.exec(f)![1]));
      expect(percents).toEqual([...percents].sort((a, b) => a - b));
      // Without a terminal and without --progress there is no bar.
      expect(ours(names.slice(0, 1)).stderr).toBe('');
      rmSync(big);
    });
  });
});

/**
 * A command whose standard input stays open: lines go in one at a time and its standard output
 * is watched as it arrives, to see what it prints before its input ends.
 */
class Live {
  private readonly child;
  private out = Buffer.alloc(0);
  private err = Buffer.alloc(0);
  private readonly exited: Promise<number | null>;
  private onOutput: (() => void) | undefined = undefined;

  constructor(command: string, args: string[]) {
    this.child = spawn(command, args, { cwd: dir, env: { ...process.env, LC_ALL: 'C.UTF-8' }, stdio: 'pipe' });
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.out = Buffer.concat([this.out, chunk]);
      this.onOutput?.();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.err = Buffer.concat([this.err, chunk]);
    });
    this.child.stdin.on('error', () => {}); // EPIPE once the child is gone: the test decides what that means
    this.exited = new Promise((resolve) => this.child.on('close', (status) => resolve(status)));
  }

  get stdout(): string {
    return this.out.toString('latin1');
  }

  /** Resolves once the child has taken `text` (so a feeder never runs ahead of it by more than a pipe). */
  write(text: string | Buffer): Promise<void> {
    return new Promise((resolve) => this.child.stdin.write(text, () => resolve()));
  }

  /** Waits until standard output satisfies `done`; fails after `ms` with what was printed. */
  async until(done: (stdout: string) => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done(this.stdout)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${ms} ms while standard input was open; stdout so far: ${JSON.stringify(this.stdout.slice(-200))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.onOutput = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Ends standard input and waits for the exit. */
  async end(): Promise<{ stdout: string; stderr: string; status: number | null }> {
    this.child.stdin.end();
    const status = await this.exited;
    return { stdout: this.stdout, stderr: this.err.toString('latin1'), status };
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

const newlines = (text: string): number => text.split('\n').length - 1;

describe.skipIf(coreutilsVersion === undefined)('--check streams its checksum list', () => {
  const ourCheck = (...args: string[]): Live => new Live(process.execPath, [bin, 'sha256sum', '-c', ...args]);

  it('prints a result while the list is still coming in', async () => {
    const line = sumsOf([NAMES.one]).toString('latin1');
    const live = ourCheck();
    await live.write(line);
    await live.until((out) => out === `${NAMES.one}: OK\n`, 'first OK');
    await live.write(line);
    await live.until((out) => newlines(out) === 2, 'second OK');
    expect(await live.end()).toEqual({ stdout: `${NAMES.one}: OK\n`.repeat(2), stderr: '', status: 0 });
  });

  it('verifies an endless list as it goes', async () => {
    const lines = sumsOf([NAMES.one, NAMES.space]).toString('latin1').repeat(50);
    const live = ourCheck();
    let feeding = true;
    const feeder = (async () => {
      while (feeding) await live.write(lines);
    })();
    await live.until((out) => newlines(out) >= 2000, '2000 results', 30_000);
    feeding = false;
    await live.kill();
    await feeder;
    const results = live.stdout.split('\n').slice(0, 2000);
    expect(results).toEqual(Array.from({ length: 1000 }, () => [`${NAMES.one}: OK`, `${NAMES.space}: OK`]).flat());
  });

  it('checks a list of 300,000 lines in bounded memory', () => {
    const count = 300_000;
    writeFileSync(join(dir, 'long.sum'), sumsOf([NAMES.one]).toString('latin1').repeat(count));
    // Reading the list whole took 240 MB and runs out of a 64 MB heap; streamed, it needs little.
    const args = ['--max-old-space-size=64', bin, 'sha256sum', '-c', 'long.sum'];
    const timed = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { cwd: dir, maxBuffer: 64 << 20, timeout: 120_000 });
    const out = timed.error === undefined ? timed : spawnSync(process.execPath, args, { cwd: dir, maxBuffer: 64 << 20, timeout: 120_000 });
    const stderr = out.stderr.toString();
    expect(out.status, stderr.slice(0, 500)).toBe(0);
    expect(out.stdout.toString()).toBe(`${NAMES.one}: OK\n`.repeat(count));
    if (timed.error === undefined) {
      // The peak resident set, in KiB, is all /usr/bin/time writes when the command is quiet.
      const peakKiB = Number(/^(\d+)\n$/.exec(stderr)?.[1]);
      expect(peakKiB).toBeLessThan(160 * 1024);
    } else expect(stderr).toBe('');
    rmSync(join(dir, 'long.sum'));
  });

  describe('prints what coreutils prints, fed one line at a time', () => {
    const hexOf = (name: string): string => sumsOf([name]).toString('latin1').slice(0, 64);
    let lines: string[];
    beforeAll(() => {
      writeFileSync(join(dir, 'stream-victim'), 'before');
      const victim = hexOf('stream-victim');
      writeFileSync(join(dir, 'stream-victim'), 'after');
      lines = [
        `${hexOf(NAMES.one)}  ${NAMES.one}\n`,
        '# a comment\n',
        `${victim}  stream-victim\n`,
        'not a checksum line\n',
        `${'a'.repeat(64)}  stream-gone\n`,
        '\n',
        `${hexOf(NAMES.space)}  ${NAMES.space}\r\n`,
        `SHA256 (${NAMES.unicode}) = ${hexOf(NAMES.unicode)}\n`,
        `${'b'.repeat(64)}  it's gone\n`,
        `${hexOf(NAMES.one).slice(1)}  short\n`,
        `${hexOf(NAMES.quote)}  ${NAMES.quote}`, // no final newline: checked at end of input
      ];
      writeFileSync(join(dir, 'stream-pre.sum'), sumsOf([NAMES.one, NAMES.empty]));
      writeFileSync(join(dir, 'stream-post.sum'), `${victim}  stream-victim\n${'c'.repeat(64)}  stream-gone\n`);
    });

    /**
     * Runs ours with the list on a pipe, a line at a time: after each complete line it waits
     * until the results of every line so far are out (as many as coreutils prints for that
     * much of the list) before it sends the next.
     */
    async function streamed(args: string[]): Promise<{ stdout: string; stderr: string; status: number | null }> {
      const upToStdin = args.slice(0, args.indexOf('-') + 1);
      const live = new Live(process.execPath, [bin, 'sha256sum', ...args]);
      for (let i = 0; i < lines.length; i++) {
        await live.write(lines[i]!);
        if (!lines[i]!.endsWith('\n')) continue;
        const expected = newlines(theirs(upToStdin, { input: lines.slice(0, i + 1).join('') }).stdout.toString('latin1'));
        await live.until((out) => newlines(out) >= expected, `result for line ${i + 1} (${JSON.stringify(lines[i])})`);
      }
      const result = await live.end();
      return { ...result, stderr: normalize(result.stderr) };
    }

    it.each([
      [['-c', '-']],
      [['-c', '--warn', '-']],
      [['-c', '--strict', '-']],
      [['-c', '--quiet', '-']],
      [['-c', '--status', '-']],
      [['-c', '--ignore-missing', '-']],
      [['-c', 'stream-pre.sum', '-', 'stream-post.sum']],
    ])('%j', async (args) => {
      const expected = theirs(args, { input: lines.join('') });
      expect(await streamed(args)).toEqual({ stdout: expected.stdout.toString('latin1'), stderr: expected.stderr, status: expected.status });
    });
  });
});

// The same conventions checked directly, so they stay covered where coreutils is not installed.
// Expected bytes are coreutils 9.1's, recorded.
describe.skipIf(coreutilsVersion === undefined)('write errors end the run the coreutils way', () => {
  // Through a shell, so that stdout is the device or pipe itself, as for a user.
  const q = (arg: string): string => `'${arg.replaceAll("'", "'\\''")}'`;
  const shell = (command: string[], redirect: string): Run =>
    run('sh', ['-c', `${command.map(q).join(' ')} ${redirect}`]);
  const ourCommand = (args: string[]): string[] => [process.execPath, bin, 'sha256sum', ...args];

  it.each([
    ['--help', ['--help']],
    ['--version', ['--version']],
    ['hashing files', ALL.slice(0, 3)],
    ['--check', ['-c', 'sums-for-full']],
  ])('%s into /dev/full: "write error", status 1', (_label, args) => {
    writeFileSync(join(dir, 'sums-for-full'), sumsOf(ALL.slice(0, 3)));
    const expected = shell(['sha256sum', ...args], '>/dev/full');
    const actual = shell(ourCommand(args), '>/dev/full');
    expect(expected.stderr).toContain('sha256sum: write error');
    expect({ stderr: normalize(actual.stderr), status: actual.status }).toEqual({ stderr: expected.stderr, status: expected.status });
  });

  it.each([
    // Nothing is written: no write error (spindle's last, empty write once failed there).
    ['--status, nothing written', ['--status', '-c', 'sums-for-full']],
    ['--quiet, nothing written', ['--quiet', '-c', 'sums-for-full']],
    ['only missing files', ['no-such-file']],
    // Output fails, the run goes on: later errors and the summaries still come (spindle once stopped at the first failed write).
    ['files among missing ones', [ALL[0]!, 'no-such-file', ALL[1]!, 'no-such-file-2']],
    ['lists with mismatches, missing files and bad lines', ['-c', 'sums-bad-for-full', 'sums-for-full']],
  ])('into /dev/full, %s: what coreutils prints, and its status', (_label, args) => {
    writeFileSync(join(dir, 'sums-for-full'), sumsOf(ALL.slice(0, 3)));
    writeFileSync(join(dir, 'sums-bad-for-full'), `${'0'.repeat(64)}  ${ALL[0]}\n${'1'.repeat(64)}  no-such-file\nnot a checksum line\n`);
    const expected = shell(['sha256sum', ...args], '>/dev/full');
    const actual = shell(ourCommand(args), '>/dev/full');
    expect({ stderr: normalize(actual.stderr), status: actual.status }).toEqual({ stderr: expected.stderr, status: expected.status });
  });

  it.each([['--help'], ['--version'], [...ALL, ...ALL]])('into a closed pipe: no message, no stack trace, status 1 (%s)', (...args) => {
    const actual = shell(ourCommand(args), '| true; echo "status $?" >&2');
    expect(actual.stderr).toMatch(/^status (0|1)\n$/); // 0 when the reader's end closed only after all was written
    expect(actual.stderr).not.toContain('Error');
  });

  it('a failing stderr does not crash the run: status 1, as coreutils', () => {
    const expected = shell(['sha256sum', 'no-such-file'], '2>/dev/full');
    const actual = shell(ourCommand(['no-such-file']), '2>/dev/full');
    expect({ stdout: actual.stdout.toString(), status: actual.status }).toEqual({ stdout: expected.stdout.toString(), status: expected.status });
  });
});

describe.skipIf(coreutilsVersion === undefined)('file names in messages follow the locale, as coreutils does', () => {
  // LC_ALL, then LC_CTYPE, then LANG; none at all (cron, `env -i`) is the C locale, where a
  // non-ASCII byte is quoted as $'\303'. A UTF-8 locale that is not installed is C to glibc too.
  const unset = { LC_ALL: undefined, LC_CTYPE: undefined, LANG: undefined, LANGUAGE: undefined };
  it.each([
    ['no locale variables', {}],
    ['LC_ALL=C', { LC_ALL: 'C' }],
    ['LC_ALL=POSIX', { LC_ALL: 'POSIX' }],
    ['LANG=C.UTF-8', { LANG: 'C.UTF-8' }],
    ['LC_CTYPE=C.UTF-8', { LC_CTYPE: 'C.UTF-8' }],
    ['LC_ALL=C over LANG=C.UTF-8', { LC_ALL: 'C', LANG: 'C.UTF-8' }],
    ['LC_CTYPE=C over LANG=C.UTF-8', { LC_CTYPE: 'C', LANG: 'C.UTF-8' }],
    ['LANG=xx_YY.UTF-8, not installed', { LANG: 'xx_YY.UTF-8' }],
  ])('%s', (_label, locale) => {
    const names = ['\u00e9-missing', 'caf\u00e9 menu', 'a\u00e9:b'];
    same(names, { env: { ...unset, ...locale } });
  });
});

describe('streaming a checksum list, directly', () => {
  /** A source that hands out the given chunks, then end of input. */
  const chunksOf = (...chunks: string[]) => {
    const queue = chunks.map((c) => Buffer.from(c, 'latin1'));
    return { read: async () => queue.shift() ?? null, cancel: () => {} };
  };
  const linesOf = async (chunks: string[], maxLine?: number): Promise<(string | null)[]> => {
    const { readLines } = await import('../src-ts/cli/line-reader.ts');
    const lines: (string | null)[] = [];
    for await (const line of readLines(chunksOf(...chunks), maxLine)) lines.push(line === null ? null : line.toString('latin1'));
    return lines;
  };

  it('splits lines as getline does, across chunks, with or without a final newline', async () => {
    expect(await linesOf([])).toEqual([]);
    expect(await linesOf(['', ''])).toEqual([]);
    expect(await linesOf(['a\n'])).toEqual(['a']);
    expect(await linesOf(['a'])).toEqual(['a']);
    expect(await linesOf(['a\n\n'])).toEqual(['a', '']);
    expect(await linesOf(['ab\ncd', 'ef', '\n\r\n', 'g\0h'])).toEqual(['ab', 'cdef', '\r', 'g\0h']);
    expect(await linesOf(['\n', '\n'])).toEqual(['', '']);
  });

  it('skips a line too long to hold, up to its newline, as null', async () => {
    expect(await linesOf(['12345678\n123456789\nok'], 8)).toEqual(['12345678', null, 'ok']);
    expect(await linesOf(['1234', '5678', '9', '0\nok\n', '123456789'], 8)).toEqual([null, 'ok', null]);
    expect(await linesOf(['123', '456', '78\n'], 8)).toEqual(['12345678']);
    // A comment is skipped by coreutils at any length: a long one reads as "#", not as a bad line.
    expect(await linesOf(['#23456789\n#2', '3456789', '0\nok\n#234', '56789'], 8)).toEqual(['#', '#', 'ok', '#']);
  });

  it('inOrder yields each result while the next item is still awaited, in order, within its window', async () => {
    const { inOrder } = await import('../src-ts/cli/ordered.ts');
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let started = 0;
    let yielded = 0;
    let most = 0;
    async function* items(): AsyncGenerator<number> {
      yield 1;
      await gate; // the second item does not exist until the first result is out
      for (let i = 2; i <= 50; i++) yield i;
    }
    const delays = [5, 1, 0, 3];
    const start = (n: number): Promise<number> => {
      started++;
      most = Math.max(most, started - yielded);
      return new Promise((resolve) => setTimeout(() => resolve(n * 10), delays[n % delays.length]));
    };
    const seen: number[] = [];
    for await (const { item, outcome } of inOrder(items(), 4, start)) {
      yielded++;
      seen.push(item);
      expect(outcome).toEqual({ ok: true, value: item * 10 });
      if (item === 1) open();
    }
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(most).toBeLessThanOrEqual(4);
  });

  it('inOrder hands out everything read before a read failure, then throws it', async () => {
    const { inOrder } = await import('../src-ts/cli/ordered.ts');
    async function* items(): AsyncGenerator<number> {
      yield 1;
      yield 2;
      throw new Error('read failed');
    }
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const { item } of inOrder(items(), 8, async (n) => n)) seen.push(item);
      })(),
    ).rejects.toThrow('read failed');
    expect(seen).toEqual([1, 2]);
  });

  it('a stream source pulls what has arrived, waits for more, and ends a waiting read when cancelled', async () => {
    const { PassThrough } = await import('node:stream');
    const { StreamChunks } = await import('../src-ts/cli/chunk-source.ts');
    const stream = new PassThrough();
    const source = new StreamChunks(stream);
    stream.write('first');
    expect((await source.read())?.toString()).toBe('first');
    const waiting = source.read();
    stream.write('second');
    expect((await waiting)?.toString()).toBe('second');
    const pending = source.read();
    source.cancel();
    expect(await pending).toBeNull();
    expect(stream.listenerCount('readable')).toBe(0);
    const again = new StreamChunks(stream);
    stream.end('last');
    expect((await again.read())?.toString()).toBe('last');
    expect(await again.read()).toBeNull();
  });
});

describe('coreutils conventions, directly', () => {
  it('quotef quotes as coreutils 9.1 does in a UTF-8 locale', async () => {
    const { quotef } = await import('../src-ts/cli/coreutils-text.ts');
    const cases: [string, string][] = [
      ['plain.txt', 'plain.txt'],
      ['dir/x-1,2+3%_]', 'dir/x-1,2+3%_]'],
      ['é', 'é'],
      ['at@x', 'at@x'],
      ['x#y', 'x#y'],
      ['', "''"],
      ['sp ace', "'sp ace'"],
      ['a:b', "'a:b'"],
      ['#x', "'#x'"],
      ['~home', "'~home'"],
      ['{', "'{'"],
      ['a{b', 'a{b'],
      ["q'uote", `"q'uote"`],
      ["it's a:b", `"it's a:b"`],
      ['"dq"', `'"dq"'`],
      ['back\\slash', "'back\\slash'"],
      ['nl\nx', "'nl'$'\\n''x'"],
      ['tab\tx', "'tab'$'\\t''x'"],
      ['ctl\x01x', "'ctl'$'\\001''x'"],
      ['\x01x', "''$'\\001''x'"],
      ["it's\n", "'''it'\\''s'$'\\n'"],
      // Private-use characters are printable to glibc: printed as is, as coreutils does.
      ['icon\uf8ff', 'icon\uf8ff'],
      ['\ue000', '\ue000'],
      ['p\u{f0000}q\u{10fffd}', 'p\u{f0000}q\u{10fffd}'],
      // A noncharacter is not.
      ['n\u{ffffe}', "'n'$'\\363\\277\\277\\276'"],
      // Characters newer than glibc 2.36's Unicode 14.0 are unassigned to it: quoted, as coreutils 9.1 quotes them.
      ['\u{1fae8}', "''$'\\360\\237\\253\\250'"],
      ['cjk\u{31350}', "'cjk'$'\\360\\261\\215\\220'"],
      // Unicode 14.0's own are printable.
      ['\u{1fae0}', '\u{1fae0}'],
    ];
    for (const [name, quoted] of cases) expect(quotef(Buffer.from(name)).toString()).toBe(quoted);
    expect(quotef(Buffer.from([0x61, 0xff, 0x62])).toString('latin1')).toBe("'a'$'\\377''b'");
  });

  it('writes standard output in whole lines of at most PIPE_BUF bytes, so runs sharing a pipe (xargs -P) never split lines', async () => {
    // coreutils line-buffers its output for this (its md5sum-parallel test); one 64 KiB write to
    // a pipe whose reader lags is cut up and interleaved with another writer's output mid-line.
    const { Writable } = await import('node:stream');
    const { sha256sum } = await import('../src-ts/cli/sha256sum.ts');
    const sub = join(dir, 'atomic');
    mkdirSync(sub);
    const names = Array.from({ length: 150 }, (_, i) => join(sub, `${String(i).padStart(3, '0')}-${'x'.repeat(60)}`));
    for (const name of names) writeFileSync(name, name);
    const writes: Buffer[] = [];
    const stdout = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        writes.push(chunk);
        callback();
      },
    });
    const stderr = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    expect(await sha256sum(['--no-progress', ...names], { stdout, stderr, env: { LC_ALL: 'C.UTF-8' } })).toBe(0);
    expect(Buffer.concat(writes).toString()).toBe(theirs(names).stdout.toString());
    expect(writes.length).toBeGreaterThan(1);
    for (const write of writes) {
      expect(write.length).toBeLessThanOrEqual(4096);
      expect(write[write.length - 1]).toBe(0x0a);
    }
    rmSync(sub, { recursive: true });
  });

  it('strerror gives glibc texts', async () => {
    const { strerror } = await import('../src-ts/cli/coreutils-text.ts');
    expect(strerror({ code: 'ENOENT', message: 'ENOENT: no such file or directory, open x' })).toBe('No such file or directory');
    expect(strerror({ code: 'EISDIR', message: '' })).toBe('Is a directory');
    expect(strerror({ code: 'EWHATEVER', message: 'EWHATEVER: something odd, open x' })).toBe('Something odd');
  });

  it('digest and check lines, escaping, and the checksum-line parser', async () => {
    const { digestLine, checkLine, ChecksumLineParser } = await import('../src-ts/cli/checksum-lines.ts');
    const hex = 'ab'.repeat(32);
    const plain = { binary: false, tag: false, zero: false };
    expect(digestLine(Buffer.from('a b'), hex, plain).toString()).toBe(`${hex}  a b\n`);
    expect(digestLine(Buffer.from('a\\b\nc\rd'), hex, plain).toString()).toBe(`\\${hex}  a\\\\b\\nc\\rd\n`);
    expect(digestLine(Buffer.from('x'), hex, { ...plain, binary: true }).toString()).toBe(`${hex} *x\n`);
    expect(digestLine(Buffer.from('a\nb'), hex, { ...plain, tag: true }).toString()).toBe(`\\SHA256 (a\\nb) = ${hex}\n`);
    expect(digestLine(Buffer.from('a\nb'), hex, { ...plain, zero: true }).toString()).toBe(`${hex}  a\nb\0`);
    expect(checkLine(Buffer.from('a\\b'), 'OK').toString()).toBe('a\\b: OK\n');
    expect(checkLine(Buffer.from('a\\b\nc'), 'FAILED').toString()).toBe('\\a\\\\b\\nc: FAILED\n');

    const parser = new ChecksumLineParser();
    const parse = (line: string, fromStdin = false) => parser.parse(Buffer.from(line, 'latin1'), fromStdin);
    expect(parse('# comment')).toEqual({ kind: 'skip' });
    expect(parse('\r')).toEqual({ kind: 'skip' });
    expect(parse(`${hex.toUpperCase()}  name with  spaces \r`)).toEqual({ kind: 'entry', hex, name: Buffer.from('name with  spaces ') });
    expect(parse(`${hex} *bin`)).toEqual({ kind: 'entry', hex, name: Buffer.from('bin') });
    expect(parse(`\\${hex}  a\\\\b\\nc`)).toEqual({ kind: 'entry', hex, name: Buffer.from('a\\b\nc') });
    expect(parse(`\\${hex}  bad\\x`)).toEqual({ kind: 'malformed' });
    expect(parse(`SHA256 (a (b)) = ${hex}`)).toEqual({ kind: 'entry', hex, name: Buffer.from('a (b)') });
    expect(parse(`SHA256(x)= ${hex}`)).toEqual({ kind: 'entry', hex, name: Buffer.from('x') });
    expect(parse(`${hex}  -`, true)).toEqual({ kind: 'malformed' });
    expect(parse(`${hex.slice(1)}  short`)).toEqual({ kind: 'malformed' });
    // Once the standard format was seen, the reversed one ("<hex> <name>") is refused.
    expect(parse(`${hex} reversed`)).toEqual({ kind: 'malformed' });
    const reversed = new ChecksumLineParser();
    expect(reversed.parse(Buffer.from(`${hex} r`), false)).toEqual({ kind: 'entry', hex, name: Buffer.from('r') });
    expect(reversed.parse(Buffer.from(`${hex}  s`), false)).toEqual({ kind: 'entry', hex, name: Buffer.from(' s') });
  });
});
