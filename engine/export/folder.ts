// The folder an export writes into: made when missing, and never a place where an existing file would be replaced.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeFsError, shown, writeFileAtomic } from '../io/files';
import { InputError } from '../common/errors';

export class ExportFolder {
  readonly written: string[] = [];

  private constructor(readonly dir: string) {}

  /**
   * Checks `dir` before any work: it is a folder (or can be made), and none of `names` exists in it yet, so an export
   * never overwrites a checkpoint or data file (say, a nanoGPT run's own ckpt.pt). Throws one-line InputErrors.
   */
  static prepare(dir: string, names: readonly string[]): ExportFolder {
    if (dir.trim() === '') throw new InputError('--out is empty: give a folder');
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new InputError(describeFsError(e, dir, 'use'));
    }
    if (st && !st.isDirectory()) throw new InputError(`${shown(dir)} exists and is not a folder; --out names the folder to export into`);
    if (!st) {
      try {
        fs.mkdirSync(dir, { recursive: true });
      } catch (e) {
        throw new InputError(describeFsError(e, dir, 'create'));
      }
    }
    const taken = names.filter((n) => fs.existsSync(path.join(dir, n)));
    if (taken.length) {
      throw new InputError(`${shown(path.join(dir, taken[0]))} already exists${taken.length > 1 ? ` (and ${taken.length - 1} more of the files export writes)` : ''}; ` +
        'export into an empty folder, or move them away');
    }
    return new ExportFolder(dir);
  }

  /** Writes one file atomically (a temporary file, then a rename). */
  write(name: string, data: Uint8Array | string): void {
    const file = path.join(this.dir, name);
    try {
      writeFileAtomic(file, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    } catch (e) {
      throw new InputError(describeFsError(e, file, 'write'));
    }
    this.written.push(file);
  }
}
