// Option names: which ones a method knows, and what a mistyped one most likely meant.
//
// A typo in an options object (`maxQueu`, `chunksize`) would otherwise read as "not given", and
// the default would be used without a word. So every options object the public API takes is
// checked against the names its method knows, and an unknown one is a TypeError that names it
// and, where one is close, the option that was probably meant.
//
// What counts as given: an own, enumerable, string-keyed property whose value is not undefined.
// - `undefined` is "not given" for unknown names exactly as for known ones, so forwarding
//   `{ timeout: opts.timeout, chunkSize: opts.chunkSize }` to a method without chunkSize is fine.
// - Symbol keys are never options.
// - Inherited properties are not checked: an options object made with Object.create(defaults),
//   or a polluted Object.prototype, must not make every call fail. (Known names are still read
//   the ordinary way, inherited ones included.)

/** The option names one method (or one nested option, such as resourceLimits) knows. */
export class OptionNames {
  readonly names: readonly string[];
  readonly #known: ReadonlySet<string>;

  constructor(names: readonly string[]) {
    this.names = Object.freeze([...names]);
    this.#known = new Set(names);
  }

  has(name: string): boolean {
    return this.#known.has(name);
  }
}

export interface UnknownOptionContext {
  /** For a nested option: the outer option's name, e.g. 'resourceLimits'. */
  readonly parent?: string;
  /** The other methods that take `name`, for the hint "it is an option of ...". */
  readonly elsewhere?: (name: string) => readonly string[];
}

/**
 * The first own enumerable key of `options` that `known` lacks and whose value is not
 * undefined, or undefined when there is none. Allocates nothing: it runs on every call that
 * passes options.
 */
export function findUnknownOption(options: object, known: OptionNames): string | undefined {
  for (const key in options) {
    if (known.has(key) || !Object.prototype.hasOwnProperty.call(options, key)) continue;
    if ((options as Record<string, unknown>)[key] !== undefined) return key;
  }
  return undefined;
}

/**
 * `where: unknown option 'name' (...)`, where the parenthesis says, in order of preference:
 * which other methods take the option (it is real, just not here); which known option is close
 * enough to be the one meant; or every known option.
 */
export function unknownOptionError(where: string, name: string, known: OptionNames, context: UnknownOptionContext = {}): TypeError {
  const path = (n: string): string => (context.parent === undefined ? n : `${context.parent}.${n}`);
  const list = `known options${context.parent === undefined ? '' : ` of ${context.parent}`}: ${known.names.join(', ')}`;
  const takers = context.elsewhere?.(name) ?? [];
  const guess = closestName(name, known.names);
  let hint: string;
  if (takers.length > 0) hint = `${list}; '${name}' is an option of ${takers.join(', ')}`;
  else if (guess !== undefined) hint = `did you mean '${path(guess)}'?`;
  else hint = list;
  return new TypeError(`${where}: unknown option '${path(name)}' (${hint})`);
}

/**
 * The known name that `name` most likely misspells, or undefined when none is close. Case is
 * ignored (`chunksize` means `chunkSize`). Otherwise the nearest name by edit distance wins
 * (ties: the earlier in `known`), if it is within a third of the typed name's length, at least
 * one edit: close enough for typos, far enough that an unrelated name gets a list instead of
 * a misleading guess (`minSize` does not suggest `size`).
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const typed = name.toLowerCase();
  const limit = Math.max(1, Math.floor(typed.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const d = editDistance(typed, candidate.toLowerCase());
    if (d === 0) return candidate;
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Damerau-Levenshtein distance, in its optimal-string-alignment form: the fewest insertions,
 * deletions, substitutions and swaps of two adjacent characters that turn `a` into `b` (a
 * swap being the commonest typo, it costs one edit, not two).
 */
export function editDistance(a: string, b: string): number {
  // Three rolling rows of the usual (a.length + 1) x (b.length + 1) table.
  let older = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, older[j - 2]! + 1);
      current[j] = d;
    }
    [older, previous, current] = [previous, current, older];
  }
  return previous[b.length]!;
}
