// A quick check that an addon binary works, whichever way it was built or installed: run as
//   SPINDLE_ADDON=path/to/spindle.node node test/smoke/addon-smoke.mjs [spindle entry]
// (or with no SPINDLE_ADDON, to check whatever the loader picks). Exits non-zero, saying why,
// on the first wrong answer. Used by .ci/addon-parity.mjs (node-gyp vs cmake-js builds) and
// .ci/packaging.mjs (installed tarballs).
import assert from 'node:assert/strict';

const entry = process.argv[2] ?? new URL('../../dist/index.js', import.meta.url).href;
const { Pool, kernels, SharedCounter, backendInfo } = await import(entry);

const info = backendInfo();
assert.equal(info.native, true, `the addon did not load: ${info.reason}`);
if (process.env.SPINDLE_ADDON) assert.equal(info.path, process.env.SPINDLE_ADDON, 'loaded another binary than SPINDLE_ADDON');
const expectFrom = process.env.SMOKE_EXPECT_PATH;
if (expectFrom) assert.ok(info.path.includes(expectFrom), `loaded ${info.path}, expected a path containing ${expectFrom}`);

const pool = new Pool({ backend: 'native', size: 2 });
assert.equal(await pool.apply(kernels.countPrimes, [0, 1e7]), 664579);
assert.equal(await pool.apply(kernels.noop, [42]), 42);
const counter = new SharedCounter(0);
await pool.map(kernels.increment, Array(1000).fill(counter), { chunkSize: 100 });
assert.equal(counter.value, 1000);
assert.deepEqual(await pool.starmap(kernels.countPrimes, [[0, 100], [100, 1000]]), [25, 143]);
const controller = new AbortController();
const cancelled = pool.apply(kernels.countPrimes, [0, 2e11], { signal: controller.signal });
setTimeout(() => controller.abort(), 20);
await assert.rejects(cancelled, { name: 'AbortError' });
await assert.rejects(pool.apply(kernels.countPrimes, [5, 1]), RangeError);
pool.close();
await pool.join();
console.log(`ok: ${info.path} (${info.cpuFeatures})`);
