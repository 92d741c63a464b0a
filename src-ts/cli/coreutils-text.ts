// Text conventions of GNU coreutils that `spindle sha256sum` reproduces byte for byte, on bytes
// (file names need not be UTF-8):
//   - quotef(): how error messages quote a file name (gnulib quotearg, shell-escape style with
//     ':' quoted too), as coreutils does in the process's locale (UTF-8 or C; see ctypeIsUtf8);
//   - strerror(): the C library's (glibc's) text for an errno code, which coreutils prints,
//     rather than libuv's, which Node's error messages carry;
//   - file-name escaping in checksum lines (a leading backslash, then \\ \n \r escaped).

import { existsSync } from 'node:fs';

// ---- quotef ------------------------------------------------------------------------------
// gnulib's quotearg_buffer_restyled() for shell_escape_quoting_style, with ':' in
// quote_these_too (quotef = quotearg_n_style_colon). In short:
//   - a name made only of "safe" characters is printed as is: abc.txt, dir/x-1, é;
//   - otherwise it is put in single quotes: 'a b', 'a:b', '#x', '' (empty);
//   - characters that single quotes cannot hold are spliced in as $'\n', $'\t', $'\001':
//     'nl'$'\n''x', and a byte that is not part of valid UTF-8 as its octal escape;
//   - a single quote closes and reopens the quotes ('it'\''s'), unless every character is one
//     that double quotes print as is, in which case the name goes in double quotes: "it's".

const SQ = 0x27; // '
const BS = 0x5c; // \

/** Control characters with a C escape letter, spliced in as $'\n'; other unprintable bytes as $'\ooo'. */
const C_ESCAPES = new Map<number, string>([
  [0x07, 'a'],
  [0x08, 'b'],
  [0x0c, 'f'],
  [0x0a, 'n'],
  [0x0d, 'r'],
  [0x09, 't'],
  [0x0b, 'v'],
]);

/** Shell metacharacters: any of them means the name needs quotes. */
const SHELL_SPECIAL = new Set([...' !"$&()*;<=>[^`|?'].map((c) => c.charCodeAt(0)));

/** Characters that never need quoting and are "c_and_shell_quote_compat" (see the double-quote rule). */
function isSafe(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || // 0-9
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    c === 0x25 || c === 0x2b || c === 0x2c || c === 0x2d || c === 0x2e || c === 0x2f || // % + , - . /
    c === 0x3a || c === 0x5d || c === 0x5f // : ] _
  );
}

/** One decoded character of the name: a code point and its bytes, or an invalid byte (cp = -1). */
interface Char {
  cp: number;
  start: number;
  end: number;
}

/**
 * Decodes strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF); an invalid or truncated
 * sequence yields its first byte alone, as mbrtoc32 does. Outside a UTF-8 locale (`utf8`
 * false: C/POSIX), every byte from 0x80 up is such a lone byte, as it is to coreutils there.
 */
function decodeUtf8(bytes: Uint8Array, utf8: boolean): Char[] {
  const chars: Char[] = [];
  if (!utf8) {
    for (let i = 0; i < bytes.length; i++) chars.push({ cp: bytes[i]! < 0x80 ? bytes[i]! : -1, start: i, end: i + 1 });
    return chars;
  }
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need = 0;
    let cp = -1;
    let min = 0;
    if (b < 0x80) {
      chars.push({ cp: b, start: i, end: i + 1 });
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) (need = 1), (cp = b & 0x1f), (min = 0x80);
    else if (b >= 0xe0 && b <= 0xef) (need = 2), (cp = b & 0x0f), (min = 0x800);
    else if (b >= 0xf0 && b <= 0xf4) (need = 3), (cp = b & 0x07), (min = 0x10000);
    let ok = need > 0 && i + need < bytes.length;
    for (let k = 1; ok && k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (c & 0x3f);
    }
    if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (ok) {
      chars.push({ cp, start: i, end: i + need + 1 });
      i += need + 1;
    } else {
      chars.push({ cp: -1, start: i, end: i + 1 });
      i++;
    }
  }
  return chars;
}

// glibc's UTF-8 locales (C.UTF-8 included) count every code point UnicodeData.txt lists as
// printable but controls and the line/paragraph separators; private-use characters (Co: icon
// fonts' U+E000-U+F8FF, planes 15 and 16) are listed, so coreutils prints them as is.
const NON_PRINTABLE = /[\p{Cc}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/u;

/**
 * Code points assigned in Unicode 15.0 to 17.0 (hex, single or first-last): coreutils 9.1 runs
 * on glibc 2.36, whose tables are Unicode 14.0, so to it they are unassigned and quoted, while
 * Node's regular expressions know them (Unicode 15.1 in Node 18, 17.0 in Node 20 to 24). Taken
 * by comparing every code point's quoting with coreutils' in C.UTF-8; a Node on a later Unicode
 * would need its additions here too.
 */
const ADDED_AFTER_UNICODE_14: readonly (readonly [number, number])[] = (
  '88f 897 c5c cdc cf3 ece 1acf-1add 1ae0-1aeb 1b4e-1b4f 1b7f 1c89-1c8a 20c1 2427-2429 2b96 ' +
  '2ffc-2fff 31e4-31e5 31ef a7cb-a7cf a7d2 a7d4 a7da-a7dc a7f1 fbc3-fbd2 fd90-fd91 fdc8-fdce ' +
  '105c0-105f3 10940-10959 10d40-10d65 10d69-10d85 10d8e-10d8f 10ec2-10ec7 10ed0-10ed8 ' +
  '10efa-10eff 1123f-11241 11380-11389 1138b 1138e 11390-113b5 113b7-113c0 113c2 113c5 ' +
  '113c7-113ca 113cc-113d5 113d7-113d8 113e1-113e2 116d0-116e3 11b00-11b09 11b60-11b67 ' +
  '11bc0-11be1 11bf0-11bf9 11db0-11ddb 11de0-11de9 11f00-11f10 11f12-11f3a 11f3e-11f5a 1342f ' +
  '13439-13455 13460-143fa 16100-16139 16d40-16d79 16ea0-16eb8 16ebb-16ed3 16ff2-16ff6 ' +
  '187f8-187ff 18cff 18d09-18d1e 18d80-18df2 1b132 1b155 1cc00-1ccfc 1cd00-1ceb3 1ceba-1ced0 ' +
  '1cee0-1cef0 1d2c0-1d2d3 1df25-1df2a 1e030-1e06d 1e08f 1e4d0-1e4f9 1e5d0-1e5fa 1e5ff ' +
  '1e6c0-1e6de 1e6e0-1e6f5 1e6fe-1e6ff 1f6d8 1f6dc 1f774-1f77f 1f7d9 1f8b2-1f8bb 1f8c0-1f8c1 ' +
  '1f8d0-1f8d8 1fa54-1fa57 1fa75-1fa77 1fa87-1fa8a 1fa8e-1fa8f 1faad-1faaf 1fabb-1fabf 1fac6 ' +
  '1fac8 1facd-1facf 1fada-1fadc 1fadf 1fae8-1faea 1faef 1faf7-1faf8 1fbcb-1fbef 1fbfa ' +
  '2b739-2b73f 2cea2-2cead 2ebf0-2ee5d 31350-33479'
)
  .split(' ')
  .map((range) => {
    const [first, last = first] = range.split('-').map((hex) => parseInt(hex, 16));
    return [first!, last!] as const;
  });

function addedAfterUnicode14(cp: number): boolean {
  let low = 0;
  let high = ADDED_AFTER_UNICODE_14.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const [first, last] = ADDED_AFTER_UNICODE_14[middle]!;
    if (cp < first) high = middle - 1;
    else if (cp > last) low = middle + 1;
    else return true;
  }
  return false;
}

/** c32isprint() in a UTF-8 locale of glibc 2.36, for code points beyond the ASCII cases handled explicitly. */
function isPrintable(cp: number): boolean {
  return cp >= 0 && !NON_PRINTABLE.test(String.fromCodePoint(cp)) && !addedAfterUnicode14(cp);
}

/** True when the name can be printed without quotes (gnulib's first, quote-eliding pass succeeds). */
function needsNoQuotes(bytes: Uint8Array, chars: Char[]): boolean {
  if (bytes.length === 0) return false;
  for (let n = 0; n < chars.length; n++) {
    const { cp, start } = chars[n]!;
    if (cp === 0x3a) return false; // ':' is in quote_these_too
    if (cp >= 0 && cp < 0x80) {
      if (isSafe(cp)) continue;
      if (cp === 0x7b || cp === 0x7d) { // { } are special only alone
        if (bytes.length === 1) return false;
        continue;
      }
      if (cp === 0x23 || cp === 0x7e) { // # ~ are special only first
        if (start === 0) return false;
        continue;
      }
      if (SHELL_SPECIAL.has(cp) || cp === SQ || cp === BS || C_ESCAPES.has(cp)) return false;
      if (!isPrintable(cp)) return false;
      continue; // other printable ASCII: @
    }
    if (!isPrintable(cp)) return false;
  }
  return true;
}

/** Every character prints as is inside double quotes (gnulib's all_c_and_shell_quote_compat). */
function doubleQuoteCompatible(chars: Char[]): boolean {
  for (const { cp, start } of chars) {
    if (cp === 0x20 || cp === SQ || (cp >= 0 && cp < 0x80 && isSafe(cp))) continue;
    if ((cp === 0x23 || cp === 0x7e) && start === 0) continue;
    if (cp >= 0x80 && isPrintable(cp)) continue;
    if (cp === 0x40) continue; // '@' and other printable ASCII reaching gnulib's default case
    return false;
  }
  return true;
}

/**
 * Whether the process's character type is UTF-8, looked up as setlocale(LC_CTYPE, "") does:
 * the first non-empty of LC_ALL, LC_CTYPE, LANG names the locale; none (cron, `env -i`) means
 * C. A UTF-8 locale counts only if glibc can load it: C.UTF-8 is built in, any other must be
 * installed under /usr/lib/locale (a locale-archive is taken to hold it), else glibc stays in C.
 */
export function ctypeIsUtf8(env: NodeJS.ProcessEnv = process.env): boolean {
  const name = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  const match = /^([^.@]*)\.(utf-?8)(@.*)?$/i.exec(name);
  if (!match) return false;
  const language = match[1]!;
  if (language === 'C') return true;
  return existsSync(`/usr/lib/locale/${language}.utf8`) || existsSync(`/usr/lib/locale/${name}`) || existsSync('/usr/lib/locale/locale-archive');
}

let processUtf8: boolean | undefined;

/** The name as coreutils' error messages quote it (quotef), in the process's locale unless `utf8` says. */
export function quotef(name: Uint8Array, utf8: boolean = (processUtf8 ??= ctypeIsUtf8())): Buffer {
  const chars = decodeUtf8(name, utf8);
  if (needsNoQuotes(name, chars)) return Buffer.from(name);
  if (chars.some((c) => c.cp === SQ) && doubleQuoteCompatible(chars)) {
    return Buffer.concat([Buffer.from('"'), name, Buffer.from('"')]);
  }
  // coreutils 9.1's gnulib, when a name has a single quote, first scans the whole name, then
  // writes it in a second run that starts in the splice state the scan ended in (a bug fixed in
  // later gnulib): a name ending in a $'' splice then opens with an extra '', as in
  // '''dir/it'\''s'$'\n'. Reproduced: messages must match 9.1's bytes.
  const scan = singleQuoted(name, chars, false);
  return name.includes(SQ) ? singleQuoted(name, chars, scan.endsInSplice).bytes : scan.bytes;
}

/**
 * The name in single quotes, with $'...' splices for what they cannot hold. `inSplice`: the
 * state to start in (see the 9.1 note above); false for a plain run.
 */
function singleQuoted(name: Uint8Array, chars: Char[], inSplice: boolean): { bytes: Buffer; endsInSplice: boolean } {
  const out: number[] = [SQ];
  let inDollar = inSplice; // inside a $'...' splice
  const escape = (text: string): void => {
    if (!inDollar) {
      out.push(SQ, 0x24, SQ); // close ', open $'
      inDollar = true;
    }
    out.push(BS, ...Buffer.from(text, 'latin1'));
  };
  const plain = (byte: number): void => {
    if (inDollar) {
      out.push(SQ, SQ); // close $', reopen '
      inDollar = false;
    }
    out.push(byte);
  };
  for (const { cp, start, end } of chars) {
    if (cp >= 0 && C_ESCAPES.has(cp)) escape(C_ESCAPES.get(cp)!);
    else if (cp === SQ) {
      out.push(SQ, BS, SQ, SQ); // closes the quote (or a $'' splice), an escaped ', reopens
      inDollar = false;
    } else if (cp < 0 || !isPrintable(cp)) {
      for (let k = start; k < end; k++) escape(name[k]!.toString(8).padStart(3, '0'));
    } else for (let k = start; k < end; k++) plain(name[k]!);
  }
  const endsInSplice = inDollar;
  out.push(SQ); // closes the quote, or the $'' splice, which then ends the name too
  return { bytes: Buffer.from(out), endsInSplice };
}

// ---- strerror ----------------------------------------------------------------------------

/** glibc's strerror() texts, by errno code: what coreutils prints after "name: ". */
const GLIBC_MESSAGES: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ENAMETOOLONG: 'File name too long',
  ENOSYS: 'Function not implemented',
  ELOOP: 'Too many levels of symbolic links',
  EOVERFLOW: 'Value too large for defined data type',
  ENOTSUP: 'Operation not supported',
  EOPNOTSUPP: 'Operation not supported',
  ETIMEDOUT: 'Connection timed out',
  ESTALE: 'Stale file handle',
  EDQUOT: 'Disk quota exceeded',
};

/**
 * What coreutils would print for this failure: glibc's text for a system error's code, else the
 * error's own message (libuv's text for codes missing above, capitalized as glibc's are).
 */
export function strerror(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && Object.hasOwn(GLIBC_MESSAGES, code)) return GLIBC_MESSAGES[code]!;
  const text = typeof message === 'string' ? message : String(error);
  // A Node system error reads "CODE: description, syscall 'path'": keep the description.
  const described = typeof code === 'string' ? /^[A-Z0-9]+: ([^,]*)/.exec(text)?.[1] : undefined;
  const result = described ?? text;
  return result.charAt(0).toUpperCase() + result.slice(1);
}

// ---- File-name escaping in checksum lines -------------------------------------------------

/** The bytes coreutils escapes in a name in checksum output: backslash, newline, carriage return. */
export function hasEscapableBytes(name: Uint8Array): boolean {
  return name.includes(BS) || name.includes(0x0a) || name.includes(0x0d);
}

/** print_filename(name, true): \ → \\, newline → \n, carriage return → \r. */
export function escapeName(name: Uint8Array): Buffer {
  const out: number[] = [];
  for (const b of name) {
    if (b === BS) out.push(BS, BS);
    else if (b === 0x0a) out.push(BS, 0x6e);
    else if (b === 0x0d) out.push(BS, 0x72);
    else out.push(b);
  }
  return Buffer.from(out);
}

/** filename_unescape(): the inverse of escapeName, or null for an invalid escape (\x, a trailing \, a NUL). */
export function unescapeName(text: Uint8Array): Buffer | null {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const b = text[i]!;
    if (b === 0) return null;
    if (b !== BS) {
      out.push(b);
      continue;
    }
    const next = text[++i];
    if (next === 0x6e) out.push(0x0a);
    else if (next === 0x72) out.push(0x0d);
    else if (next === BS) out.push(BS);
    else return null;
  }
  return Buffer.from(out);
}
