// The JS twin of src-cpp/core/primes/sieve.cpp: the same segmented sieve of Eratosthenes on a
// mod-30 wheel, with the same pre-sieve, segment and chunk sizes and the same ways of crossing
// off (unrolled wheel turns for small and medium primes, single steps for large ones, a bucket
// sieve for huge ones), so both backends count identically. The C++ file explains the design at
// more length; this one explains what is JS-specific, mostly how the hot loops are written so
// that V8 compiles them well ("The hot loops" below). Unlike the C++ kernel it sieves a call's
// whole range in one go: a worker runs one call at a time, so there are no units.
//
// Exactness: arithmetic on the range's numbers stays exact in doubles: nothing passes 2^53 + 30,
// what passes 2^53 is a multiple of 30 (so even, hence exact), and a product p*q that could pass
// it further is never formed (see firstMultiple). Bit operations only touch sieve bytes and
// words, wheel masks and packed multiples (< 2^29); byte indices of the range (up to 2^53 / 30)
// use ordinary arithmetic.
import { noContext, type KernelContext } from './types.js';

const MAX_BOUND = 2 ** 53;

// ---------------------------------------------------------------------------------------------
// The mod-30 wheel. Byte i stands for the numbers [30i, 30i + 30); bit k of it for
// 30i + RESIDUES[k], the 8 numbers there coprime to 30 (2, 3 and 5 are counted on the side).
// A set bit means "not known to be composite".
//
// A sieving prime p = 30a + RESIDUES[c] (its class c) crosses off p*q for the multipliers q
// coprime to 30, q = 30b + RESIDUES[j] (the multiple's phase j). That multiple lies in byte
// p*b + a*RESIDUES[j] + RESIDUES[c]*RESIDUES[j]/30 at the bit of RESIDUES[c]*RESIDUES[j] % 30,
// so going from phase j to j+1 (7 wraps to 0) moves it GAP[j]*a + CARRY[8c + j] bytes on, and a
// whole turn of the wheel moves it p bytes. Tables indexed [8c + j] are flattened [c][j].
// ---------------------------------------------------------------------------------------------
const RESIDUES = [1, 7, 11, 13, 17, 19, 23, 29];
const nextResidue = (j: number): number => (j === 7 ? 31 : RESIDUES[j + 1]!);

const tableOf = <T extends Uint8Array | Int32Array>(array: T, entry: (i: number) => number): T => {
  for (let i = 0; i < array.length; i++) array[i] = entry(i);
  return array;
};

/** CLASS_OF[n % 30]: the index of n's residue, for n coprime to 30 (0 otherwise). */
const CLASS_OF = tableOf(new Uint8Array(30), (r) => Math.max(RESIDUES.indexOf(r), 0));
const GAP = tableOf(new Int32Array(8), (j) => nextResidue(j) - RESIDUES[j]!);
const CARRY = tableOf(new Int32Array(64), (i) => {
  const r = RESIDUES[i >> 3]!;
  return Math.floor((r * nextResidue(i & 7)) / 30) - Math.floor((r * RESIDUES[i & 7]!) / 30);
});
/** AND-mask that clears the bit of a class-c prime's phase-j multiple. */
const CLEAR = tableOf(new Uint8Array(64), (i) => ~(1 << RESIDUES.indexOf((RESIDUES[i >> 3]! * RESIDUES[i & 7]!) % 30)) & 0xff);
/** Offset of the phase-j multiple from the phase-0 multiple of its turn, less a * (RESIDUES[j] - 1). */
const TURN_CARRY = tableOf(new Int32Array(64), (i) => Math.floor((RESIDUES[i >> 3]! * RESIDUES[i & 7]!) / 30));
/** TO_COPRIME[q % 30]: how far q is below the next multiplier coprime to 30. */
const TO_COPRIME = tableOf(new Uint8Array(30), (r) => {
  let d = 0;
  while (!RESIDUES.includes((r + d) % 30)) d++;
  return d;
});
/** AT_LEAST[x]: the bits of a byte whose numbers are >= 30i + x; its complement, those below. */
const AT_LEAST = tableOf(new Uint8Array(31), (x) => RESIDUES.reduce((m, r, k) => (r >= x ? m | (1 << k) : m), 0));

// ---------------------------------------------------------------------------------------------
// Sizes, as in sieve.hpp / sieve.cpp.
// ---------------------------------------------------------------------------------------------
const SEGMENT_LOG2 = 19;
const SEGMENT_BYTES = 1 << SEGMENT_LOG2; // kSegmentBytes, 512 KiB
const L1_CHUNK = 32 * 1024;
/** Sieving primes activated between two cancellation polls: about a millisecond of work. */
const ACTIVATION_BATCH = 1 << 14;
const SMALL_LIMIT = 3000;
const TURNS_LIMIT = SEGMENT_BYTES / 4;
const BUCKETED_PRIME = 16 * SEGMENT_BYTES;
const LARGEST_SIEVING_LIMIT = 94906265; // isqrt(2^53 - 1): no range needs a larger sieving prime
const LONGEST_STEP = 6 * Math.floor(LARGEST_SIEVING_LIMIT / 30) + 6;
const BUCKETS = 2 ** Math.ceil(Math.log2(Math.floor(LONGEST_STEP / SEGMENT_BYTES) + 2));

// ---------------------------------------------------------------------------------------------
// Pre-sieving: multiples of 7..47 come from periodic patterns, groups {7,11,13,17}, {19,23,29},
// {31,37,41}, {43,47}, ANDed into each fresh chunk in one pass (sieve.cpp explains why 47).
// JS-specific: the AND runs on 32-bit words, but a pattern is read from any byte phase, so every
// pattern is kept in 4 copies shifted by 0..3 bytes and the copy matching the phase's alignment
// is read on word boundaries (chunk starts are multiples of 4). All copies of all patterns share
// one array, which the hot loop then reads as a constant (see "The hot loops").
// ---------------------------------------------------------------------------------------------
const PRESIEVED_PRIMES = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47];
const FIRST_SIEVING_PRIME = 53;
const MAX_PATTERN_PERIOD = 1 << 16;
const PRESIEVE_CHUNK = 2016;

interface Patterns {
  /** Each group's period in bytes. There are a multiple of 4 groups (padded with all-ones patterns). */
  periods: Int32Array;
  /** words[at[4g + s] + w] holds group g's pattern bytes 4w + s .. 4w + s + 3, in the sieve words' byte order. */
  words: Int32Array;
  at: Int32Array;
}

interface Group {
  period: number;
  /** The pattern from phase 0, period + PRESIEVE_CHUNK + 8 bytes long. */
  bytes: Uint8Array;
}

function makeGroup(primes: number[]): Group {
  // The bits repeat every `product` bytes. The period is the first multiple of it of at least
  // PRESIEVE_CHUNK bytes, so that advancing a phase by one chunk wraps it at most once. A chunk
  // read from a phase in [0, period) then ends before byte period + PRESIEVE_CHUNK + 3 (a partial
  // last word reads 3 bytes on), and the shifted copies start up to 3 bytes later.
  const product = primes.reduce((product, p) => product * p, 1);
  const period = Math.ceil(PRESIEVE_CHUNK / product) * product;
  const byteAt = (i: number): number =>
    RESIDUES.reduce((bits, r, k) => (primes.some((p) => (30 * i + r) % p === 0) ? bits : bits | (1 << k)), 0);
  const bytes = new Uint8Array(period + PRESIEVE_CHUNK + 8);
  for (let i = 0; i < bytes.length; i++) bytes[i] = byteAt(i % period);
  return { period, bytes };
}

function makePatterns(): Patterns {
  const groups: Group[] = [];
  for (let first = 0; first < PRESIEVED_PRIMES.length; ) {
    let end = first + 1;
    let product = PRESIEVED_PRIMES[first]!;
    while (end < PRESIEVED_PRIMES.length && product * PRESIEVED_PRIMES[end]! <= MAX_PATTERN_PERIOD) product *= PRESIEVED_PRIMES[end++]!;
    groups.push(makeGroup(PRESIEVED_PRIMES.slice(first, end)));
    first = end;
  }
  while (groups.length % 4 !== 0) groups.push(makeGroup([]));
  // Each shifted copy is as long as the group's bytes allow for the largest shift, 3.
  const copyWords = groups.map(({ bytes }) => (bytes.length - 4) >> 2);
  const at = new Int32Array(4 * groups.length);
  for (let i = 1; i < at.length; i++) at[i] = at[i - 1]! + copyWords[(i - 1) >> 2]!;
  const words = new Int32Array(at[at.length - 1]! + copyWords[groups.length - 1]!);
  groups.forEach(({ bytes }, g) => {
    for (let s = 0; s < 4; s++) words.set(new Int32Array(bytes.buffer.slice(s, s + 4 * copyWords[g]!)), at[4 * g + s]!);
  });
  return { periods: Int32Array.from(groups, (group) => group.period), words, at };
}

/**
 * The true prime bits of the first bytes, up to FIRST_SIEVING_PRIME, which the pre-sieve gets
 * wrong: it clears the pre-sieved primes themselves and keeps 1.
 */
const SMALL_PRIME_BITS = tableOf(new Uint8Array(Math.floor(FIRST_SIEVING_PRIME / 30) + 1), (i) =>
  RESIDUES.reduce((bits, r, k) => {
    const n = 30 * i + r;
    let prime = n > 1;
    for (let d = 2; d * d <= n; d++) prime &&= n % d !== 0;
    return prime ? bits | (1 << k) : bits;
  }, 0),
);

// ---------------------------------------------------------------------------------------------
// Crossing off. A multiple travels packed as (byte offset from its segment's start) << 3 | phase.
// Small primes (p < SMALL_LIMIT) sieve each L1 chunk right after it is pre-sieved, medium ones
// (p < TURNS_LIMIT) the whole segment, both with whole wheel turns unrolled; large ones step one
// multiple at a time; huge ones (p >= BUCKETED_PRIME) wait in the bucket of the segment their
// next multiple falls in.
// ---------------------------------------------------------------------------------------------

/**
 * The first multiple p*q >= max(p^2, 30*firstByte) with q coprime to 30, packed relative to
 * firstByte. p*q itself may pass 2^53 (by up to 6p), so its offset is assembled from exact parts.
 */
function firstMultiple(p: number, firstByte: number): number {
  const segmentStart = 30 * firstByte;
  const start = Math.max(p * p, segmentStart);
  const remainder = start % p; // % on doubles is exact
  const roundUp = remainder > 0 ? 1 : 0;
  const q = (start - remainder) / p + roundUp; // ceil(start / p)
  const skip = TO_COPRIME[q % 30]!;
  const offset = start - remainder - segmentStart + p * (roundUp + skip); // p*(q + skip) - segmentStart
  return (Math.floor(offset / 30) << 3) | CLASS_OF[(q + skip) % 30]!;
}

/** The set bits of x, an int32. */
function popcount32(x: number): number {
  x = (x - ((x >>> 1) & 0x55555555)) | 0;
  x = ((x & 0x33333333) + ((x >>> 2) & 0x33333333)) | 0;
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * The set bits of words[0, n). V8 has no popcount instruction to offer, so this is Harley and
 * Seal's method: carry-save adders sum 8 words at a time into bit-sliced counters `ones`, `twos`
 * and `fours`, and only the carries out of `fours` (worth 8 each) are popcounted: one popcount
 * per 8 words instead of 8 (measured: a third less time counting).
 */
function countBits(words: Int32Array, n: number): number {
  let eights = 0;
  let ones = 0, twos = 0, fours = 0;
  let w = 0;
  for (; w + 8 <= n; w += 8) {
    // A carry-save adder: counter + a + b = (sum bit, carry); u is counter ^ a.
    let a = words[w]!, b = words[w + 1]!;
    let u = ones ^ a;
    const twosA = (ones & a) | (u & b);
    ones = u ^ b;
    a = words[w + 2]!; b = words[w + 3]!;
    u = ones ^ a;
    const twosB = (ones & a) | (u & b);
    ones = u ^ b;
    u = twos ^ twosA;
    const foursA = (twos & twosA) | (u & twosB);
    twos = u ^ twosB;
    a = words[w + 4]!; b = words[w + 5]!;
    u = ones ^ a;
    const twosC = (ones & a) | (u & b);
    ones = u ^ b;
    a = words[w + 6]!; b = words[w + 7]!;
    u = ones ^ a;
    const twosD = (ones & a) | (u & b);
    ones = u ^ b;
    u = twos ^ twosC;
    const foursB = (twos & twosC) | (u & twosD);
    twos = u ^ twosD;
    u = fours ^ foursA;
    eights += popcount32((fours & foursA) | (u & foursB));
    fours = u ^ foursB;
  }
  let total = 8 * eights + 4 * popcount32(fours) + 2 * popcount32(twos) + popcount32(ones);
  for (; w < n; w++) total += popcount32(words[w]!);
  return total;
}

// ---------------------------------------------------------------------------------------------
// The hot loops, JS-specific. V8 treats a typed-array store as a write that may change any object,
// so a loop that stores into an array it got from a parameter, a field or a mutable variable
// reloads that array and every other one it uses (map check, length, data pointer) on every
// iteration. The loops below avoid that by closing over `const`s: they are closures made once per
// thread by makeKernel, and V8 compiles a function of which only one closure exists against that
// closure's context, so the arrays become constants in the machine code, with their address and
// length as immediates (module-level constants would not: bundlers emit them as `var`s). What it
// takes, as measured with Node 20 (V8 11.3):
//  - the arrays lie outside V8's heap, where they do not move: typed arrays made with a length
//    over 64 bytes do, and the small tables are copied onto ArrayBuffers of their own (offHeap);
//  - the consts are not bound by destructuring, which V8 does not treat as constant;
//  - a hot loop is not nested in another loop of the same function (presieve calls andPatterns
//    for this reason; a loop inlined from a callee is fine).
// Turning the arrays into constants this way cut the time of a count to 4e9 by a third. Indices
// are written `(i + o) | 0`: values are below 2^26 anyway, and `| 0` spares V8 an overflow check.
// ---------------------------------------------------------------------------------------------
interface Kernel {
  /** The segment, SEGMENT_BYTES bytes; `words` is the same memory. */
  sieve: Uint8Array;
  words: Int32Array;
  /** Fills sieve[start, start + len) (start a multiple of 4) for the global bytes from firstByte. */
  presieve(start: number, firstByte: number, len: number): void;
  /**
   * Crosses off primes[begin, end) in sieve[start, stop) with whole turns unrolled; their
   * multiples come packed relative to `start` and leave packed relative to `stop`.
   */
  crossOffInTurns(primes: Uint32Array, multiples: Uint32Array, begin: number, end: number, start: number, stop: number): void;
  /** The same in sieve[0, size), one multiple at a time (see crossOffOne). */
  crossOffStepwise(primes: Uint32Array, multiples: Uint32Array, begin: number, end: number, size: number): void;
  /** Crosses off p one multiple at a time in sieve[0, size); returns its next multiple relative to `size`. */
  crossOffOne(size: number, p: number, next: number): number;
}

/** A copy of a table on an ArrayBuffer of its own, which V8 keeps outside its heap. */
function offHeap<T extends Uint8Array | Int32Array>(table: T): T {
  const buffer = new ArrayBuffer(table.byteLength);
  const copy = (table instanceof Uint8Array ? new Uint8Array(buffer) : new Int32Array(buffer)) as T;
  copy.set(table);
  return copy;
}

/** Call once per thread: a second kernel would make every closure below a second one, and slow. */
function makeKernel(): Kernel {
  const sieve = new Uint8Array(SEGMENT_BYTES);
  const words = new Int32Array(sieve.buffer);
  const patterns = makePatterns();
  const periods = patterns.periods;
  const patternWords = patterns.words;
  const patternAt = patterns.at;
  const phases = new Int32Array(periods.length);
  const classOf = offHeap(CLASS_OF);
  const gap = offHeap(GAP);
  const carry = offHeap(CARRY);
  const clear = offHeap(CLEAR);
  const turnCarry = offHeap(TURN_CARRY);

  function presieve(start: number, firstByte: number, len: number): void {
    const groups = periods.length;
    for (let g = 0; g < groups; g++) phases[g] = firstByte % periods[g]!;
    for (let done = 0; done < len; done += PRESIEVE_CHUNK) {
      const n = Math.min(PRESIEVE_CHUNK, len - done);
      const out = (start + done) >> 2;
      const outEnd = out + ((n + 3) >> 2);
      for (let g = 0; g < groups; g += 4) {
        // Pattern word w + a lines up with sieve word w, and so on.
        const ph0 = phases[g]!, ph1 = phases[g + 1]!, ph2 = phases[g + 2]!, ph3 = phases[g + 3]!;
        const a = patternAt[4 * g + (ph0 & 3)]! + (ph0 >> 2) - out;
        const b = patternAt[4 * g + 4 + (ph1 & 3)]! + (ph1 >> 2) - out;
        const c = patternAt[4 * g + 8 + (ph2 & 3)]! + (ph2 >> 2) - out;
        const d = patternAt[4 * g + 12 + (ph3 & 3)]! + (ph3 >> 2) - out;
        andPatterns(out, outEnd, g === 0, a, b, c, d);
      }
      for (let g = 0; g < groups; g++) {
        const phase = phases[g]! + n;
        phases[g] = phase >= periods[g]! ? phase - periods[g]! : phase;
      }
    }
  }

  /** words[out, outEnd) = (or &=, unless `first`) the AND of the pattern words at the 4 offsets from each. */
  function andPatterns(out: number, outEnd: number, first: boolean, a: number, b: number, c: number, d: number): void {
    if (first) {
      for (let w = out; w < outEnd; w++) words[w] = patternWords[(w + a) | 0]! & patternWords[(w + b) | 0]! & patternWords[(w + c) | 0]! & patternWords[(w + d) | 0]!;
    } else {
      for (let w = out; w < outEnd; w++) words[w] &= patternWords[(w + a) | 0]! & patternWords[(w + b) | 0]! & patternWords[(w + c) | 0]! & patternWords[(w + d) | 0]!;
    }
  }

  /**
   * Crosses off p in sieve[start, end): single steps to the end of the current turn, whole turns
   * of 8 multiples at fixed offsets, then single steps into the last partial turn. The turn loop
   * is written out per class, like the C++ template, so that its 8 masks are literals and its 7
   * offsets stay in registers (9 % faster than masks in variables, which V8 spilled). Returns the
   * next multiple packed relative to `end`.
   */
  function crossOffTurns(start: number, end: number, p: number, next: number): number {
    const a = (p / 30) | 0;
    const c = classOf[p % 30]!;
    const cls = c << 3;
    let i = start + (next >>> 3);
    let phase = next & 7;
    for (; phase !== 0; phase = (phase + 1) & 7) {
      if (i >= end) return ((i - end) << 3) | phase;
      sieve[i] &= clear[cls + phase]!;
      i = (i + gap[phase]! * a + carry[cls + phase]!) | 0;
    }
    const o1 = 6 * a + turnCarry[cls + 1]!, o2 = 10 * a + turnCarry[cls + 2]!, o3 = 12 * a + turnCarry[cls + 3]!;
    const o4 = 16 * a + turnCarry[cls + 4]!, o5 = 18 * a + turnCarry[cls + 5]!, o6 = 22 * a + turnCarry[cls + 6]!;
    const o7 = 28 * a + turnCarry[cls + 7]!;
    const limit = end - o7;
    // The masks of case c are row c of CLEAR.
    switch (c) {
      case 0: // p = 30a + 1
        for (; i < limit; i = (i + p) | 0) {
          sieve[i] &= 0xfe; sieve[(i + o1) | 0] &= 0xfd; sieve[(i + o2) | 0] &= 0xfb; sieve[(i + o3) | 0] &= 0xf7;
          sieve[(i + o4) | 0] &= 0xef; sieve[(i + o5) | 0] &= 0xdf; sieve[(i + o6) | 0] &= 0xbf; sieve[(i + o7) | 0] &= 0x7f;
        }
        break;
      case 1: // p = 30a + 7
        for (; i < limit; i = (i + p) | 0) {
          sieve[i] &= 0xfd; sieve[(i + o1) | 0] &= 0xdf; sieve[(i + o2) | 0] &= 0xef; sieve[(i + o3) | 0] &= 0xfe;
          sieve[(i + o4) | 0] &= 0x7f; sieve[(i + o5) | 0] &= 0xf7; sieve[(i + o6) | 0] &= 0xfb; sieve[(i + o7) | 0] &= 0xbf;
        }
        break;
      case 2: // p = 30a + 11
        for (; i < limit; i = (i + p) | 0) {
          sieve[i] &= 0xfb; sieve[(i + o1) | 0] &= 0xef; sieve[(i + o2) | 0] &= 0xfe; sieve[(i + o3) | 0] &= 0xbf;
          sieve[(i + o4) | 0] &= 0xfd; sieve[(i + o5) | 0] &= 0x7f; sieve[(i + o6) | 0] &= 0xf7; sieve[(i + o7) | 0] &= 0xdf;
        }
        break;
      case 3: // p = 30a + 13
        for (; i < limit; i = (i + p) | 0) {
          sieve[i] &= 0xf7; sieve[(i + o1) | 0] &= 0xfe; sieve[(i + o2) | 0] &= 0xbf; sieve[(i + o3) | 0] &= 0xdf;
          sieve[(i + o4) | 0] &= 0xfb; sieve[(i + o5) | 0] &= 0xfd; sieve[(i + o6) | 0] &= 0x7f; sieve[(i + o7) | 0] &= 0xef;
        }
        break;
      case 4: // p = 30a + 17
        for (; i < limit; i = (i + p) | 0) {
          sieve[i] &= 0xef; sieve[(i + o1) | 0] &= 0x7f; sieve[(i + o2) | 0] &= 0xfd; sieve[(i + o3) | 0] &= 0xfb;
          sieve[(i + o4) | 0] &= 0xdf; sieve[(i + o5) | 0] &= 0xbf; sieve[(i + o6) | 0] &= 0xfe; sieve[(i + o7) | 0] &= 0xf7;
        }
        break;
      case 5: // p = 30a + 19
        for (; i < limit; i = (i + p) | 0) {
          sieve[i] &= 0xdf; sieve[(i + o1) | 0] &= 0xf7; sieve[(i + o2) | 0] &= 0x7f; sieve[(i + o3) | 0] &= 0xfd;
          sieve[(i + o4) | 0] &= 0xbf; sieve[(i + o5) | 0] &= 0xfe; sieve[(i + o6) | 0] &= 0xef; sieve[(i + o7) | 0] &= 0xfb;
        }
        break;
      case 6: // p = 30a + 23
        for (; i < limit; i = (i + p) | 0) {
          sieve[i] &= 0xbf; sieve[(i + o1) | 0] &= 0xfb; sieve[(i + o2) | 0] &= 0xf7; sieve[(i + o3) | 0] &= 0x7f;
          sieve[(i + o4) | 0] &= 0xfe; sieve[(i + o5) | 0] &= 0xef; sieve[(i + o6) | 0] &= 0xdf; sieve[(i + o7) | 0] &= 0xfd;
        }
        break;
      default: // p = 30a + 29
        for (; i < limit; i = (i + p) | 0) {
          sieve[i] &= 0x7f; sieve[(i + o1) | 0] &= 0xbf; sieve[(i + o2) | 0] &= 0xdf; sieve[(i + o3) | 0] &= 0xef;
          sieve[(i + o4) | 0] &= 0xf7; sieve[(i + o5) | 0] &= 0xfb; sieve[(i + o6) | 0] &= 0xfd; sieve[(i + o7) | 0] &= 0xfe;
        }
    }
    // The phase-7 multiple lies beyond the segment, so this stops before phase wraps.
    for (; i < end; phase++) {
      sieve[i] &= clear[cls + phase]!;
      i = (i + gap[phase]! * a + carry[cls + phase]!) | 0;
    }
    return ((i - end) << 3) | phase;
  }

  function crossOffOne(size: number, p: number, next: number): number {
    const a = (p / 30) | 0;
    const cls = classOf[p % 30]! << 3;
    let i = next >>> 3;
    let phase = next & 7;
    while (i < size) {
      sieve[i] &= clear[cls + phase]!;
      i = (i + gap[phase]! * a + carry[cls + phase]!) | 0;
      phase = (phase + 1) & 7;
    }
    return ((i - size) << 3) | phase;
  }

  return {
    sieve,
    words,
    presieve,
    crossOffInTurns(primes, multiples, begin, end, start, stop) {
      for (let k = begin; k < end; k++) multiples[k] = crossOffTurns(start, stop, primes[k]!, multiples[k]!);
    },
    crossOffStepwise(primes, multiples, begin, end, size) {
      for (let k = begin; k < end; k++) multiples[k] = crossOffOne(size, primes[k]!, multiples[k]!);
    },
    crossOffOne,
  };
}

function isqrt(n: number): number {
  let r = Math.floor(Math.sqrt(n));
  while (r * r > n) r--;
  while ((r + 1) * (r + 1) <= n) r++;
  return r;
}

// ---------------------------------------------------------------------------------------------
// The segment loop. One instance per JS thread (module state), reused by every call.
// ---------------------------------------------------------------------------------------------
interface SievingPrimes {
  limit: number;
  /** Every prime FIRST_SIEVING_PRIME <= p <= limit, ascending. */
  primes: Uint32Array;
}

type OnSegment = (words: Int32Array, wordCount: number, firstByte: number) => void;

class SegmentedSieve {
  private readonly kernel = makeKernel();
  private multiples = new Uint32Array(1024);
  private readonly buckets: Uint32Array[] = Array.from({ length: BUCKETS }, () => new Uint32Array(256));
  /** Entries (prime, packed next multiple) in each bucket. */
  private readonly bucketLengths = new Int32Array(BUCKETS);
  private primes: Uint32Array = new Uint32Array(0);
  private smallEnd = 0;
  private turnsEnd = 0;
  private stepwiseEnd = 0;
  private activated = 0;
  private segmentIndex = 0;

  /** Sieves [lo, hi), handing each finished segment (bits outside [lo, hi) cleared) to onSegment. */
  run(lo: number, hi: number, table: SievingPrimes, ctx: KernelContext, onSegment: OnSegment): void {
    if (lo >= hi) return;
    if (table.limit < isqrt(hi - 1)) throw new Error('countPrimes: the sieving primes do not reach sqrt(hi)');
    this.start(table);
    const { sieve, words } = this.kernel;
    const firstByte = Math.floor(lo / 30);
    const endByte = Math.ceil(hi / 30);
    for (let seg = firstByte; seg < endByte; seg += SEGMENT_BYTES, this.segmentIndex++) {
      if (ctx.cancelled()) return;
      const len = Math.min(SEGMENT_BYTES, endByte - seg);
      if (!this.activatePrimes(seg, len, ctx)) return;
      this.sieveSegment(seg, len);
      if (seg === firstByte) sieve[0] &= AT_LEAST[lo - 30 * firstByte]!;
      if (seg + len === endByte) sieve[len - 1] &= ~AT_LEAST[hi - 30 * (endByte - 1)]!;
      const wordCount = (len + 3) >> 2;
      sieve.fill(0, len, wordCount << 2);
      onSegment(words, wordCount, seg);
      ctx.progress(Math.min(hi, 30 * (seg + len)) - Math.max(lo, 30 * seg));
    }
  }

  private start(table: SievingPrimes): void {
    this.bucketLengths.fill(0);
    this.primes = table.primes;
    this.smallEnd = lowerBound(this.primes, SMALL_LIMIT);
    this.turnsEnd = lowerBound(this.primes, TURNS_LIMIT);
    this.stepwiseEnd = lowerBound(this.primes, BUCKETED_PRIME);
    if (this.multiples.length < this.stepwiseEnd) this.multiples = new Uint32Array(this.stepwiseEnd);
    this.activated = 0;
    this.segmentIndex = 0;
  }

  /**
   * Primes join once their square falls inside the segment, so the active ones are a prefix.
   * The first segment of a range far from 0 activates every sieving prime at once (5.4 million
   * near 2^53, most of a second), so this polls for cancellation every ACTIVATION_BATCH primes;
   * false means cancelled (the sieve is then abandoned: start() resets it for the next call).
   */
  private activatePrimes(seg: number, len: number, ctx: KernelContext): boolean {
    const segEnd = 30 * (seg + len);
    const primes = this.primes;
    for (let polled = this.activated; this.activated < primes.length && primes[this.activated]! * primes[this.activated]! < segEnd; this.activated++) {
      if (this.activated - polled === ACTIVATION_BATCH) {
        if (ctx.cancelled()) return false;
        polled = this.activated;
      }
      const next = firstMultiple(primes[this.activated]!, seg);
      if (this.activated < this.stepwiseEnd) this.multiples[this.activated] = next;
      else this.toBucket(this.segmentIndex, primes[this.activated]!, next);
    }
    return true;
  }

  /** Files a huge prime under the segment its next multiple falls in, counting from `segment`. */
  private toBucket(segment: number, prime: number, next: number): void {
    const byte = next >>> 3;
    const b = (segment + (byte >>> SEGMENT_LOG2)) % BUCKETS;
    let bucket = this.buckets[b]!;
    const n = this.bucketLengths[b]!;
    if (2 * n + 2 > bucket.length) {
      const grown = new Uint32Array(2 * bucket.length);
      grown.set(bucket);
      this.buckets[b] = bucket = grown;
    }
    bucket[2 * n] = prime;
    bucket[2 * n + 1] = ((byte & (SEGMENT_BYTES - 1)) << 3) | (next & 7);
    this.bucketLengths[b] = n + 1;
  }

  private sieveSegment(seg: number, len: number): void {
    const { kernel, primes, multiples } = this;
    const active = this.activated;
    const smallEnd = Math.min(active, this.smallEnd);
    for (let chunk = 0; chunk < len; chunk += L1_CHUNK) {
      const end = Math.min(chunk + L1_CHUNK, len);
      kernel.presieve(chunk, seg + chunk, end - chunk);
      kernel.crossOffInTurns(primes, multiples, 0, smallEnd, chunk, end);
    }
    for (let b = seg; b < SMALL_PRIME_BITS.length && b < seg + len; b++) kernel.sieve[b - seg] = SMALL_PRIME_BITS[b]!;
    kernel.crossOffInTurns(primes, multiples, this.smallEnd, Math.min(active, this.turnsEnd), 0, len);
    kernel.crossOffStepwise(primes, multiples, this.turnsEnd, Math.min(active, this.stepwiseEnd), len);

    const b = this.segmentIndex % BUCKETS;
    const bucket = this.buckets[b]!;
    const entries = this.bucketLengths[b]!;
    for (let e = 0; e < entries; e++) {
      const prime = bucket[2 * e]!;
      this.toBucket(this.segmentIndex + 1, prime, kernel.crossOffOne(len, prime, bucket[2 * e + 1]!));
    }
    this.bucketLengths[b] = 0;
  }
}

function lowerBound(sorted: Uint32Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Made on first use: importing the module (which every pool does) allocates no sieve. */
let sharedSegments: SegmentedSieve | undefined;
const segments = (): SegmentedSieve => (sharedSegments ??= new SegmentedSieve());

// ---------------------------------------------------------------------------------------------
// Sieving primes: built by the sieve itself from the table up to sqrt(limit) (below
// FIRST_SIEVING_PRIME^2 the pre-sieve alone is exact), cached for the module and grown on demand.
// ---------------------------------------------------------------------------------------------
// Building the table up to sqrt(2^53) sieves 9.5e7 numbers (a few hundred ms in JS), so it polls
// for cancellation like any sieve run; a cancelled build gives undefined and caches nothing.
function buildSievingPrimes(limit: number, ctx: KernelContext): SievingPrimes | undefined {
  const smaller: SievingPrimes | undefined =
    limit < FIRST_SIEVING_PRIME * FIRST_SIEVING_PRIME
      ? { limit, primes: new Uint32Array(0) }
      : buildSievingPrimes(isqrt(limit), ctx);
  if (smaller === undefined) return undefined;
  let found: Uint32Array = new Uint32Array(Math.ceil((1.3 * limit) / Math.log(Math.max(limit, 2))) + 64);
  let count = 0;
  // Polls the call's cancellation, but the numbers sieved here are not the call's progress.
  const pollOnly: KernelContext = { cancelled: () => ctx.cancelled(), progress: () => {} };
  segments().run(FIRST_SIEVING_PRIME, limit + 1, smaller, pollOnly, (words, wordCount, firstByte) => {
    for (let w = 0; w < wordCount; w++) {
      for (let bits = words[w]!; bits !== 0; bits &= bits - 1) {
        const bit = 31 - Math.clz32(bits & -bits);
        if (count === found.length) found = growTo(found, 2 * found.length);
        found[count++] = 30 * (firstByte + 4 * w + (bit >> 3)) + RESIDUES[bit & 7]!;
      }
    }
  });
  if (ctx.cancelled()) return undefined;
  return { limit, primes: found.slice(0, count) };
}

function growTo(array: Uint32Array, length: number): Uint32Array {
  const grown = new Uint32Array(length);
  grown.set(array);
  return grown;
}

let cachedPrimes: SievingPrimes | undefined;

/** The cached table reaching at least `limit`, built if need be; undefined when cancelled meanwhile. */
function sievingPrimes(limit: number, ctx: KernelContext): SievingPrimes | undefined {
  if (cachedPrimes === undefined || cachedPrimes.limit < limit) {
    const previous = cachedPrimes?.limit ?? 0;
    // Grow geometrically, so that a run of calls with rising hi rebuilds only a few times.
    const built = buildSievingPrimes(Math.max(limit, Math.min(LARGEST_SIEVING_LIMIT, Math.max(2 * previous, 1 << 16))), ctx);
    if (built === undefined) return undefined;
    cachedPrimes = built;
  }
  return cachedPrimes;
}

/**
 * The number of primes p with lo <= p < hi, for integers 0 <= lo <= hi <= 2^53. Polls
 * ctx.cancelled() between segments and returns early (any value) once it is true; reports the
 * numbers each segment covered through ctx.progress, hi - lo in all.
 */
export function countPrimesRange(lo: number, hi: number, ctx: KernelContext = noContext): number {
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || lo > hi || hi > MAX_BOUND) {
    throw new RangeError(`countPrimesRange: need integers 0 <= lo <= hi <= 2^53, got lo = ${lo}, hi = ${hi}`);
  }
  let total = 0;
  for (const p of [2, 3, 5]) if (lo <= p && p < hi) total++;
  const table = sievingPrimes(hi >= 2 ? isqrt(hi - 1) : 0, ctx);
  if (table === undefined) return total; // cancelled: any value will do
  segments().run(lo, hi, table, ctx, (words, wordCount) => {
    total += countBits(words, wordCount);
  });
  return total;
}
