// Every file GPT Lab reads or writes goes through here: one bounded reader for text inputs, one for model files (a
// regular file only, read to its size), one destination check for outputs (used before training, again at save, and
// by "Save model as"), one atomic writer that cleans up after killed runs, and the names of the files beside a model.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { escapeControls } from './output';
import { InputError } from '../common/errors';
import { formatBytes } from '../common/format';

/** A file name as a message shows it: control characters escaped, so one message is always one line. */
export function shown(file: string): string {
  return escapeControls(file);
}

/** One line, in a user's terms, for a failed file operation. */
export function describeFsError(e: unknown, file: string, verb = 'read'): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const f = shown(file);
  switch (code) {
    case 'ENOENT': return `${f} does not exist`;
    case 'EISDIR': return `${f} is a folder, not a file`;
    case 'ENOTDIR': return `a part of ${f} is not a folder`;
    case 'EACCES': case 'EPERM': return `cannot ${verb} ${f}: permission denied`;
    case 'EROFS': return `cannot ${verb} ${f}: the file system is read-only`;
    case 'ENOSPC': return `cannot ${verb} ${f}: the disk is full`;
    case 'EDQUOT': return `cannot ${verb} ${f}: the disk quota is exhausted`;
    case 'ENAMETOOLONG': return `cannot ${verb} ${f}: the name is too long`;
    case 'ELOOP': return `cannot ${verb} ${f}: too many symbolic links`;
    case 'EIO': return `cannot ${verb} ${f}: input/output error`;
    case 'EMFILE': case 'ENFILE': return `cannot ${verb} ${f}: too many open files`;
    case 'ENXIO': case 'ENODEV': return `cannot ${verb} ${f}: no such device`;
    case 'EBUSY': case 'ETXTBSY': return `cannot ${verb} ${f}: it is busy`;
    default: return `cannot ${verb} ${f}: ${escapeControls(code ?? (e instanceof Error ? e.message : String(e)))}`;
  }
}

/**
 * Reads a whole file, at most `limit` bytes, whatever the file is: a regular file, a pipe, a character device or
 * /dev/stdin fed forever. The cap is applied while reading, not from `stat` (which says 0 for pipes and devices).
 */
export function readBounded(file: string, limit: number, what = 'the limit'): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new InputError(describeFsError(e, file));
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new InputError(`${shown(file)} is a folder, not a file`);
    if (st.isFile() && st.size > limit) throw new InputError(`${shown(file)} is ${formatBytes(st.size)}; ${what} is ${formatBytes(limit)}`);
    const chunks: Buffer[] = [];
    let total = 0;
    const chunkSize = st.isFile() ? Math.min(Math.max(st.size + 1, 65536), limit + 1) : 1 << 20;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(chunkSize, limit + 1 - total));
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') { // a non-blocking pipe with nothing yet: wait briefly
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
          continue;
        }
        throw new InputError(describeFsError(e, file));
      }
      if (n === 0) break;
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
      total += n;
      if (total > limit) throw new InputError(`${shown(file)} is larger than ${formatBytes(limit)}, ${what}`);
    }
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a model file: a regular file only, refused before it is opened otherwise (a named pipe would block the open,
 * a symlink to /dev/zero would never end), opened without blocking, checked again once open (the same file, still
 * regular), and read to exactly its size, at most `limit` bytes.
 */
export function readRegularFile(file: string, limit: number, what = 'the limit'): Buffer {
  let before: fs.Stats;
  try {
    before = fs.statSync(file);
  } catch (e) {
    throw new InputError(describeFsError(e, file));
  }
  if (before.isDirectory()) throw new InputError(`${shown(file)} is a folder, not a file`);
  if (!before.isFile()) throw new InputError(`${shown(file)} is not a regular file (a device, pipe or socket)`);
  if (before.size > limit) throw new InputError(`${shown(file)} is ${formatBytes(before.size)}; ${what} is ${formatBytes(limit)}`);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new InputError(describeFsError(e, file));
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) throw new InputError(`${shown(file)} changed while it was opened`);
    const size = Math.min(st.size, limit);
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, off, size - off, off);
      } catch (e) {
        throw new InputError(describeFsError(e, file));
      }
      if (n === 0) break; // it shrank while being read: what was read is checked like any damaged file
      off += n;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    fs.closeSync(fd);
  }
}

/** Longest file name most file systems take (NAME_MAX). */
const NAME_MAX = 255;

/** The temporary file an atomic write goes through; bounded in length so a long but valid name still works. */
function tempPrefix(file: string): string {
  const base = path.basename(file);
  let short = base;
  while (Buffer.byteLength(short) > 120) short = short.slice(0, -1);
  return `.${short}.gptlab-`;
}

/**
 * Checks that `file` can receive a model, before any work is spent on it: a name, a folder that exists and takes new
 * files, a target that is a regular file (never a folder, device, pipe or socket) and never one of `inputs` (compared
 * as real files: device and inode, so links and other paths to the same file are caught). Optionally checks free
 * space for `bytes`. Throws one-line InputErrors.
 */
export function checkDestination(file: string, inputs: string[] = [], bytes = 0): void {
  if (file.trim() === '') throw new InputError('the destination is empty: give a file name');
  const f = shown(file);
  if (file.endsWith('/') || file.endsWith(path.sep)) throw new InputError(`${f} names a folder; give a file name`);
  const base = path.basename(file);
  if (Buffer.byteLength(base) > NAME_MAX) throw new InputError(`${f}: the file name is longer than ${NAME_MAX} bytes`);
  let target: fs.Stats | null = null;
  try {
    target = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new InputError(describeFsError(e, file, 'write'));
    if (code !== 'ENOENT') throw new InputError(describeFsError(e, file, 'write'));
    // a dangling symlink: the rename would replace the link, which is fine
  }
  if (target) {
    if (target.isDirectory()) throw new InputError(`${f} is a folder; give a file name`);
    if (!target.isFile()) throw new InputError(`${f} exists and is not a regular file (a device, pipe or socket); choose another destination`);
    for (const input of inputs) {
      let st: fs.Stats;
      try {
        st = fs.statSync(input);
      } catch {
        continue;
      }
      if (st.dev === target.dev && st.ino === target.ino) {
        const what = input === file ? 'an input (the text it trains on, or a document open in the editor)' : shown(input);
        throw new InputError(`${f} is the same file as ${what}; the model would overwrite it: choose another destination`);
      }
    }
    try {
      fs.accessSync(file, fs.constants.W_OK); // read-only or immutable (chattr +i) files
    } catch {
      throw new InputError(`${f} exists and cannot be replaced (it is read-only or immutable); choose another destination`);
    }
  }
  const dir = path.dirname(path.resolve(file));
  let dst: fs.Stats;
  try {
    dst = fs.statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? `the folder ${shown(dir)} for ${f} does not exist` : describeFsError(e, dir, 'use'));
  }
  if (!dst.isDirectory()) throw new InputError(`${shown(dir)} is not a folder, so ${f} cannot be written there`);
  // The real test: create (and remove) the temporary file the save will use.
  const probe = path.join(dir, `${tempPrefix(file)}check-${process.pid}.tmp`);
  try {
    fs.writeFileSync(probe, '', { flag: 'wx' });
  } catch (e) {
    throw new InputError(`cannot write ${f}: ${describeFsError(e, dir, 'write in').replace(/^cannot write in [^:]*: /, '')}`);
  } finally {
    fs.rmSync(probe, { force: true });
  }
  if (bytes > 0) {
    try {
      const fsStat = fs.statfsSync(dir);
      const free = fsStat.bavail * fsStat.bsize;
      if (free < bytes) throw new InputError(`cannot write ${f}: the model needs ${formatBytes(bytes)} and the disk has ${formatBytes(free)} free`);
    } catch (e) {
      if (e instanceof InputError) throw e; // statfs itself failing is not a reason to refuse
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temporary files that killed runs left beside `file` (their process is gone). */
export function cleanStaleTemps(file: string): void {
  const dir = path.dirname(path.resolve(file));
  const prefix = tempPrefix(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(/^(?:check-)?(\d+)[.-]/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/**
 * Writes a file atomically: a temporary file beside it, flushed to disk, then a rename, so a crash never leaves half
 * a file. Temporary files of earlier killed runs to the same place are removed first.
 */
export function writeFileAtomic(file: string, data: Uint8Array): void {
  cleanStaleTemps(file);
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `${tempPrefix(file)}${process.pid}-${Date.now()}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      let off = 0;
      while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Where a model goes when its destination fails at the last moment: the temp folder, with a name that is free. */
export function fallbackPath(file: string): string {
  const base = path.basename(file).replace(/\.safetensors$/, '').slice(0, 80) || 'model';
  return path.join(os.tmpdir(), `gpt-lab-${base}-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.safetensors`);
}

/** Where a run keeps the best model so far while it trains: beside its destination, so a crash or a closed window loses little. */
export function partialPath(out: string): string {
  return out.replace(/(\.safetensors)?$/, '.partial.safetensors');
}

/** A free name beside `file` for a model that must not replace it: model.failed.safetensors, model.failed-2… */
export function besidePath(file: string, tag: string): string {
  const ext = path.extname(file);
  const stem = file.slice(0, file.length - ext.length);
  for (let i = 1; ; i++) {
    const candidate = `${stem}.${tag}${i === 1 ? '' : `-${i}`}${ext || '.safetensors'}`;
    if (!fs.existsSync(candidate)) return candidate;
  }
}
