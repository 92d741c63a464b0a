// Whether an ELF shared object is whole, checked before dlopen() maps it.
//
// dlopen() maps a library's loadable segments by the sizes its headers give. If the file is
// shorter (an interrupted copy, download or build), the mapping reaches past its end, and the
// first touch of those pages kills the process with SIGBUS: no error that the loader could
// turn into a fallback. Reading the headers first turns that into a reason. Only the headers
// are read (a few hundred bytes), never the whole file. Non-ELF files (Mach-O, PE) are not
// judged here: their own loaders report what is wrong.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const ELF_MAGIC = 0x7f454c46; // "\x7fELF", read big-endian
const PT_LOAD = 1;

/**
 * Opens `path` and hands its first 64 bytes (fewer if it is shorter), its size and the open fd
 * to `judge`, when it is an ELF file; undefined when it is not one, cannot be opened, or its
 * headers cannot be read (the loader then reports what is wrong). Closes the file either way.
 */
function withElfHeader(path: string, judge: (header: Buffer, size: number, fd: number) => string | undefined): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined; // the loader says why it cannot open it
  }
  try {
    const header = read(fd, 0, 64);
    if (header.length < 16 || header.readUInt32BE(0) !== ELF_MAGIC) return undefined;
    return judge(header, fstatSync(fd).size, fd);
  } catch {
    return undefined; // unreadable headers: the loader reports it
  } finally {
    closeSync(fd);
  }
}

/** Why the ELF file at `path` cannot be whole, or undefined when its headers fit (or it is no ELF file). */
export function truncatedElf(path: string): string | undefined {
  return withElfHeader(path, (header, size, fd) => {
    const wide = header[4] === 2; // EI_CLASS: 1 is 32-bit, 2 is 64-bit
    const little = header[5] !== 2; // EI_DATA: 1 is little-endian, 2 is big-endian
    const headerSize = wide ? 64 : 52;
    if (header.length < headerSize) return `it is ${size} bytes, shorter than its own ELF header`;
    const u16 = (b: Buffer, at: number) => (little ? b.readUInt16LE(at) : b.readUInt16BE(at));
    const u32 = (b: Buffer, at: number) => (little ? b.readUInt32LE(at) : b.readUInt32BE(at));
    const word = (b: Buffer, at: number) => (wide ? Number(little ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)) : u32(b, at));
    const phoff = word(header, wide ? 32 : 28);
    const shoff = word(header, wide ? 40 : 32);
    const phentsize = u16(header, wide ? 54 : 42);
    const phnum = u16(header, wide ? 56 : 44);
    const shentsize = u16(header, wide ? 58 : 46);
    const shnum = u16(header, wide ? 60 : 48);
    const short = (end: number) => `it is ${size} bytes, but its ELF headers describe at least ${end} (an interrupted copy or build?)`;
    if (phoff + phnum * phentsize > size) return short(phoff + phnum * phentsize);
    if (shoff + shnum * shentsize > size) return short(shoff + shnum * shentsize);
    const table = read(fd, phoff, phnum * phentsize);
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      if (u32(table, at) !== PT_LOAD) continue;
      const offset = word(table, at + (wide ? 8 : 4));
      const fileSize = word(table, at + (wide ? 32 : 16));
      if (offset + fileSize > size) return short(offset + fileSize);
    }
    return undefined;
  });
}

// e_machine values (the ELF header's machine field) of the architectures Node runs on, by
// process.arch.
const MACHINES: Record<string, number> = { x64: 62, ia32: 3, arm64: 183, arm: 40, ppc64: 21, s390x: 22, riscv64: 243, loong64: 258 };

/**
 * Why the ELF file at `path` cannot load into this process because it was built for another
 * machine (an addon compiled on x64 and copied to an arm64 server, or the reverse), or undefined
 * when it matches, is no ELF file, or names a machine not in the table. dlopen's own message
 * for this, "cannot open shared object file: No such file or directory", says the file is
 * missing when it is right there.
 */
export function foreignElf(path: string, arch: string = process.arch): string | undefined {
  const expected = MACHINES[arch];
  if (expected === undefined) return undefined;
  return withElfHeader(path, (header) => {
    if (header.length < 20) return undefined;
    const machine = header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
    if (machine === expected) return undefined;
    const name = Object.keys(MACHINES).find((key) => MACHINES[key] === machine);
    return `its ELF header says ${name ?? `machine ${machine}`}, and this Node is ${arch}`;
  });
}

function read(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const got = readSync(fd, buffer, 0, length, position);
  return buffer.subarray(0, got);
}
