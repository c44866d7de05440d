#!/usr/bin/env node
// Static checks of a macOS addon built on Linux (scripts/cross/build-darwin.sh), which cannot be run here. Reads the
// Mach-O file itself (no Apple tools) and refuses, one line per problem, an addon that:
//   - is not a 64-bit Mach-O dylib or bundle for the expected CPU (arm64 or x86_64), or targets a macOS newer than
//     the oldest one the VSIX supports;
//   - links any library but libSystem (libc++ must be static);
//   - leaves undefined any symbol but N-API's (napi_*, resolved from the host process: -undefined dynamic_lookup) and
//     libSystem's. A symbol that no library provides is also "dynamically looked up": __cpu_model, for one, which
//     __builtin_cpu_supports needs and zig's runtime lacks, would crash the addon when it loads on a Mac;
//   - (arm64) has no valid ad-hoc code signature: Apple Silicon kills a process that maps unsigned or wrongly signed
//     code. Every page hash of the CodeDirectory is recomputed.
//   node scripts/cross/check-darwin.js FILE arm64|x64     exit 0 when clean, 1 with the problems
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const CPU = { arm64: 0x0100000c, x64: 0x01000007 };
const MH_MAGIC_64 = 0xfeedfacf;
const MH_DYLIB = 6, MH_BUNDLE = 8;
const LC_SYMTAB = 0x2, LC_LOAD_DYLIB = 0xc, LC_ID_DYLIB = 0xd, LC_LOAD_WEAK_DYLIB = 0x80000018, LC_REEXPORT_DYLIB = 0x8000001f,
  LC_LAZY_LOAD_DYLIB = 0x20, LC_LOAD_UPWARD_DYLIB = 0x80000023, LC_CODE_SIGNATURE = 0x1d, LC_BUILD_VERSION = 0x32,
  LC_VERSION_MIN_MACOSX = 0x24;
const DYLIB_COMMANDS = new Set([LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LAZY_LOAD_DYLIB, LC_LOAD_UPWARD_DYLIB]);
const N_TYPE = 0x0e, N_UNDF = 0x0, N_EXT = 0x01, N_STAB = 0xe0;
const DYNAMIC_LOOKUP_ORDINAL = 0xfe;
const LIBSYSTEM = '/usr/lib/libSystem.B.dylib';
const ALLOWED_DYNAMIC = /^_napi_/;
/** The oldest macOS the addons support (build-darwin.sh's targets): 11, the oldest zig 0.11 has a libc for. */
const MIN_MACOS = '11.0';

function cstring(buf, at, end = buf.length) {
  let e = at;
  while (e < end && buf[e] !== 0) e++;
  return buf.toString('latin1', at, e);
}

/** "x.y.z" of a Mach-O packed version (xxxx.yy.zz). */
function version(v) {
  return `${v >>> 16}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

function parseVersion(s) {
  const [a = 0, b = 0, c = 0] = s.split('.').map(Number);
  return (a << 16) | (b << 8) | c;
}

/** The problems of a CodeDirectory-signed Mach-O, [] when every page hash matches. */
function checkSignature(buf, dataoff, datasize) {
  const sb = buf.subarray(dataoff, dataoff + datasize);
  if (sb.length < 12 || sb.readUInt32BE(0) !== 0xfade0cc0) return ['code signature: not an embedded signature SuperBlob'];
  const count = sb.readUInt32BE(8);
  for (let i = 0; i < count; i++) {
    const type = sb.readUInt32BE(12 + 8 * i), off = sb.readUInt32BE(16 + 8 * i);
    if (type !== 0) continue; // CSSLOT_CODEDIRECTORY
    const cd = sb.subarray(off);
    if (cd.readUInt32BE(0) !== 0xfade0c02) return ['code signature: no CodeDirectory'];
    const flags = cd.readUInt32BE(12), hashOffset = cd.readUInt32BE(16), nCodeSlots = cd.readUInt32BE(28);
    const codeLimit = cd.readUInt32BE(32), hashSize = cd[36], hashType = cd[37], pageSize = 2 ** cd[39];
    const algo = { 1: 'sha1', 2: 'sha256' }[hashType];
    if (!algo) return [`code signature: unknown hash type ${hashType}`];
    const problems = [];
    if (!(flags & 0x2)) problems.push('code signature: not ad-hoc (flags 0x' + flags.toString(16) + ')');
    if (codeLimit !== dataoff) problems.push(`code signature: covers ${codeLimit} bytes, the code ends at ${dataoff}`);
    if (nCodeSlots !== Math.ceil(codeLimit / pageSize)) problems.push(`code signature: ${nCodeSlots} page hashes for ${codeLimit} bytes`);
    for (let p = 0; p < nCodeSlots; p++) {
      const page = buf.subarray(p * pageSize, Math.min(codeLimit, (p + 1) * pageSize));
      const want = cd.subarray(hashOffset + p * hashSize, hashOffset + (p + 1) * hashSize);
      const got = crypto.createHash(algo).update(page).digest().subarray(0, hashSize);
      if (!got.equals(want)) {
        problems.push(`code signature: page ${p} does not match its hash (the file changed after signing)`);
        break;
      }
    }
    return problems;
  }
  return ['code signature: no CodeDirectory'];
}

/** The problems of one addon file, [] when it passes. */
function checkDarwinAddon(file, arch, minMacos = MIN_MACOS) {
  const buf = fs.readFileSync(file);
  if (buf.length < 32 || buf.readUInt32LE(0) !== MH_MAGIC_64) return [`not a 64-bit Mach-O file (a fat or 32-bit file, or not Mach-O)`];
  const problems = [];
  const cputype = buf.readUInt32LE(4), filetype = buf.readUInt32LE(12), ncmds = buf.readUInt32LE(16);
  if (cputype !== CPU[arch]) problems.push(`CPU type 0x${cputype.toString(16)}, expected ${arch} (0x${CPU[arch].toString(16)})`);
  if (filetype !== MH_DYLIB && filetype !== MH_BUNDLE) problems.push(`file type ${filetype}, expected a dylib (6) or bundle (8)`);
  const dylibs = [];
  let symtab = null, signature = null, minos = null;
  for (let i = 0, at = 32; i < ncmds; i++) {
    const cmd = buf.readUInt32LE(at), size = buf.readUInt32LE(at + 4);
    if (DYLIB_COMMANDS.has(cmd)) dylibs.push(cstring(buf, at + buf.readUInt32LE(at + 8), at + size));
    else if (cmd === LC_SYMTAB) symtab = { symoff: buf.readUInt32LE(at + 8), nsyms: buf.readUInt32LE(at + 12), stroff: buf.readUInt32LE(at + 16) };
    else if (cmd === LC_CODE_SIGNATURE) signature = { dataoff: buf.readUInt32LE(at + 8), datasize: buf.readUInt32LE(at + 12) };
    else if (cmd === LC_BUILD_VERSION) {
      if (buf.readUInt32LE(at + 8) !== 1) problems.push(`platform ${buf.readUInt32LE(at + 8)}, expected macOS (1)`);
      minos = buf.readUInt32LE(at + 12);
    } else if (cmd === LC_VERSION_MIN_MACOSX) minos = buf.readUInt32LE(at + 8);
    else if (cmd === LC_ID_DYLIB && !cstring(buf, at + buf.readUInt32LE(at + 8), at + size).startsWith('@rpath/')) {
      problems.push(`install name ${cstring(buf, at + buf.readUInt32LE(at + 8), at + size)}: a build machine's path, not @rpath/`);
    }
    at += size;
  }
  if (minos === null) problems.push('no minimum macOS version (LC_BUILD_VERSION)');
  else if (minos > parseVersion(minMacos)) problems.push(`needs macOS ${version(minos)}, newer than ${minMacos}`);
  for (const d of dylibs) if (d !== LIBSYSTEM) problems.push(`links ${d}; only ${LIBSYSTEM} is allowed`);
  if (!symtab) problems.push('no symbol table');
  else {
    for (let i = 0; i < symtab.nsyms; i++) {
      const at = symtab.symoff + 16 * i;
      const type = buf[at + 4], desc = buf.readUInt16LE(at + 6);
      if (type & N_STAB || (type & N_TYPE) !== N_UNDF || !(type & N_EXT)) continue;
      const name = cstring(buf, symtab.stroff + buf.readUInt32LE(at));
      const ordinal = (desc >> 8) & 0xff;
      if (ordinal === DYNAMIC_LOOKUP_ORDINAL) {
        if (!ALLOWED_DYNAMIC.test(name)) problems.push(`undefined symbol ${name}: no library provides it (only napi_* may come from the host)`);
      } else if (ordinal < 1 || ordinal > dylibs.length || dylibs[ordinal - 1] !== LIBSYSTEM) {
        problems.push(`undefined symbol ${name} from ${dylibs[ordinal - 1] ?? `library #${ordinal}`}, not libSystem`);
      }
    }
  }
  if (signature) problems.push(...checkSignature(buf, signature.dataoff, signature.datasize));
  else if (arch === 'arm64') problems.push('no code signature: Apple Silicon refuses unsigned code');
  return problems;
}

module.exports = { checkDarwinAddon, MIN_MACOS };

if (require.main === module) {
  const [file, arch] = process.argv.slice(2);
  if (!file || !CPU[arch]) {
    console.error('usage: node scripts/cross/check-darwin.js FILE arm64|x64');
    process.exit(2);
  }
  const problems = checkDarwinAddon(file, arch);
  for (const p of problems) console.error(`${file}: ${p}`);
  if (problems.length === 0) console.log(`${file}: Mach-O ${arch}, libSystem only, undefined symbols napi_* and libSystem's${arch === 'arm64' ? ', ad-hoc signature valid' : ''}`);
  process.exit(problems.length ? 1 : 0);
}
