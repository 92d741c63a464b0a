// The command line of `spindle sha256sum`, read as GNU coreutils 9.1 reads sha256sum's, with
// glibc getopt_long's rules: options and files in any order (unless POSIXLY_CORRECT is set),
// "--" ends the options, short options cluster (-bz), long options may be abbreviated to any
// unambiguous prefix, and the same checks and messages for bad combinations. Three long
// options are spindle's own; none shares a prefix with coreutils' options that would make one
// of theirs ambiguous.

export interface Sha256sumOptions {
  check: boolean;
  /** -b 1, -t 0, neither -1 (coreutils' tri-state `binary`; --tag sets 1). */
  binary: -1 | 0 | 1;
  tag: boolean;
  zero: boolean;
  ignoreMissing: boolean;
  quiet: boolean;
  status: boolean;
  strict: boolean;
  warn: boolean;
  /** --jobs=N: files hashed at once (spindle). */
  jobs: number | undefined;
  /** --progress / --no-progress (spindle); undefined: when stderr is a terminal. */
  progress: boolean | undefined;
  /** Operands; ["-"] (standard input) when none is given. */
  files: string[];
}

export type ParsedCommandLine = { kind: 'run'; options: Sha256sumOptions } | { kind: 'help' } | { kind: 'version' };

/** A bad command line: `message` goes after "<program>: ", then coreutils' "Try '... --help'" line; exit status 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Action = (o: Sha256sumOptions, value: string | undefined) => 'help' | 'version' | void;

interface LongOption {
  name: string;
  takesValue: boolean;
  action: Action;
}

const setBinary = (o: Sha256sumOptions): void => void (o.binary = 1);
const setText = (o: Sha256sumOptions): void => void (o.binary = 0);
const setCheck = (o: Sha256sumOptions): void => void (o.check = true);
const setWarn = (o: Sha256sumOptions): void => {
  o.status = false;
  o.warn = true;
  o.quiet = false;
};
const setZero = (o: Sha256sumOptions): void => void (o.zero = true);

/** coreutils' long_options, in its order (which ambiguity messages follow), then spindle's. */
const LONG_OPTIONS: LongOption[] = [
  { name: 'check', takesValue: false, action: setCheck },
  { name: 'ignore-missing', takesValue: false, action: (o) => void (o.ignoreMissing = true) },
  {
    name: 'quiet',
    takesValue: false,
    action: (o) => {
      o.status = false;
      o.warn = false;
      o.quiet = true;
    },
  },
  {
    name: 'status',
    takesValue: false,
    action: (o) => {
      o.status = true;
      o.warn = false;
      o.quiet = false;
    },
  },
  { name: 'warn', takesValue: false, action: setWarn },
  { name: 'strict', takesValue: false, action: (o) => void (o.strict = true) },
  {
    name: 'tag',
    takesValue: false,
    action: (o) => {
      o.tag = true;
      o.binary = 1;
    },
  },
  { name: 'zero', takesValue: false, action: setZero },
  { name: 'binary', takesValue: false, action: setBinary },
  { name: 'text', takesValue: false, action: setText },
  { name: 'help', takesValue: false, action: () => 'help' },
  { name: 'version', takesValue: false, action: () => 'version' },
  { name: 'jobs', takesValue: true, action: (o, value) => void (o.jobs = parseJobs(value!)) },
  { name: 'progress', takesValue: false, action: (o) => void (o.progress = true) },
  { name: 'no-progress', takesValue: false, action: (o) => void (o.progress = false) },
];

const SHORT_OPTIONS = new Map<string, Action>([
  ['b', setBinary],
  ['c', setCheck],
  ['t', setText],
  ['w', setWarn],
  ['z', setZero],
]);

function parseJobs(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1024) throw new UsageError(`invalid number of jobs: '${value}' (an integer from 1 to 1024)`);
  return n;
}

/** The option `typed` (without "--" and "=value") names: an exact name, or the one option it is a prefix of. */
function findLong(typed: string, whole: string): LongOption {
  const exact = LONG_OPTIONS.find((o) => o.name === typed);
  if (exact !== undefined) return exact;
  const matches = LONG_OPTIONS.filter((o) => o.name.startsWith(typed));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UsageError(`unrecognized option '--${whole}'`);
  throw new UsageError(`option '--${whole}' is ambiguous; possibilities:${matches.map((o) => ` '--${o.name}'`).join('')}`);
}

/** Reads argv (the arguments after "sha256sum") into options, or throws a UsageError. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedCommandLine {
  const options: Sha256sumOptions = {
    check: false,
    binary: -1,
    tag: false,
    zero: false,
    ignoreMissing: false,
    quiet: false,
    status: false,
    strict: false,
    warn: false,
    jobs: undefined,
    progress: undefined,
    files: [],
  };
  const permute = env.POSIXLY_CORRECT === undefined;
  let optionsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (optionsEnded || arg === '-' || !arg.startsWith('-')) {
      options.files.push(arg);
      if (!permute) optionsEnded = true;
      continue;
    }
    if (arg === '--') {
      optionsEnded = true;
      continue;
    }
    let outcome: 'help' | 'version' | void = undefined;
    if (arg.startsWith('--')) {
      const whole = arg.slice(2);
      const equals = whole.indexOf('=');
      const option = findLong(equals < 0 ? whole : whole.slice(0, equals), whole);
      let value: string | undefined;
      if (equals >= 0) {
        if (!option.takesValue) throw new UsageError(`option '--${option.name}' doesn't allow an argument`);
        value = whole.slice(equals + 1);
      } else if (option.takesValue) {
        value = argv[++i];
        if (value === undefined) throw new UsageError(`option '--${option.name}' requires an argument`);
      }
      outcome = option.action(options, value);
    } else {
      for (const letter of arg.slice(1)) {
        const action = SHORT_OPTIONS.get(letter);
        if (action === undefined) throw new UsageError(`invalid option -- '${letter}'`);
        action(options, undefined);
      }
    }
    if (outcome === 'help') return { kind: 'help' };
    if (outcome === 'version') return { kind: 'version' };
  }
  checkCombination(options);
  if (options.files.length === 0) options.files.push('-');
  return { kind: 'run', options };
}

/** coreutils' checks after reading the options, in its order. */
function checkCombination(o: Sha256sumOptions): void {
  if (o.tag && o.binary === 0) throw new UsageError('--tag does not support --text mode');
  if (o.zero && o.check) throw new UsageError('the --zero option is not supported when verifying checksums');
  if (o.tag && o.check) throw new UsageError('the --tag option is meaningless when verifying checksums');
  if (o.binary >= 0 && o.check) throw new UsageError('the --binary and --text options are meaningless when verifying checksums');
  const checkOnly: [boolean, string][] = [
    [o.ignoreMissing, 'ignore-missing'],
    [o.status, 'status'],
    [o.warn, 'warn'],
    [o.quiet, 'quiet'],
    [o.strict, 'strict'],
  ];
  for (const [set, name] of checkOnly) {
    if (set && !o.check) throw new UsageError(`the --${name} option is meaningful only when verifying checksums`);
  }
}

export function helpText(program: string): string {
  return `Usage: ${program} [OPTION]... [FILE]...
Print or check SHA256 (256-bit) checksums, hashing files in parallel on spindle's pool.

With no FILE, or when FILE is -, read standard input.
  -b, --binary          read in binary mode
  -c, --check           read checksums from the FILEs and check them
      --tag             create a BSD-style checksum
  -t, --text            read in text mode (default)
  -z, --zero            end each output line with NUL, not newline,
                          and disable file name escaping

The following five options are useful only when verifying checksums:
      --ignore-missing  don't fail or report status for missing files
      --quiet           don't print OK for each successfully verified file
      --status          don't output anything, status code shows success
      --strict          exit non-zero for improperly formatted checksum lines
  -w, --warn            warn about improperly formatted checksum lines

spindle's own options:
      --jobs=N          hash at most N files at once (default: one per CPU)
      --progress        draw a progress bar on standard error
                          (the default when standard error is a terminal)
      --no-progress     never draw one
      --help            display this help and exit
      --version         output version information and exit

Output, messages and exit statuses are those of GNU coreutils sha256sum 9.1, but
for the program name in messages. SPINDLE_BACKEND=native|worker picks the backend.
`;
}
