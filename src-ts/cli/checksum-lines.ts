// The lines of sha256sum's formats, byte for byte as GNU coreutils 9.1 writes and reads them:
//   digest mode   "<hex>  <name>\n", "<hex> *<name>\n" (binary), "SHA256 (<name>) = <hex>\n" (--tag);
//                 a name with \, newline or CR is escaped and the line starts with '\';
//                 with -z lines end in NUL and nothing is escaped.
//   check mode    "<name>: OK\n", "<name>: FAILED\n", "<name>: FAILED open or read\n"; 9.1
//                 escapes a name (and prefixes '\') only when it contains a newline.
// and the parser of checksum files that --check reads (coreutils' split_3 and bsd_split_3).

import { escapeName, hasEscapableBytes, unescapeName } from './coreutils-text.js';

export interface DigestLineFormat {
  /** -b: mark the name with '*' instead of a space. */
  binary: boolean;
  /** --tag: BSD style. */
  tag: boolean;
  /** -z: end the line with NUL, escape nothing. */
  zero: boolean;
}

/** The output line for one file (output_file() in coreutils). */
export function digestLine(name: Buffer, hex: string, format: DigestLineFormat): Buffer {
  const escaped = !format.zero && hasEscapableBytes(name);
  const shown = escaped ? escapeName(name) : name;
  const parts: (string | Buffer)[] = [];
  if (escaped) parts.push('\\');
  if (format.tag) parts.push('SHA256 (', shown, ') = ', hex);
  else parts.push(hex, format.binary ? ' *' : '  ', shown);
  parts.push(format.zero ? '\0' : '\n');
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
}

export type CheckVerdict = 'OK' | 'FAILED' | 'FAILED open or read';

/** A --check result line. */
export function checkLine(name: Buffer, verdict: CheckVerdict): Buffer {
  const escaped = name.includes(0x0a);
  return Buffer.concat([escaped ? Buffer.from('\\') : Buffer.alloc(0), escaped ? escapeName(name) : name, Buffer.from(`: ${verdict}\n`, 'latin1')]);
}

// ---- Reading checksum files --------------------------------------------------------------

export type ParsedLine =
  /** A comment or an empty line: not counted. */
  | { kind: 'skip' }
  /** Not a checksum line: counted as improperly formatted. */
  | { kind: 'malformed' }
  /** A file to check: its expected digest (lowercase hex) and its name. */
  | { kind: 'entry'; hex: string; name: Buffer };

const HEX_DIGITS = 64;
/** The shortest possible "<hex> <name>" line: digest, one blank, a one-byte name. */
const MIN_LINE = HEX_DIGITS + 2;
const TAG = Buffer.from('SHA256');

const isWhite = (c: number): boolean => c === 0x20 || c === 0x09;
const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Bytes up to the first NUL: a C string, as coreutils treats the parts of a line. */
function cString(bytes: Buffer): Buffer {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

/** valid_digits(): the field is exactly 64 hex digits. */
function validHex(field: Buffer): string | undefined {
  if (field.length !== HEX_DIGITS || !field.every(isHex)) return undefined;
  return field.toString('latin1').toLowerCase();
}

/**
 * Parses checksum lines. One parser serves every checksum file of a run: like coreutils, once
 * a line in the "BSD reversed" format ("<hex> <name>", one blank) or the standard one has been
 * seen, the other is refused from then on, in later files too.
 */
export class ChecksumLineParser {
  /** -1 undecided, 0 standard seen, 1 reversed seen (coreutils' bsd_reversed). */
  private bsdReversed = -1;

  /**
   * One line of a checksum file, without its '\n'. `fromStdin`: the checksum file is standard
   * input, so a listed '-' (standard input again) is refused.
   */
  parse(raw: Buffer, fromStdin: boolean): ParsedLine {
    if (raw[0] === 0x23) return { kind: 'skip' }; // '#': a comment
    const line = raw[raw.length - 1] === 0x0d ? raw.subarray(0, raw.length - 1) : raw;
    if (line.length === 0) return { kind: 'skip' };
    const entry = this.split(line);
    if (entry === undefined) return { kind: 'malformed' };
    if (fromStdin && entry.name.length === 1 && entry.name[0] === 0x2d) return { kind: 'malformed' };
    return { kind: 'entry', ...entry };
  }

  /** split_3(): a standard, reversed or tagged line, or undefined. */
  private split(s: Buffer): { hex: string; name: Buffer } | undefined {
    const at = (i: number): number => (i < s.length ? s[i]! : 0);
    let i = 0;
    while (isWhite(at(i))) i++;
    let escaped = false;
    if (at(i) === 0x5c) {
      i++;
      escaped = true;
    }

    // "SHA256 (name) = hex", or OpenSSL's "SHA256(name)= hex".
    if (s.subarray(i, i + TAG.length).equals(TAG)) {
      i += TAG.length;
      if (at(i) === 0x20) i++;
      if (at(i) !== 0x28) return undefined; // '('
      return splitTagged(s.subarray(i + 1), escaped);
    }

    if (s.length - i < MIN_LINE + (at(i) === 0x5c ? 1 : 0)) return undefined;
    // Exactly 64 hex digits, then a blank: a NUL there is not one (coreutils looks at the byte
    // after the 64th, and its hex check then stops at the first NUL).
    const digestStart = i;
    i += HEX_DIGITS;
    if (!isWhite(at(i))) return undefined;
    const hex = validHex(cString(s.subarray(digestStart, i)));
    i++;
    if (hex === undefined) return undefined;

    if (s.length - i === 1 || (at(i) !== 0x20 && at(i) !== 0x2a)) {
      // "<hex> <name>": refused once the standard format was seen (a renamed file with a leading
      // blank must not slip through).
      if (this.bsdReversed === 0) return undefined;
      this.bsdReversed = 1;
    } else if (this.bsdReversed !== 1) {
      this.bsdReversed = 0;
      i++; // the ' ' or '*' mode marker
    }
    // Everything after the marker is the name, leading and trailing blanks included.
    const rest = s.subarray(i);
    const name = escaped ? unescapeName(rest) : cString(rest);
    return name === null ? undefined : { hex, name };
  }
}

/** bsd_split_3(): "name) = hex" after "SHA256 (". The name ends at the last ')'. */
function splitTagged(s: Buffer, escaped: boolean): { hex: string; name: Buffer } | undefined {
  if (s.length === 0) return undefined;
  const close = s.lastIndexOf(0x29);
  if (close < 0) return undefined;
  const name = escaped ? unescapeName(s.subarray(0, close)) : cString(s.subarray(0, close));
  if (name === null) return undefined;
  let i = close + 1;
  while (i < s.length && isWhite(s[i]!)) i++;
  if (s[i] !== 0x3d) return undefined; // '='
  i++;
  while (i < s.length && isWhite(s[i]!)) i++;
  // The digest is a C string: it ends at a NUL, as in coreutils.
  const hex = validHex(cString(s.subarray(i)));
  return hex === undefined ? undefined : { hex, name };
}
