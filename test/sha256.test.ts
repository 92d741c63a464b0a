// The sha256 and sha256File kernels on every backend: the NIST CAVP vectors (test/data/nist),
// thousands of random messages against node:crypto, every input type and encoding, map chunks
// (hashed several messages at a time natively), progress, cancellation, files and their
// errors, and bad arguments. Each native code path (SHA-NI, AVX2, portable) runs the vectors
// in a child process with SPINDLE_SHA256_PATH set, since the path is chosen once per process.
// Last, workers that hash on native threads are torn down mid-run.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendInfo } from '../src-ts/backends/select.js';
import { kernels } from '../src-ts/kernels/index.js';
import { noContext } from '../src-ts/kernels/types.js';
import type { Pool } from '../src-ts/pool.js';
import { SharedCounter } from '../src-ts/shared/counter.js';
import { availableBackends } from './support/backends.js';
import { cpuinfoWords } from './support/cpuinfo.js';

const { sha256, sha256File } = kernels;

const nist = (name: string) => fileURLToPath(new URL(`./data/nist/${name}`, import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Vector {
  message: Buffer;
  digest: string;
}

/** A CAVP .rsp file: "Len = <bits>", "Msg = <hex>" ("00" for the empty message), "MD = <hex>". */
function readVectors(name: string): Vector[] {
  const vectors: Vector[] = [];
  let bits = 0;
  let message = Buffer.alloc(0);
  for (const line of readFileSync(nist(name), 'utf8').split(/\r?\n/)) {
    const value = line.slice(line.indexOf('=') + 2);
    if (line.startsWith('Len = ')) bits = Number(value);
    if (line.startsWith('Msg = ')) message = Buffer.from(value, 'hex').subarray(0, bits / 8);
    if (line.startsWith('MD = ')) vectors.push({ message, digest: value });
  }
  return vectors;
}

const short = readVectors('SHA256ShortMsg.rsp');
const long = readVectors('SHA256LongMsg.rsp');
const vectors = [...short, ...long];
const hex = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

/** A seeded generator in [0, 1). */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'spindle-sha256-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** `view` with own properties that misstate its buffer and range. */
function lying<T extends ArrayBufferView>(view: T): T {
  Object.defineProperties(view, {
    buffer: { value: new ArrayBuffer(4) },
    byteOffset: { value: 1 },
    byteLength: { value: 2 },
    length: { value: 2 },
  });
  return view;
}

describe('the NIST vectors', () => {
  it('are all there: 65 short and 64 long messages', () => {
    expect(short).toHaveLength(65);
    expect(long).toHaveLength(64);
    expect(short[0]).toEqual({ message: Buffer.alloc(0), digest: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' });
  });

  it('pass through the JS twin run directly', () => {
    for (const v of vectors) expect(sha256.run(sha256.validate([v.message]), noContext)).toBe(v.digest);
  });
});

describe.each(availableBackends())('sha256 and sha256File on the $name backend', ({ make }) => {
  let pool: Pool;
  beforeAll(() => {
    pool = make({ size: 2 });
  });
  afterAll(async () => {
    await pool.terminate();
  });

  it('gives the NIST digests, one call at a time and in map chunks of several sizes', async () => {
    const applied = await Promise.all(vectors.map((v) => pool.apply(sha256, [v.message])));
    expect(applied).toEqual(vectors.map((v) => v.digest));
    for (const chunkSize of [1, 5, 64, 1000]) {
      expect(await pool.map(sha256, vectors.map((v) => v.message), { chunkSize })).toEqual(vectors.map((v) => v.digest));
    }
  });

  // From 1 MiB an ordinary buffer is copied into a SharedArrayBuffer that later calls reuse
  // (src-ts/kernels/staging.ts). Reuse must never hand one call's copy to another still in
  // flight, nor let a caller's change after the call reach the bytes hashed: many large calls
  // at once, each buffer overwritten right after its call, a cancelled call among them (its
  // copy is never reused), over several rounds so that copies are reused.
  it('large ordinary buffers: each call hashes its own bytes as they were at the call, round after round', async () => {
    const failures: string[] = [];
    for (let round = 0; round < 4; round++) {
      const sizes = [1 << 20, (1 << 20) + 5, 3 << 20, 2 << 20, 5 << 20, 1 << 21];
      const buffers = sizes.map((size) => randomBytes(size));
      const expected = buffers.map((b, i) => (i % 2 === 0 ? hex(b) : [hex(b), hex(b.subarray(7))]));
      const controller = new AbortController();
      const cancelled = pool.apply(sha256, [randomBytes(8 << 20)], { signal: controller.signal }).then(
        () => 'resolved',
        (error: Error) => error.name,
      );
      controller.abort();
      const calls = buffers.map((b, i) => (i % 2 === 0 ? pool.apply(sha256, [b]) : pool.map(sha256, [b, b.subarray(7)], { chunkSize: 2 })));
      for (const b of buffers) b.fill(round + 1); // after the call: never hashed
      const got = await Promise.all(calls);
      got.forEach((digest, i) => {
        if (JSON.stringify(digest) !== JSON.stringify(expected[i])) failures.push(`round ${round} call ${i}: ${JSON.stringify(digest)}`);
      });
      if ((await cancelled) !== 'AbortError') failures.push(`round ${round}: the aborted call ${await cancelled}`);
    }
    expect(failures).toEqual([]);
  });

  it('agrees with node:crypto on thousands of random messages of random lengths', async () => {
    const random = seeded(7);
    const messages = Array.from({ length: 4000 }, (_, i) => {
      // Mostly short (every block boundary case), some long, a few beyond 1 MiB.
      const length = i % 1000 === 999 ? 1_048_576 + Math.floor(random() * 100_000) : i % 20 === 0 ? Math.floor(random() * 200_000) : Math.floor(random() * 300);
      return randomBytes(length);
    });
    const expected = messages.map((m) => hex(m));
    expect(await pool.map(sha256, messages, { chunkSize: 250 })).toEqual(expected);
    expect(await pool.map(sha256, messages.slice(0, 500))).toEqual(expected.slice(0, 500));
    const some = messages.filter((_, i) => i % 97 === 0);
    expect(await Promise.all(some.map((m) => pool.apply(sha256, [m])))).toEqual(some.map((m) => hex(m)));
  });

  it('hashes every input type: Buffer, views with offsets, DataView, ArrayBuffer, SharedArrayBuffer, strings', async () => {
    const bytes = randomBytes(1000);
    const sab = new SharedArrayBuffer(1000);
    new Uint8Array(sab).set(bytes);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const cases: [unknown, string][] = [
      [bytes, hex(bytes)],
      [new Uint8Array(ab, 3, 500), hex(bytes.subarray(3, 503))],
      [new Uint16Array(ab, 10, 100), hex(bytes.subarray(10, 210))],
      [new Float64Array(ab, 16, 10), hex(bytes.subarray(16, 96))],
      [new BigInt64Array(ab, 8, 3), hex(bytes.subarray(8, 32))],
      [new DataView(ab, 7, 333), hex(bytes.subarray(7, 340))],
      [ab, hex(bytes)],
      [sab, hex(bytes)],
      [new Uint8Array(sab, 100, 50), hex(bytes.subarray(100, 150))],
      [new DataView(sab, 1, 2), hex(bytes.subarray(1, 3))],
      [new Uint8ClampedArray(ab), hex(bytes)],
      ['', hex('')],
      ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
      ['héllo wörld ✓ 🧵', hex(Buffer.from('héllo wörld ✓ 🧵', 'utf8'))],
      ['lone \ud800 surrogate', hex(Buffer.from('lone \ud800 surrogate', 'utf8'))],
      [Buffer.alloc(0), hex('')],
      [new Uint8Array(0), hex('')],
      [new ArrayBuffer(0), hex('')],
      // Views whose getters lie: the bytes the engine holds are hashed, as node:crypto does.
      [lying(new Uint8Array(ab, 3, 500)), hex(bytes.subarray(3, 503))],
      [lying(new DataView(ab, 7, 333)), hex(bytes.subarray(7, 340))],
    ];
    for (const [data, digest] of cases) expect(await pool.apply(sha256, [data as Uint8Array])).toBe(digest);
    expect(await pool.map(sha256, cases.map(([data]) => data as Uint8Array), { chunkSize: 4 })).toEqual(cases.map(([, digest]) => digest));
  });

  it('encodes digests as hex (default), base64 or a Buffer, in single calls and map chunks', async () => {
    const data = 'encode me';
    const digest = createHash('sha256').update(data).digest();
    expect(await pool.apply(sha256, [data, {}])).toBe(digest.toString('hex'));
    expect(await pool.apply(sha256, [data, { encoding: 'hex' }])).toBe(digest.toString('hex'));
    expect(await pool.apply(sha256, [data, { encoding: 'base64' }])).toBe(digest.toString('base64'));
    const buffer = await pool.apply(sha256, [data, { encoding: 'buffer' }]);
    expect(Buffer.isBuffer(buffer)).toBe(true);
    expect(buffer).toEqual(digest);
    const tuples = Array.from({ length: 50 }, (_, i) => [`m${i}`, { encoding: (['hex', 'base64', 'buffer'] as const)[i % 3] }] as const);
    const results = await pool.starmap(sha256, tuples, { chunkSize: 8 });
    results.forEach((result, i) => {
      const expected = createHash('sha256').update(`m${i}`).digest();
      if (i % 3 === 2) {
        expect(Buffer.isBuffer(result)).toBe(true);
        expect(result).toEqual(expected);
      } else expect(result).toBe(expected.toString(i % 3 === 0 ? 'hex' : 'base64'));
    });
    // Buffers of one chunk do not overlap.
    const buffers = (await pool.map(sha256, ['a', 'b', 'c'].map((s) => Buffer.from(s)), { chunkSize: 3 })) as string[];
    expect(new Set(buffers).size).toBe(3);
  });

  it('counts every byte hashed on the progress counter, single calls and chunks', async () => {
    const progress = new SharedCounter(0);
    const big = randomBytes(5 * 1024 * 1024 + 3);
    expect(await pool.apply(sha256, [big], { progress })).toBe(hex(big));
    expect(progress.value).toBe(big.length);
    progress.reset();
    const messages = Array.from({ length: 300 }, (_, i) => randomBytes(i));
    await pool.map(sha256, messages, { chunkSize: 64, progress });
    expect(progress.value).toBe((299 * 300) / 2);
  });

  it('a cancelled long hash stops part way', async () => {
    const big = Buffer.alloc(256 * 1024 * 1024, 1);
    const progress = new SharedCounter(0);
    const controller = new AbortController();
    const job = pool.apply(sha256, [big], { progress, signal: controller.signal });
    while (progress.value === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    controller.abort();
    await expect(job).rejects.toMatchObject({ name: 'AbortError' });
    // The caller is answered at once; the kernel stops at its next check, a slice later.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stoppedAt = progress.value;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(progress.value).toBe(stoppedAt);
    expect(stoppedAt).toBeLessThan(big.length);
  });

  it('sha256File hashes files of every size, by absolute, relative, Buffer and URL path', async () => {
    const sizes = [0, 1, 63, 64, 65, 1000, 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024 + 7];
    const files = sizes.map((size, i) => {
      const path = join(dir, `file-${i}`);
      writeFileSync(path, randomBytes(size));
      return path;
    });
    const expected = files.map((f) => hex(readFileSync(f)));
    expect(await Promise.all(files.map((f) => pool.apply(sha256File, [f])))).toEqual(expected);
    expect(await pool.map(sha256File, files, { chunkSize: 4 })).toEqual(expected);
    expect(await pool.apply(sha256File, [relative(process.cwd(), files[5]!)])).toBe(expected[5]);
    expect(await pool.apply(sha256File, [Buffer.from(files[5]!)])).toBe(expected[5]);
    expect(await pool.apply(sha256File, [Buffer.from(relative(process.cwd(), files[5]!))])).toBe(expected[5]);
    expect(await pool.apply(sha256File, [pathToFileURL(files[5]!)])).toBe(expected[5]);
    const digest = createHash('sha256').update(readFileSync(files[3]!)).digest();
    expect(await pool.apply(sha256File, [files[3]!, { encoding: 'base64' }])).toBe(digest.toString('base64'));
    expect(await pool.apply(sha256File, [files[3]!, { encoding: 'buffer' }])).toEqual(digest);
    const progress = new SharedCounter(0);
    await pool.apply(sha256File, [files[8]!], { progress });
    expect(progress.value).toBe(sizes[8]);
  });

  it('sha256File opens names that are not UTF-8, given as bytes', async () => {
    const name = Buffer.concat([Buffer.from(join(dir, 'latin1-')), Buffer.from([0xe9, 0xff])]);
    writeFileSync(name, 'bytes in the name');
    expect(await pool.apply(sha256File, [name])).toBe(hex('bytes in the name'));
  });

  it("sha256File takes a path's bytes at the call: changing them afterwards changes nothing", async () => {
    const [a, b] = ['path-a', 'path-b'].map((f) => join(dir, f));
    writeFileSync(a!, 'AAAA');
    writeFileSync(b!, 'BBBB');
    const renamed = a!.length - 1; // 'a' -> 'b'
    for (const memory of [new ArrayBuffer(a!.length), new SharedArrayBuffer(a!.length)]) {
      const path = new Uint8Array(memory);
      path.set(Buffer.from(a!));
      const hashed = pool.apply(sha256File, [path]);
      path[renamed] = 'b'.charCodeAt(0);
      expect(await hashed).toBe(hex('AAAA'));
      path.set(Buffer.from(a!));
      const nul = pool.apply(sha256File, [path]);
      path[3] = 0; // a null byte after the check
      expect(await nul).toBe(hex('AAAA'));
    }
    const detached = new Uint8Array(Buffer.from(a!));
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    await expect(pool.apply(sha256File, [detached])).rejects.toThrow(
      new TypeError('sha256File: path is a view over a detached ArrayBuffer (it was transferred away); pass the bytes where they now live'),
    );
  });

  it('sha256File fails as fs does: ENOENT, EISDIR, ENOTDIR with errno, code, syscall and path', async () => {
    const missing = join(dir, 'no-such-file');
    const error = await pool.apply(sha256File, [missing]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ message: `ENOENT: no such file or directory, open '${missing}'`, errno: -2, code: 'ENOENT', syscall: 'open', path: missing });
    expect(Object.keys(error as object)).toEqual(['errno', 'code', 'syscall', 'path']);
    await expect(pool.apply(sha256File, [dir])).rejects.toMatchObject({ message: `EISDIR: illegal operation on a directory, read '${dir}'`, errno: -21, code: 'EISDIR', syscall: 'read', path: dir });
    const notDir = join(dir, 'file-1', 'x');
    writeFileSync(join(dir, 'file-1'), 'x');
    await expect(pool.apply(sha256File, [notDir])).rejects.toMatchObject({ code: 'ENOTDIR', syscall: 'open', path: notDir });
    await expect(pool.apply(sha256File, [''])).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open', path: '' });
    const relativeMissing = 'relative-missing-file';
    await expect(pool.apply(sha256File, [relativeMissing])).rejects.toMatchObject({ code: 'ENOENT', path: join(process.cwd(), relativeMissing) });
    // In a map, the failing file rejects the whole map with its error.
    await expect(pool.map(sha256File, [join(dir, 'file-1'), missing], { chunkSize: 2 })).rejects.toMatchObject({ code: 'ENOENT', path: missing });
  });

  it.skipIf(process.getuid?.() === 0)('sha256File fails with EACCES on a file it may not read', async () => {
    const locked = join(dir, 'locked');
    writeFileSync(locked, 'secret');
    chmodSync(locked, 0o000);
    await expect(pool.apply(sha256File, [locked])).rejects.toMatchObject({ message: `EACCES: permission denied, open '${locked}'`, errno: -13, code: 'EACCES', syscall: 'open', path: locked });
  });

  it('bad arguments fail at the call with a TypeError or RangeError naming them', async () => {
    await expect(pool.apply(sha256, [] as never)).rejects.toThrow(new TypeError('sha256 takes 1 to 2 arguments (data, options?), got 0'));
    await expect(pool.apply(sha256, [42 as never])).rejects.toThrow(/^sha256: data must be a string, Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer, got number 42$/);
    await expect(pool.apply(sha256, [null as never])).rejects.toThrow(TypeError);
    await expect(pool.apply(sha256, [[1, 2] as never])).rejects.toThrow(/got an array/);
    const detached = new ArrayBuffer(8);
    const view = new Uint16Array(detached);
    structuredClone(detached, { transfer: [detached] });
    const gone = '(it was transferred away); pass the bytes where they now live';
    await expect(pool.apply(sha256, [detached])).rejects.toThrow(new TypeError(`sha256: data is a detached ArrayBuffer ${gone}`));
    await expect(pool.apply(sha256, [view])).rejects.toThrow(new TypeError(`sha256: data is a view over a detached ArrayBuffer ${gone}`));
    await expect(pool.apply(sha256, ['x', 'hex' as never])).rejects.toThrow(/^sha256: options must be an object like \{ encoding: 'hex' \}, got string "hex"$/);
    await expect(pool.apply(sha256, ['x', { encoding: 'utf8' as never }])).rejects.toThrow(new RangeError(`sha256: options.encoding must be 'hex', 'base64' or 'buffer', got "utf8"`));
    await expect(pool.apply(sha256, ['x', { encoding: 5 as never }])).rejects.toThrow(TypeError);
    await expect(pool.apply(sha256, ['x', { encodig: 'hex' } as never])).rejects.toThrow(new TypeError("sha256: unknown option 'encodig' (did you mean 'encoding'?)"));
    await expect(pool.apply(sha256File, [dir, { enc: 'hex' } as never])).rejects.toThrow(/^sha256File: unknown option 'enc'/);
    await expect(pool.map(sha256, ['ok', 7 as never])).rejects.toThrow(/data must be/);
    await expect(pool.apply(sha256File, [7 as never])).rejects.toThrow(/^sha256File: path must be a string, Buffer, Uint8Array or file: URL, got number 7$/);
    await expect(pool.apply(sha256File, ['a\0b'])).rejects.toThrow(new TypeError('sha256File: path must not contain null bytes, got "a\\u0000b"'));
    await expect(pool.apply(sha256File, [Buffer.from('/x\0')])).rejects.toThrow(/must not contain null bytes/);
    await expect(pool.apply(sha256File, [new URL('https://example.com/x')])).rejects.toThrow(/^sha256File: path must be a file: URL, got https: URL/);
    await expect(pool.apply(sha256File, [dir, { encoding: 'hex64' as never }])).rejects.toThrow(RangeError);
    await expect(pool.apply(sha256File, [dir, dir, dir] as never)).rejects.toThrow(/sha256File takes 1 to 2 arguments/);
  });
});

describe('native code paths', () => {
  // What Linux reports of the CPU: x86 `flags`, arm64 `Features`; elsewhere only the portable
  // path is known to be there. Each list ends with the fastest path.
  const flags = cpuinfoWords('flags');
  const features = cpuinfoWords('Features');
  const paths =
    process.arch === 'arm64'
      ? ['portable', ...(features.includes('sha2') ? ['armv8'] : [])]
      : ['portable', ...(flags.includes('avx2') && flags.includes('bmi2') ? ['avx2'] : []), ...(flags.includes('sha_ni') && flags.includes('sse4_1') ? ['shani'] : [])];
  const native = backendInfo().native;

  it.runIf(native && process.env.SPINDLE_SHA256_PATH === undefined)('backendInfo() names the path in use, the fastest this CPU has', () => {
    expect(backendInfo().sha256Path).toBe(paths.at(-1));
  });

  it.runIf(native).each(paths)('SPINDLE_SHA256_PATH=%s: NIST vectors and random messages, single calls and map chunks', (path) => {
    const child = spawnSync(process.execPath, [fixture('sha256-path.mjs'), nist('SHA256ShortMsg.rsp'), nist('SHA256LongMsg.rsp')], {
      env: { ...process.env, SPINDLE_SHA256_PATH: path },
      encoding: 'utf8',
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout) as { path: string; vectors: { apply: string[]; map: string[] }; randomMismatches: number };
    expect(result.path).toBe(path);
    expect(result.vectors.apply).toEqual(vectors.map((v) => v.digest));
    expect(result.vectors.map).toEqual(vectors.map((v) => v.digest));
    expect(result.randomMismatches).toBe(0);
  });

  it.runIf(native)('spindle info names the path', () => {
    const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
    const out = spawnSync(process.execPath, [cli, 'info'], { env: { ...process.env, SPINDLE_SHA256_PATH: 'portable' }, encoding: 'utf8' });
    expect(out.stdout).toMatch(/^sha256 path\s+portable$/m);
  });
});

describe.runIf(backendInfo().native)('native hashing inside worker_threads', () => {
  function startWorker(workerData: object): { worker: Worker; started: Promise<unknown>; exited: Promise<number> } {
    const worker = new Worker(fixture('sha256-worker.mjs'), { workerData });
    const started = new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    return { worker, started, exited };
  }

  it('workers terminated or exiting while native threads hash tear down cleanly, again and again', async () => {
    const file = join(dir, 'teardown.bin');
    writeFileSync(file, Buffer.alloc(64 * 1024 * 1024, 3));
    for (let round = 0; round < 6; round++) {
      const { worker, started, exited } = startWorker({ file, ...(round % 2 === 1 ? { exitAfterMs: 20 } : {}) });
      expect(await started).toBe('started');
      const begun = Date.now();
      if (round % 2 === 0) await worker.terminate();
      await exited;
      expect(Date.now() - begun).toBeLessThan(5000);
    }
    // This process's own native pool still works.
    const { Pool } = await import('../src-ts/pool.js');
    const pool = new Pool({ backend: 'native', size: 2 });
    expect(await pool.apply(sha256File, [file])).toBe(hex(readFileSync(file)));
    await pool.terminate();
  });
});
