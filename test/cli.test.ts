// The `spindle` command, run as users run it: the built bin in a child process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const spindle = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('spindle CLI', () => {
  it('primes HI prints the count, the time and the threads', () => {
    const out = spindle('primes', '1e7');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^664579 primes below 1e7\n\d+\.\d{3} s on \d+ threads? \(native backend\)\n$/);
  });

  it('primes reads bounds written as JS writes numbers, exactly', () => {
    for (const [hi, count] of [['0x64', 25], ['1.5e1', 6], ['120e-1', 5], ['+100', 25], ['100.000', 25]] as const) {
      const out = spindle('primes', hi);
      expect(out.status, hi).toBe(0);
      expect(out.stdout.split(' ')[0], hi).toBe(String(count));
    }
  });

  it('primes LO HI counts a window, with --threads', () => {
    const out = spindle('primes', '10', '20', '--threads', '1');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^4 primes in \[10, 20\)\n.* on 1 thread \(native backend\)\n$/);
  });

  it.each([
    [['primes'], /primes takes HI or LO HI/],
    [['primes', '-5'], /HI must be an integer/],
    [['primes', '1.5'], /HI must be an integer/],
    [['primes', 'abc'], /HI must be an integer/],
    [['primes', '20', '10'], /LO must be <= HI/],
    [['primes', '1e20'], /HI must be an integer in \[0, 2\^53\]/],
    // Read exactly: Number() rounded these to 2^53 (accepted) and to 0.
    [['primes', '9007199254740993'], /HI must be an integer in \[0, 2\^53\], got '9007199254740993'/],
    [['primes', '9.007199254740993e15'], /HI must be an integer/],
    [['primes', '1e-400'], /HI must be an integer/],
    [['primes', '10', '--threads', '0'], /--threads must be/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['primes', '10', '--backend', 'gpu'], /--backend must be auto, native or worker/],
    // These ran info and exited 0, or (no arguments) printed the usage on stdout.
    [['info', '--bogus'], /^spindle info: unknown option '--bogus'\nUsage: spindle info\n/],
    [['info', 'extra'], /^spindle info: unexpected argument 'extra'\nUsage: spindle info\n/],
    [[], /^spindle: no command given\nUsage:\n/],
    // A malformed --redis was a start-up failure, exit 1, as if Redis were unreachable.
    [['serve', '--queue', 'q', '--redis', 'notaurl'], /^spindle serve: --redis must be a redis:\/\/ or rediss:\/\/ URL, got 'notaurl'\nUsage: spindle serve /],
    [['serve', '--queue', 'q', '--redis=http://x'], /^spindle serve: --redis must be a redis:\/\/ or rediss:\/\/ URL, got 'http:\/\/x'\n/],
    [['serve', '--queue', 'q', '--redis', 'redis://u:p%zz@h'], /^spindle serve: --redis: the password in the redis:\/\/ URL is not valid percent-encoding \(%XX\)\n/],
  ])('rejects %j with a usage error (exit 2)', (args, message) => {
    const out = spindle(...args);
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(message);
    expect(out.stdout).toBe('');
  });

  it('--help (-h) prints a command\'s usage on stdout, exit 0; -t is --threads, -v is --version, as the usage says', () => {
    // primes --help was "unknown option '--help'", exit 2.
    for (const args of [['primes', '--help'], ['primes', '-h'], ['primes', '10', '--help']]) {
      const out = spindle(...args);
      expect({ status: out.status, stderr: out.stderr, first: out.stdout.split('\n')[0] }, args.join(' ')).toEqual({ status: 0, stderr: '', first: 'Usage: spindle primes [LO] HI [OPTION]...' });
      expect(out.stdout).toMatch(/^ {2}-t, --threads N /m);
    }
    const info = spindle('info', '--help');
    expect({ status: info.status, stderr: info.stderr, first: info.stdout.split('\n')[0] }).toEqual({ status: 0, stderr: '', first: 'Usage: spindle info' });
    const usage = spindle('-h');
    expect({ status: usage.status, stderr: usage.stderr }).toEqual({ status: 0, stderr: '' });
    expect(usage.stdout).toContain('spindle --help (-h) | --version (-v)');
    expect(usage.stdout).toContain('--threads N (-t N)');
    expect(spindle('-v').stdout).toBe(spindle('--version').stdout);
    expect(spindle('primes', '10', '20', '-t', '1').stdout).toMatch(/^4 primes in \[10, 20\)\n.* on 1 thread /);
  });

  it('draws a progress bar on stderr with --progress, ending at 100%; none when stderr is not a terminal', () => {
    // The worker backend's JS twin takes a second or more here: long enough for the bar to show.
    const out = spindle('primes', '3e9', '--progress', '--backend', 'worker');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^144449537 primes below 3e9\n/);
    const frames = out.stderr.split('\r').filter(Boolean);
    expect(frames.at(-1)).toMatch(/^sieving \[#{30}\] 100%  \d+\.\d s\n$/);
    const percents = frames.map((f) => Number(/(\d+)%/.exec(f)![1]));
    expect(percents).toEqual([...percents].sort((a, b) => a - b)); // never goes backwards
    expect(spindle('primes', '3e9', '--backend', 'worker').stderr).toBe('');
  });

  it('primes --backend worker runs the JS twin on worker threads, with the same count', () => {
    const out = spindle('primes', '1e8', '--backend', 'worker');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^5761455 primes below 1e8\n.* \(worker backend\)\n$/);
  });

  it('without addons, info says the worker backend runs and why the addon did not load', () => {
    const out = spawnSync(process.execPath, ['--no-addons', bin, 'info'], { encoding: 'utf8', timeout: 60_000 });
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^backend\s+worker$/m);
    expect(out.stdout).toMatch(/^addon\s+not loaded: .*addons/m);
    const primes = spawnSync(process.execPath, ['--no-addons', bin, 'primes', '1e6'], { encoding: 'utf8', timeout: 60_000 });
    expect(primes.stdout).toMatch(/^78498 primes below 1e6\n.*\(worker backend\)\n$/);
  });

  describe('a failed write to stdout ends the command with status 1, never a stack trace', () => {
    // Through a shell, so that stdout is the pipe or device itself, as for a user.
    const commands: [string, string[]][] = [['primes 10', ['primes', '10']], ['info', ['info']], ['--help', ['--help']], ['--version', ['--version']], ['primes --help', ['primes', '--help']], ['serve --help', ['serve', '--help']]];

    it.each(commands)('into a closed pipe: silent, status 1 (spindle %s)', (_label, args) => {
      // The reader closes its end at once, before node has started, so every write meets EPIPE.
      const script = 'exec 3>&2; { "$@" 2>&3; echo "status $?" >&3; } | (exec 0<&-; sleep 0.5)';
      const out = spawnSync('sh', ['-c', script, 'sh', process.execPath, bin, ...args], { encoding: 'utf8', timeout: 60_000 });
      expect({ stderr: out.stderr, status: out.status }).toEqual({ stderr: 'status 1\n', status: 0 });
    });

    it.each(commands)('into /dev/full: one line "spindle: write error: <reason>", status 1 (spindle %s)', (_label, args) => {
      const out = spawnSync('sh', ['-c', '"$@" >/dev/full', 'sh', process.execPath, bin, ...args], { encoding: 'utf8', timeout: 60_000 });
      expect({ stdout: out.stdout, stderr: out.stderr, status: out.status }).toEqual({ stdout: '', stderr: 'spindle: write error: No space left on device\n', status: 1 });
    });
  });

  it('a SPINDLE_BACKEND that names no backend: info and backendInfo() say so, without throwing', () => {
    // info said "backend native" and nothing else, though every Pool then threw.
    const message = `the environment variable SPINDLE_BACKEND must be 'native', 'worker' or 'auto', got "bogus"`;
    const env = { ...process.env, SPINDLE_BACKEND: 'bogus' };
    const out = spawnSync(process.execPath, [bin, 'info'], { encoding: 'utf8', timeout: 60_000, env });
    expect({ status: out.status, stderr: out.stderr, head: out.stdout.split('\n').slice(0, 2) }).toEqual({
      status: 0,
      stderr: '',
      head: ['backend       native', `warning       ${message}: every Pool on backend 'auto' throws this`],
    });
    const index = new URL('../dist/index.js', import.meta.url).href;
    const script = `const { backendInfo, Pool } = await import(${JSON.stringify(index)});
      const info = backendInfo();
      let error; try { new Pool({ size: 1 }); } catch (e) { error = e.message; }
      console.log(JSON.stringify({ backend: info.backend, override: info.override, overrideError: info.overrideError, poolError: error }));`;
    const api = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, env });
    expect(JSON.parse(api.stdout)).toEqual({ backend: 'native', overrideError: message, poolError: message });
    // A good value, or none: no warning.
    expect(spindle('info').stdout).not.toMatch(/^warning/m);
    const worker = spawnSync(process.execPath, [bin, 'info'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SPINDLE_BACKEND: 'worker' } });
    expect(worker.stdout).toMatch(/^backend       worker \(SPINDLE_BACKEND\)\n(?!warning)/);
  });

  it.each([
    ['--connect-timeout', '2147483648'],
    ['--stalled-interval', '2147483648'],
    ['--lock-duration', '1e300'],
  ])('serve rejects %s %s, past what a timer can wait, with a usage error (exit 2)', (flag, value) => {
    // Node runs a timer longer than 2^31-1 ms after 1 ms: the connect timeout gave up at once,
    // and the stalled check ran every millisecond.
    const out = spindle('serve', '--queue', 'q', '--redis', 'redis://127.0.0.1:1', flag, value);
    expect({ status: out.status, stdout: out.stdout, first: out.stderr.split('\n')[0] }).toEqual({
      status: 2,
      stdout: '',
      first: `spindle serve: ${flag} must be at most 2147483647 (ms, 2^31-1), got '${value}'`,
    });
    expect(out.stderr).toContain('Usage: spindle serve');
  });

  it('serve takes 2^31-1 ms, the longest a timer can wait', () => {
    // Past parsing: the (closed) Redis port is what fails, after the connect timeout.
    const out = spindle('serve', '--queue', 'q', '--redis', 'redis://127.0.0.1:1', '--lock-duration', '2147483647', '--stalled-interval=2147483647', '--connect-timeout', '300');
    expect({ status: out.status, stdout: out.stdout }).toEqual({ status: 1, stdout: '' });
    expect(out.stderr).toMatch(/^spindle serve: cannot reach Redis for queue 'q' on Redis at 127\.0\.0\.1:1 within 300 ms/);
  });

  it('info names the backend, where the addon came from, threads and CPU features', () => {
    const out = spindle('info');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^backend\s+native$/m);
    expect(out.stdout).toMatch(/^addon\s+\S+\.node$/m);
    expect(out.stdout).toMatch(/^threads\s+\d+ available/m);
    expect(out.stdout).toMatch(/^cpu features\s+\S+/m);
  });
});
